"""Rule files (YAML) to a validated, compiled RuleSet — or every problem with file:line:col.

A rule file holds a list of segments under ``segments:`` and, optionally, the shop's product
categories under ``categories:``; see rules/segments/*.yaml for examples and rules/schema.json for
the JSON Schema editors use. Loading never half-succeeds: either every file is valid and a new
RuleSet comes back, or RuleFileError lists each problem and the caller keeps the rules it already
runs. Whatever the input — bytes from disk, a hand-made rules message — nothing but RuleFileError
is raised.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from models.names import CLUSTER_PREFIX
from rules.expression import ExpressionError, compile_condition
from rules.files import MAX_BYTES, read_readable
from rules.graph import MAX_DEPTH, dependency_order, find_cycle, too_deep
from rules.problems import Problem, RuleFileError
from rules.ruleset import DEFAULT_CATEGORIES, Rule, RuleSet
from streams.profile import FEATURES

__all__ = [
    "Problem",
    "RuleFileError",
    "load_rule_dir",
    "load_rule_texts",
    "load_rules",
    "rule_files",
]

FEATURE_KINDS = {feature.name: feature.type for feature in FEATURES}
SEGMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CLUSTER_SEGMENT = re.compile(rf"^{CLUSTER_PREFIX}[a-z0-9_]{{1,56}}$")  # machine-learned (models/)
REQUIRED = ("id", "name", "description", "condition")
OPTIONAL = ("priority", "exclusive_group", "holdout", "tags", "owner")
TOP_LEVEL = ("segments", "categories")
PERCENT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")
MAX_HOLDOUT_PERCENT = 50


@dataclass(slots=True)
class _Draft:
    path: str
    node: yaml.MappingNode
    values: dict[str, Any]
    positions: dict[str, yaml.Node] = field(default_factory=dict)


@dataclass(slots=True)
class _Files:
    """What the files hold so far, and every problem found in them."""

    texts: Mapping[str, str]
    problems: list[Problem] = field(default_factory=list)
    drafts: list[_Draft] = field(default_factory=list)
    categories: list[str] | None = None  # declared by the files; None: none declares any

    def add(self, path: str, node: yaml.Node, message: str) -> None:
        self.problems.append(_node_problem(path, self.texts[path], node, message))


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Read, parse, validate and compile every rule file; raise RuleFileError with all problems.

    A file that cannot be read as UTF-8 text (a folder, a broken link, a named pipe, Latin-1 or
    UTF-16 bytes, more than 1 MiB) is a problem like any other; the rest are still checked.
    """
    texts, unreadable = read_readable(paths)
    return _load_guarded(texts, unreadable)


def load_rule_texts(texts: Mapping[str, str]) -> RuleSet:
    """Like :func:`load_rules` for file names and texts held in memory (e.g. read from Kafka).

    The version is a digest of the texts alone, so the same rules read from a directory or from
    the rules topic have the same version on every worker.
    """
    return _load_guarded(texts, [])


def rules_version(texts: Mapping[str, str]) -> str:
    # surrogatepass: a rules message may carry a lone surrogate ("\ud800" in its JSON); it is
    # refused, and the refusal still needs the version it refuses.
    joined = "\0".join(texts[name] for name in sorted(texts))
    digest = hashlib.sha256(joined.encode("utf-8", "surrogatepass"))
    return f"rules-{digest.hexdigest()[:12]}"


def load_rule_dir(directory: Path) -> RuleSet:
    """The rule files of ``directory``; RuleFileError when there are none or they are invalid."""
    if not directory.is_dir():
        raise RuleFileError([Problem(str(directory), 1, 1, "not a folder of rule files")])
    files = rule_files(directory)
    if not files:
        raise RuleFileError([Problem(str(directory), 1, 1, "no *.yaml rule files here")])
    return load_rules(files)


def rule_files(directory: Path) -> list[Path]:
    """Every *.yaml and *.yml entry, whatever it is: one that is not a readable file is a
    problem when it is loaded, rather than a file silently left out."""
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _load_guarded(texts: Mapping[str, str], unreadable: list[Problem]) -> RuleSet:
    try:
        return _load(texts, unreadable)
    except RuleFileError:
        raise
    except Exception as exc:  # a loader bug must refuse the rules, never crash their reader
        where = min(texts, default="rules")
        summary = f"{exc.__class__.__name__}: {str(exc)[:200]}"
        message = f"internal error while checking the rules (please report it): {summary}"
        raise RuleFileError([*unreadable, Problem(where, 1, 1, message)]) from exc


