"""Property-based fuzzing of the rule compiler and the rule-file loader.

Whatever a marketer (or a broken editor, or a hand-made rules message) sends, the compiler answers
with a compiled condition or an ExpressionError, the loader with a RuleSet or a RuleFileError; no
other exception, and no hang (pytest-timeout stops a test that hangs). A compiled condition never
raises while it is evaluated, whatever values (or nulls) the features hold.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.expression import Compiled, ExpressionError, compile_condition
from rules.graph import MAX_DEPTH
from rules.loader import OPTIONAL, REQUIRED, RuleFileError, load_rule_texts
from rules.ruleset import DEFAULT_CATEGORIES, RuleSet
from streams.profile import FEATURES, Profile
from streams.profile.features import FeatureView

pytestmark = pytest.mark.timeout(300)

KINDS = {feature.name: feature.type for feature in FEATURES}
BY_KIND = {kind: sorted(n for n, k in KINDS.items() if k == kind) for kind in set(KINDS.values())}
FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)  # deadline=None: CPU is shared, a slow example is not a failure; a hang hits the timeout

# --- condition text -------------------------------------------------------------------------

TOKENS = [
    *KINDS, "affinity['fashion']", "affinity[1]", "and", "or", "not", "in", "not in", "is",
    "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "/", "%", "**", "//", "(", ")", "[", "]",
    ",", ".", ":", ":=", "true", "false", "null", "None", "True", "between(", "has(", "missing(",
    "in_segment(", "len(", "__import__(", "lambda x:", "if", "else", "for", "'fashion'", '"DE"',
    "f'{x}'", "0", "1e999", "-1", "0.5", "1_000", "0x1F", "1j", "...", "\\", "#", "\n", "\t",
    "\x00", "\ufeff",
]  # fmt: skip


def number() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(-(10**15), 10**15).map(str),
        st.floats(allow_nan=False, allow_infinity=False).map(repr),
        st.sampled_from(["0", "0.0", "1e12", "1e13", "1e-300"]),
    )


def text_literal() -> st.SearchStrategy[str]:
    return st.text(max_size=12).map(repr)


def number_expression() -> st.SearchStrategy[str]:
    leaves = st.one_of(st.sampled_from(BY_KIND["number"]), number(), st.just("affinity['fashion']"))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(" ".join),
            inner.map(lambda e: f"-({e})"),
            inner.map(lambda e: f"({e})"),
        ),
        max_leaves=6,
    )


def condition() -> st.SearchStrategy[str]:
    """Well-typed conditions over every kind of feature, most of which compile."""
    numbers = number_expression()
    comparison = st.tuples(
        numbers, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numbers
    ).map(" ".join)
    atoms = st.one_of(
        comparison,
        st.sampled_from(BY_KIND["bool"]),
        st.sampled_from(["true", "false"]),
        st.tuples(st.sampled_from(BY_KIND["string"]), text_literal()).map(
            lambda p: f"{p[0]} == {p[1]}"
        ),
        st.tuples(st.sampled_from(BY_KIND["string"]), st.lists(text_literal(), max_size=3)).map(
            lambda p: f"{p[0]} in [{', '.join(p[1])}]"
        ),
        st.tuples(numbers, numbers, numbers).map(lambda p: f"between({p[0]}, {p[1]}, {p[2]})"),
        st.tuples(st.sampled_from(BY_KIND["list"]), text_literal()).map(
            lambda p: f"has({p[0]}, {p[1]})"
        ),
        st.sampled_from(sorted(KINDS)).map(lambda name: f"missing({name})"),
        st.just("in_segment('other')"),
    )
    return st.recursive(
        atoms,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(" ".join),
            inner.map(lambda e: f"not ({e})"),
        ),
        max_leaves=5,
    )


CONDITIONS = condition()


def compile_or_refuse(source: str) -> Compiled | None:
    try:
        return compile_condition(source, KINDS, DEFAULT_CATEGORIES)
    except ExpressionError as error:
        refused = error
    assert refused.message
    assert refused.line >= 1
    assert refused.column >= 1
    return None


@FUZZ
@given(st.text(max_size=300))
@example("a\x00")
@example("(" * 300 + "true" + ")" * 300)
@example("-" * 1999 + "1 > 0")
@example("x" * 2001)
def test_any_text_compiles_or_is_refused_with_a_position(source: str) -> None:
    compile_or_refuse(source)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS) | number() | text_literal(), max_size=25))
def test_token_soup_compiles_or_is_refused_with_a_position(tokens: list[str]) -> None:
    compile_or_refuse(" ".join(tokens))


# --- evaluation -------------------------------------------------------------------------------

ODD_NUMBERS = [0, 0.0, -0.0, 1e308, -1e308, 10**30, math.inf, -math.inf, math.nan, True, False]


def value_of(kind: str) -> st.SearchStrategy[Any]:
    """A value a feature of ``kind`` may hold, nulls and extremes included."""
    keys = st.sampled_from(["fashion", "toys", ""])
    numbers = st.one_of(st.floats(), st.integers(-(10**20), 10**20), st.sampled_from(ODD_NUMBERS))
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "number": numbers,
        "string": st.text(max_size=8),
        "bool": st.booleans(),
        "list": st.lists(st.text(max_size=8), max_size=4),
        "map": st.dictionaries(keys, numbers, max_size=3),
    }
    return st.none() | by_kind[kind]


FEATURE_VALUES = st.fixed_dictionaries({name: value_of(kind) for name, kind in KINDS.items()})


@FUZZ
@given(CONDITIONS, FEATURE_VALUES, st.sets(st.sampled_from(["other", "x"])))
def test_compiled_conditions_never_raise_whatever_the_features_hold(
    source: str, features: dict[str, Any], segments: set[str]
) -> None:
    compiled = compile_or_refuse(source)
    if compiled is not None:
        assert compiled.evaluate(features, frozenset(segments)) in {True, False}


def test_the_condition_strategy_mostly_compiles() -> None:
    """Guards the property above against testing nothing: most generated conditions compile."""
    compiled = []

    @settings(max_examples=200, deadline=None, database=None)
    @given(CONDITIONS)
    def collect(source: str) -> None:
        compiled.append(compile_or_refuse(source) is not None)

    collect()
    assert sum(compiled) > len(compiled) / 2


# --- rule files -------------------------------------------------------------------------------

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "id": st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    "condition": CONDITIONS,
    "holdout": st.sampled_from(["10%", "50%", "51%", "x%", 0.1, 10, -1, 0.5]),
    "priority": st.integers(-5, 5),
    "tags": st.lists(st.text(max_size=5), max_size=3),
    "exclusive_group": st.sampled_from(["tier", "channel"]),
}


@st.composite
def rule_file(draw: st.DrawFn) -> str:
    """YAML text of a rule file: plausible segments, one value in ten of any JSON type."""
    segments = []
    for _ in range(draw(st.integers(0, 4))):
        keys = [*REQUIRED, *draw(st.sets(st.sampled_from((*OPTIONAL, "extra"))))]
        segment = {}
        for key in keys:
            if key in REQUIRED and draw(st.integers(0, 19)) == 0:
                continue  # a required key missing
            wrong = draw(st.integers(0, 9)) == 0
            plausible = PLAUSIBLE.get(key, st.text(max_size=20))
            segment[key] = draw(JSONISH if wrong else plausible)
        segments.append(segment)
    root: Any = {"segments": segments} if draw(st.integers(0, 9)) else segments
    return yaml.safe_dump(root, allow_unicode=draw(st.booleans()))


def load_or_refuse(texts: dict[str, str]) -> RuleSet | None:
    try:
        rules = load_rule_texts(texts)
    except RuleFileError as error:
        refused = error
    else:
        # A loaded rule set must be usable by a worker: evaluating it never raises.
        for now in (0.0, 1.8e9):
            assert isinstance(rules.members_of(FeatureView(Profile("c1"), now)), frozenset)
        return rules
    assert refused.problems
    for problem in refused.problems:
        assert problem.message
        assert not problem.message.startswith("internal error"), problem  # the loader's own bug
        assert problem.line >= 1
        assert problem.column >= 1
    return None


@FUZZ
@given(rule_file())
def test_generated_rule_files_load_or_list_their_problems(text: str) -> None:
    load_or_refuse({"rules.yaml": text})


def compiles(source: str) -> bool:
    return compile_or_refuse(source) is not None


@st.composite
def valid_rule_file(draw: st.DrawFn) -> str:
    """A rule file that loads: distinct ids (``other`` among them), conditions that compile."""
    ids = draw(st.lists(st.sampled_from(["other", "a", "b", "c", "d"]), min_size=1, unique=True))
    ids = ["other", *(i for i in ids if i != "other")]
    segments = []
    for segment_id in ids:
        source = draw(CONDITIONS.filter(compiles))
        if segment_id == "other":
            source = source.replace("in_segment('other')", "is_anonymous")  # no self-reference
        segment: dict[str, Any] = {"id": segment_id, "name": "N", "description": "d"}
        segment["condition"] = source
        segment["priority"] = draw(st.integers(-3, 3))
        segment["holdout"] = draw(st.sampled_from(["0%", "10%", "50%", "0.5%", 0, 1, 25]))
        if draw(st.booleans()):
            segment["exclusive_group"] = draw(st.sampled_from(["tier", "channel"]))
        segments.append(segment)
    return yaml.safe_dump({"segments": segments})


@FUZZ
@given(valid_rule_file(), FEATURE_VALUES, st.text(max_size=10))
def test_loaded_rule_sets_decide_membership_whatever_the_features_hold(
    text: str, features: dict[str, Any], customer: str
) -> None:
    rules = load_or_refuse({"rules.yaml": text})
    assert rules is not None, text
    members = rules.members_of(features)
    assert members <= {rule.id for rule in rules.rules}
    for segment in members:
        assert rules.variant(segment, customer) in {"treatment", "control"}


@FUZZ
@given(st.text(max_size=400))
@example("segments: [oops")
@example("\x00")
@example("segments: " + "[" * 3000 + "]" * 3000)
@example("segments:\n  - {id: a, name: A, description: d, condition: 'age > 1', priority: x}\n")
def test_any_text_as_a_rule_file_loads_or_lists_its_problems(text: str) -> None:
    load_or_refuse({"rules.yaml": text})


@FUZZ
@given(st.lists(st.sampled_from([*map(str, REQUIRED + OPTIONAL), "segments", "- ", ": ", "\n",
                                 "  ", "{", "}", "[", "]", ",", "&a", "*a", "!!str", "!!binary",
                                 "!!timestamp", "!!python/object:os.system", "|", ">", "'", '"',
                                 "%", "10%", "2020-13-45", ".inf", "null", "true", "age > 1",
                                 "in_segment('a')", "a", "b", "---", "...", "#", "\t"]),
                max_size=60))  # fmt: skip
def test_yaml_token_soup_loads_or_lists_its_problems(tokens: list[str]) -> None:
    load_or_refuse({"rules.yaml": "".join(tokens)})


ALIAS_BOMB = "".join(
    f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]\n" if n else "l0: &l0 [x, x, x, x, x, x]\n"
    for n in range(10)
)


@pytest.mark.parametrize("field", ["id", "name", "description", "condition", "owner", "tags"])
def test_an_alias_bomb_in_any_field_is_refused_without_expanding_it(field: str) -> None:
    fields = {"id": "a", "name": "A", "description": "d", "condition": "'age > 1'"} | {field: "*l9"}
    segment = ", ".join(f"{key}: {value}" for key, value in fields.items())
    text = f"{ALIAS_BOMB}segments:\n  - {{{segment}}}\n"
    assert load_or_refuse({"rules.yaml": text}) is None


# --- structural extremes: many segments, long in_segment() chains, cycles ----------------------


@st.composite
def segment_graph_file(draw: st.DrawFn) -> str:
    """Up to 80 segments in any file order whose in_segment() references form long chains (past
    MAX_DEPTH), diamonds and sometimes cycles."""
    count = draw(st.integers(1, 80))
    ids = draw(st.permutations([f"s{n:02d}" for n in range(count)]))  # id order != chain order
    segments = []
    for position, segment_id in enumerate(ids):
        references = []
        if position + 1 < count and draw(st.integers(0, 9)):
            references.append(ids[position + 1])  # mostly a chain through the whole file
        references += draw(st.lists(st.sampled_from(ids), max_size=2))  # cycles, diamonds
        parts = [f"in_segment('{reference}')" for reference in references] or ["age > 1"]
        condition = f" {draw(st.sampled_from(['and', 'or']))} ".join(parts)
        segments.append({"id": segment_id, "name": "N", "description": "d", "condition": condition})
    return yaml.safe_dump({"segments": segments})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(segment_graph_file())
def test_segment_graphs_load_in_dependency_order_or_are_refused(text: str) -> None:
    rules = load_or_refuse({"rules.yaml": text})
    if rules is None:
        return
    position = {rule.id: n for n, rule in enumerate(rules.rules)}
    depth: dict[str, int] = {}
    for rule in rules.rules:
        assert all(position[other] < position[rule.id] for other in rule.condition.segments)
        depth[rule.id] = 1 + max((depth[other] for other in rule.condition.segments), default=-1)
    assert max(depth.values()) <= MAX_DEPTH
