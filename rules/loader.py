"""Rule files (YAML) to a validated, compiled RuleSet — or every problem with file:line:col.

A rule file holds a list of segments under ``segments:``; see rules/segments/*.yaml for examples and
rules/schema.json for the JSON Schema editors use. Loading never half-succeeds: either every file is
valid and a new RuleSet comes back, or RuleFileError lists each problem and the caller keeps the
rules it already runs.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from models.names import CLUSTER_PREFIX
from rules.expression import ExpressionError, compile_condition
from rules.ruleset import Rule, RuleSet
from streams.profile import FEATURES

FEATURE_KINDS = {feature.name: feature.type for feature in FEATURES}
SEGMENT_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
CLUSTER_SEGMENT = re.compile(rf"^{CLUSTER_PREFIX}[a-z0-9_]{{1,56}}$")  # machine-learned (models/)
REQUIRED = ("id", "name", "description", "condition")
OPTIONAL = ("priority", "exclusive_group", "holdout", "tags", "owner")


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    line: int
    column: int
    message: str
    source_line: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}:{self.column}: {self.message}"
        if self.source_line or self.column > 1:
            caret = " " * (self.column - 1) + "^"
            text += f"\n    {self.source_line}\n    {caret}"
        return text


class RuleFileError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(slots=True)
class _Draft:
    path: str
    node: yaml.MappingNode
    values: dict[str, Any]
    positions: dict[str, yaml.Node] = field(default_factory=dict)


def load_rules(paths: Iterable[Path]) -> RuleSet:
    """Parse, validate and compile every rule file; raise RuleFileError with all problems."""
    return load_rule_texts({str(path): path.read_text() for path in paths})


def load_rule_texts(texts: Mapping[str, str]) -> RuleSet:
    """Like :func:`load_rules` for file names and texts held in memory (e.g. read from Kafka).

    The version is a digest of the texts alone, so the same rules read from a directory or from
    the rules topic have the same version on every worker.
    """
    problems: list[Problem] = []
    drafts: list[_Draft] = []
    for name in sorted(texts):
        drafts += _parse(name, texts[name], problems)
    rules = _compile(drafts, texts, problems)
    _check_graph(rules, drafts, texts, problems)
    if problems:
        raise RuleFileError(problems)
    ordered = _dependency_order(rules)
    return RuleSet(version=rules_version(texts), rules=tuple(ordered))


def rules_version(texts: Mapping[str, str]) -> str:
    digest = hashlib.sha256("\0".join(texts[name] for name in sorted(texts)).encode())
    return f"rules-{digest.hexdigest()[:12]}"


def load_rule_dir(directory: Path) -> RuleSet:
    """The rule files of ``directory``; RuleFileError when there are none or they are invalid."""
    files = rule_files(directory)
    if not files:
        raise RuleFileError([Problem(str(directory), 1, 1, "no *.yaml rule files here")])
    return load_rules(files)


def rule_files(directory: Path) -> list[Path]:
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def _parse(path: str, text: str, problems: list[Problem]) -> list[_Draft]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(_at(path, text, line, column, f"YAML: {exc.problem}"))
        return []
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, e.g. a NUL
        line, column = _line_column(text, exc.position)
        message = f"YAML: {exc.reason}: {chr(exc.character)!r}"
        problems.append(_at(path, text, line, column, message))
        return []
    except RecursionError:  # PyYAML composes nested collections recursively
        problems.append(_at(path, text, 1, 1, "YAML: collections nested too deeply"))
        return []
    segments = _segments_node(path, text, root, problems)
    drafts = []
    for item in segments:
        if not isinstance(item, yaml.MappingNode):
            problems.append(_node_problem(path, text, item, "each segment must be a mapping"))
            continue
        draft, broken = _Draft(path, item, {}), False
        for key_node, value_node in item.value:
            key = key_node.value
            if key not in REQUIRED + OPTIONAL:
                allowed = ", ".join(REQUIRED + OPTIONAL)
                problems.append(
                    _node_problem(path, text, key_node, f"unknown key {key!r} ({allowed})")
                )
                continue
            draft.positions[key] = value_node
            problem = _read_value(draft, key, value_node)
            if problem:
                problems.append(_node_problem(path, text, value_node, problem))
                broken = True
        missing = [key for key in REQUIRED if key not in draft.positions]
        if missing:
            problems.append(_node_problem(path, text, item, f"missing {', '.join(missing)}"))
        elif not broken:
            drafts.append(draft)
    return drafts


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
        return f"{key}: unreadable value ({exc.__class__.__name__}: {str(exc).splitlines()[0]})"
    finally:
        constructor.dispose()
    if value is None and key in OPTIONAL:
        return None
    accepts, expected = VALUE_TYPES[key]
    if not accepts(value):
        quoted = expected == "text" and isinstance(value, date | bool | int | float)
        hint = " (put it in quotes)" if quoted else ""
        return f"{key} must be {expected}, not {type(value).__name__}{hint}"
    draft.values[key] = value
    return None


def _line_column(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of the character at ``index``."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _segments_node(
    path: str, text: str, root: yaml.Node | None, problems: list[Problem]
) -> list[yaml.Node]:
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if key_node.value == "segments" and isinstance(value_node, yaml.SequenceNode):
                return list(value_node.value)
    problems.append(_at(path, text, 1, 1, "a rule file needs a top-level 'segments:' list"))
    return []


def _compile(drafts: list[_Draft], texts: Mapping[str, str], problems: list[Problem]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, _Draft] = {}
    for draft in drafts:
        text, values = texts[draft.path], draft.values
        segment_id = str(values["id"])
        if not SEGMENT_ID.match(segment_id):
            message = f"segment id {segment_id!r} must be lower_snake_case, at most 64 characters"
            problems.append(_node_problem(draft.path, text, draft.positions["id"], message))
            continue
        if segment_id.startswith(CLUSTER_PREFIX):
            message = f"segment ids starting with {CLUSTER_PREFIX!r} are reserved for clusters"
            problems.append(_node_problem(draft.path, text, draft.positions["id"], message))
            continue
        if segment_id in seen:
            first = seen[segment_id]
            where = f"{first.path}:{first.positions['id'].start_mark.line + 1}"
            message = f"duplicate segment id {segment_id!r} (first defined at {where})"
            problems.append(_node_problem(draft.path, text, draft.positions["id"], message))
            continue
        seen[segment_id] = draft
        holdout = _holdout(draft, text, problems)
        condition_node = draft.positions["condition"]
        try:
            compiled = compile_condition(str(values["condition"]), FEATURE_KINDS)
        except ExpressionError as exc:
            problems.append(_expression_problem(draft.path, text, condition_node, exc))
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


def _holdout(draft: _Draft, text: str, problems: list[Problem]) -> float:
    raw = draft.values.get("holdout", 0)
    share = raw.rstrip("%") if isinstance(raw, str) else raw
    try:
        value = float(share) / (100 if isinstance(raw, str) else 1)
    except ValueError:
        value = -1.0
    if isinstance(raw, int | float) and raw > 1:
        value = float(raw) / 100  # "holdout: 10" means 10%
    if not 0 <= value <= 0.5:
        problems.append(
            _node_problem(draft.path, text, draft.positions["holdout"],
                          f"holdout {raw!r} must be between 0% and 50%, e.g. 10%")
        )  # fmt: skip
        return 0.0
    return value


def _check_graph(
    rules: list[Rule], drafts: list[_Draft], texts: Mapping[str, str], problems: list[Problem]
) -> None:
    drafts_by_id = {str(d.values["id"]): d for d in drafts}
    known = set(drafts_by_id)  # a segment whose own condition failed is still a segment
    for rule in rules:
        # Clusters come from the trainer's model, not from rule files: any cluster_ name is fine.
        for reference in sorted(rule.condition.segments - known - _cluster_references(rule)):
            draft = drafts_by_id[rule.id]
            problems.append(
                _node_problem(draft.path, texts[draft.path], draft.positions["condition"],
                              f"in_segment({reference!r}) names no segment")
            )  # fmt: skip
    cycle = _find_cycle({rule.id: rule.condition.segments & known for rule in rules})
    if cycle:
        draft = drafts_by_id[cycle[0]]
        message = "segments refer to each other in a cycle: " + " -> ".join([*cycle, cycle[0]])
        problems.append(
            _node_problem(draft.path, texts[draft.path], draft.positions["condition"], message)
        )


def _cluster_references(rule: Rule) -> set[str]:
    return {ref for ref in rule.condition.segments if CLUSTER_SEGMENT.match(ref)}


def _find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            if state.get(successor) == 1:
                return path[path.index(successor) :]
            if successor not in state:
                found = visit(successor)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def _dependency_order(rules: list[Rule]) -> list[Rule]:
    """Segments another segment refers to are evaluated first (the graph has no cycles here)."""
    by_id = {rule.id: rule for rule in rules}
    ordered: list[Rule] = []
    placed: set[str] = set()

    def place(rule: Rule) -> None:
        if rule.id in placed:
            return
        for dependency in sorted(rule.condition.segments & by_id.keys()):
            place(by_id[dependency])
        placed.add(rule.id)
        ordered.append(rule)

    for rule in sorted(rules, key=lambda r: (-r.priority, r.id)):
        place(rule)
    return ordered


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
    source_lines = text.splitlines()[first_line:]
    indent = len(source_lines[0]) - len(source_lines[0].lstrip()) if source_lines else 0
    for number, source_line in enumerate(source_lines):
        content = source_line[indent:]
        if offset <= len(content):
            return first_line + number + 1, indent + offset + 1
        offset -= len(content) + 1
    return first_line + 1, indent + 1


def _at(path: str, text: str, line: int, column: int, message: str) -> Problem:
    lines = text.splitlines()
    if lines and line > len(lines):  # the end of the file: point just past its last character
        line, column = len(lines), len(lines[-1]) + 1
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    return Problem(path, line, column, message, source)


def _node_problem(path: str, text: str, node: yaml.Node, message: str) -> Problem:
    mark = node.start_mark
    return _at(path, text, mark.line + 1, mark.column + 1, message)