def _load(texts: Mapping[str, str], unreadable: list[Problem]) -> RuleSet:
    files = _Files(texts, problems=list(unreadable))
    for name in sorted(texts):
        _parse(name, texts[name], files)
    categories = tuple(sorted(set(files.categories))) if files.categories else DEFAULT_CATEGORIES
    rules = _compile(files, categories)
    _check_graph(rules, files)
    if files.problems:
        raise RuleFileError(files.problems)
    by_id = {rule.id: rule for rule in rules}
    graph = {rule.id: rule.condition.segments & by_id.keys() for rule in rules}
    roots = [rule.id for rule in sorted(rules, key=lambda r: (-r.priority, r.id))]
    ordered = [by_id[segment_id] for segment_id in dependency_order(roots, graph)]
    return RuleSet(version=rules_version(texts), rules=tuple(ordered), categories=categories)


def _parse(path: str, text: str, files: _Files) -> None:
    if len(text) > MAX_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        files.problems.append(_at(path, text, 1, 1, "rule files may hold at most 1 MiB"))
        return
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        files.problems.append(_at(path, text, line, column, f"YAML: {exc.problem}"))
        return
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a NUL
        line, column = _line_column(text, exc.position)
        message = f"YAML: {exc.reason}: {chr(exc.character)!r}"
        files.problems.append(_at(path, text, line, column, message))
        return
    except RecursionError:  # PyYAML composes nested collections recursively
        files.problems.append(_at(path, text, 1, 1, "YAML: collections nested too deeply"))
        return
    for item in _top_level(path, text, root, files):
        if not isinstance(item, yaml.MappingNode):
            files.add(path, item, "each segment must be a mapping")
            continue
        _parse_segment(_Draft(path, item, {}), files)


def _top_level(path: str, text: str, root: yaml.Node | None, files: _Files) -> list[yaml.Node]:
    """The segment nodes; declared categories go to ``files``."""
    segments: list[yaml.Node] | None = None
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value if isinstance(root, yaml.MappingNode) else ():
        key = _key(path, key_node, TOP_LEVEL, seen, files)
        if key == "segments":
            if isinstance(value_node, yaml.SequenceNode):
                segments = list(value_node.value)
            else:
                files.add(path, value_node, "segments must be a list of segments")
                segments = []
        elif key == "categories":
            _read_categories(path, value_node, files)
    if segments is None:
        files.problems.append(
            _at(path, text, 1, 1, "a rule file needs a top-level 'segments:' list")
        )
    return segments or []


def _key(
    path: str, node: yaml.Node, allowed: tuple[str, ...], seen: dict[str, yaml.Node], files: _Files
) -> str | None:
    """The key ``node`` names if it is allowed and not repeated; else None and a problem."""
    if not isinstance(node, yaml.ScalarNode):  # never repr() it: it may be an alias bomb
        files.add(path, node, f"a key must be a plain word ({', '.join(allowed)})")
        return None
    key = str(node.value)
    if key not in allowed:
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        files.add(path, node, f"unknown key {key[:80]!r} ({hint}allowed: {', '.join(allowed)})")
        return None
    if key in seen:
        first = seen[key].start_mark.line + 1
        files.add(path, node, f"{key!r} appears twice (first on line {first}); keep one")
        return None
    seen[key] = node
    return key


def _parse_segment(draft: _Draft, files: _Files) -> None:
    text, broken = files.texts[draft.path], False
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in draft.node.value:
        key = _key(draft.path, key_node, REQUIRED + OPTIONAL, seen, files)
        if key is None:
            broken = broken or key_node.value in REQUIRED  # a repeated condition: which one?
            continue
        draft.positions[key] = value_node
        problem = _read_value(draft, key, value_node)
        if problem:
            files.add(draft.path, value_node, problem)
            broken = True
    missing = [key for key in REQUIRED if key not in draft.positions]
    if missing:
        files.problems.append(
            _node_problem(draft.path, text, draft.node, f"missing {', '.join(missing)}")
        )
    elif not broken:
        files.drafts.append(draft)


def _read_categories(path: str, node: yaml.Node, files: _Files) -> None:
    items = node.value if isinstance(node, yaml.SequenceNode) else None
    if items is None or not items:
        files.add(path, node, "categories must be a list of category names, e.g. [shoes, bags]")
        return
    declared = files.categories if files.categories is not None else []
    for item in items:
        # Lower case, trimmed: as profiles keep the categories events name (a Label, 1-64).
        name = str(item.value).strip().lower() if isinstance(item, yaml.ScalarNode) else ""
        if not 0 < len(name) <= 64 or not name.isprintable():
            files.add(path, item, "a category is a name of at most 64 characters, e.g. shoes")
            continue
        declared.append(name)
    files.categories = declared


# What each key's value must be, as rules/schema.json says; checked before any value is used, so
# a wrong type is a problem at its position rather than an exception (or, for text built from a
# YAML alias bomb, a hang) later. An optional key set to null counts as absent.
def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_share(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


VALUE_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "id": (_is_text, "text"),
    "name": (_is_text, "text"),
    "description": (_is_text, "text"),
    "condition": (_is_text, "text"),
    "priority": (_is_whole_number, "a whole number"),
    "exclusive_group": (_is_text, "text"),
    "holdout": (_is_share, "a share such as 10%"),
    "tags": (_is_text_list, "a list of text"),
    "owner": (_is_text, "text"),
}


def _read_value(draft: _Draft, key: str, node: yaml.Node) -> str | None:
    """Store ``key``'s value in ``draft``; or, when it is unreadable or of the wrong type, why."""
    constructor = yaml.SafeLoader("")
    try:
        value = constructor.construct_document(node)
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        # e.g. an unknown tag, or a date that does not exist (2020-13-45)
        reason = (str(exc).splitlines() or ["not valid YAML"])[0]
        return f"{key}: unreadable value ({reason})"
    finally:
        constructor.dispose()
    if value is None and key in OPTIONAL:
        return None
    accepts, expected = VALUE_TYPES[key]
    if not accepts(value):
        quoted = expected == "text" and isinstance(value, date | bool | int | float)
        hint = " (put it in quotes)" if quoted else ""
        return f"{key} must be {expected}, not {_kind_of(value)}{hint}"
    draft.values[key] = value
    return None


def _kind_of(value: Any) -> str:
    """A YAML value's kind as a marketer would name it (not Python's NoneType, str, dict)."""
    kinds: list[tuple[type | tuple[type, ...], str]] = [
        (type(None), "empty"),
        (bool, "true/false"),
        (int, "a whole number"),
        (float, "a number"),
        (str, "text"),
        (datetime, "a date and time"),
        (date, "a date"),
        (list, "a list"),
        (dict, "a mapping"),
        (bytes, "binary data"),
        (set, "a set"),
    ]
    return next((name for kind, name in kinds if isinstance(value, kind)), "a YAML value")


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at ``index``."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _compile(files: _Files, categories: tuple[str, ...]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, _Draft] = {}
    for draft in files.drafts:
        values, id_node = draft.values, draft.positions["id"]
        segment_id = str(values["id"])
        if not SEGMENT_ID.match(segment_id):
            message = (
                f"segment id {segment_id[:80]!r} must be lower_snake_case, at most 64 characters"
            )
            files.add(draft.path, id_node, message)
            continue
        if segment_id.startswith(CLUSTER_PREFIX):
            message = f"segment ids starting with {CLUSTER_PREFIX!r} are reserved for clusters"
            files.add(draft.path, id_node, message)
            continue
        if segment_id in seen:
            first = seen[segment_id]
            where = f"{first.path}:{first.positions['id'].start_mark.line + 1}"
            files.add(
                draft.path,
                id_node,
                f"duplicate segment id {segment_id!r} (first defined at {where})",
            )
            continue
        seen[segment_id] = draft
        holdout = _holdout(draft, files)
        try:
            compiled = compile_condition(str(values["condition"]), FEATURE_KINDS, categories)
        except ExpressionError as exc:
            text, condition_node = files.texts[draft.path], draft.positions["condition"]
            files.problems.append(_expression_problem(draft.path, text, condition_node, exc))
            continue
        rules.append(
            Rule(
                id=segment_id,
                name=str(values["name"]),
                description=str(values["description"]),
                condition=compiled,
                holdout=holdout,
                priority=int(values.get("priority", 0)),
                exclusive_group=values.get("exclusive_group"),
                tags=tuple(values.get("tags") or ()),
                owner=values.get("owner"),
                location=f"{draft.path}:{draft.node.start_mark.line + 1}",
            )
        )
    return rules


def _holdout(draft: _Draft, files: _Files) -> float:
    """The share kept in control. Every number is a percentage: 10 and "10%" both mean 10%."""
    raw = draft.values.get("holdout", 0)
    percent, problem = _percent(raw)
    if problem:
        files.add(draft.path, draft.positions["holdout"], problem)
        return 0.0
    return percent / 100


def _percent(raw: str | float) -> tuple[float, str | None]:
    example = "e.g. holdout: 10%"
    if isinstance(raw, str):
        match = PERCENT.match(raw)
        if not match:
            return 0.0, f"holdout {raw[:40]!r} must be a percentage between 0% and 50%, {example}"
        percent = float(match.group(1))
    else:
        percent = float(raw)
        if 0 < percent < 1:  # a fraction meant as a share, or really under 1%? Make them say.
            return 0.0, (
                f"holdout {raw!r} is ambiguous: numbers are percentages, so it would mean"
                f" {percent:g}%; write {percent * 100:g}% for that share, or {percent:g}% if you"
                " mean it"
            )
    if not 0 <= percent <= MAX_HOLDOUT_PERCENT:
        return 0.0, f"holdout {raw!r} must be between 0% and 50%, {example}"
    return percent, None


def _check_graph(rules: list[Rule], files: _Files) -> None:
    drafts_by_id: dict[str, _Draft] = {}
    for draft in files.drafts:  # the first of duplicates is the one compiled
        drafts_by_id.setdefault(str(draft.values["id"]), draft)
    known = set(drafts_by_id)  # a segment whose own condition failed is still a segment

    def refuse(segment_id: str, message: str) -> None:
        draft = drafts_by_id[segment_id]
        files.add(draft.path, draft.positions["condition"], message)

    for rule in rules:
        # Clusters come from the trainer's model, not from rule files: any cluster_ name is fine.
        for reference in sorted(rule.condition.segments - known - _cluster_references(rule)):
            refuse(rule.id, f"in_segment({reference!r}) names no segment")
    graph = {rule.id: rule.condition.segments & known for rule in rules}
    cycle = find_cycle(graph)
    if cycle:
        shown = cycle if len(cycle) <= 8 else [*cycle[:3], "...", *cycle[-2:]]
        size = f" of {len(cycle)} segments" if len(cycle) > 8 else ""
        refuse(
            cycle[0],
            f"segments refer to each other in a cycle{size}: " + " -> ".join([*shown, cycle[0]]),
        )
    for chain in too_deep(graph):
        refuse(
            chain[0],
            f"in_segment() chain {len(chain) - 1} deep"
            f" ({' -> '.join([*chain[:3], '...', chain[-1]])}); segments may build on each"
            f" other at most {MAX_DEPTH} deep",
        )


def _cluster_references(rule: Rule) -> set[str]:
    return {ref for ref in rule.condition.segments if CLUSTER_SEGMENT.match(ref)}


def _expression_problem(path: str, text: str, node: yaml.Node, error: ExpressionError) -> Problem:
    """Map a position inside the condition back to the file."""
    mark = node.start_mark
    style = getattr(node, "style", None)
    if style in {"|", ">"}:
        line, column = _block_position(text, mark.line + 1, str(node.value), error)
    else:
        quote = 1 if style in {"'", '"'} else 0
        line = mark.line + error.line
        column = (mark.column + quote if error.line == 1 else 0) + error.column
    return _at(path, text, line, column, error.message)


def _block_position(
    text: str, first_line: int, value: str, error: ExpressionError
) -> tuple[int, int]:
    """Block scalars (| and >) keep each line's words and turn every line break into one
    character, so an offset into the value walks the indented source lines one for one."""
    value_lines = value.strip().splitlines()
    offset = sum(len(line) + 1 for line in value_lines[: error.line - 1]) + error.column - 1
    source_lines = _lines(text)[first_line:]
    indent = len(source_lines[0]) - len(source_lines[0].lstrip()) if source_lines else 0
    for number, source_line in enumerate(source_lines):
        content = source_line[indent:]
        if offset <= len(content):
            return first_line + number + 1, indent + offset + 1
        offset -= len(content) + 1
    return first_line + 1, indent + 1


def _at(path: str, text: str, line: int, column: int, message: str) -> Problem:
    lines = _lines(text)
    if lines and line > len(lines):  # the end of the file: point just past its last character
        line, column = len(lines), len(lines[-1]) + 1
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return Problem(path, line, column, message, source)


@functools.lru_cache(maxsize=4)
def _lines(text: str) -> tuple[str, ...]:
    """The lines of a file, split once however many problems it has (a 1 MiB file of 10,000
    segments may have 10,000; splitting it for each took minutes)."""
    return tuple(text.splitlines())


def _node_problem(path: str, text: str, node: yaml.Node, message: str) -> Problem:
    mark = node.start_mark
    return _at(path, text, mark.line + 1, mark.column + 1, message)
