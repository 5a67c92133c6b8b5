"""The condition language: what it accepts, what it refuses and where, and what it computes."""

from __future__ import annotations

from typing import Any

import pytest

from rules.expression import ExpressionError, compile_condition
from streams.profile import FEATURES, Profile
from streams.profile.features import FeatureView

KINDS = {feature.name: feature.type for feature in FEATURES}


def evaluate(source: str, segments: frozenset[str] = frozenset(), **values: Any) -> bool:
    return compile_condition(source, KINDS).evaluate(values, segments)


def test_comparisons_logic_and_maps() -> None:
    assert evaluate("spend_90d >= 100 and not is_anonymous", spend_90d=100.0, is_anonymous=False)
    assert not evaluate("spend_90d > 100 or orders_30d >= 3", spend_90d=50.0, orders_30d=2)
    assert evaluate("affinity['fashion'] > 2", affinity={"fashion": 2.5})
    assert not evaluate("affinity['toys'] > 0", affinity={"fashion": 2.5})
    assert evaluate("country in ['DE', 'AT']", country="AT")
    assert evaluate("country not in ('DE', 'AT')", country="FR")
    assert evaluate("between(age, 18, 25)", age=25)
    assert evaluate("has(interests, 'yoga')", interests=["yoga"])
    assert evaluate("18 <= age < 26", age=18)
    assert evaluate(
        "spend_lifetime / orders_lifetime > 50", spend_lifetime=120.0, orders_lifetime=2
    )


def test_segment_references_and_read_features() -> None:
    rule = compile_condition("in_segment('big_spenders') and discount_share_of_orders > 0.5", KINDS)
    assert rule.segments == {"big_spenders"}
    assert rule.features == {"discount_share_of_orders"}
    features = {"discount_share_of_orders": 0.8}
    assert rule.evaluate(features, frozenset({"big_spenders"}))
    assert not rule.evaluate(features, frozenset())


def test_null_values_make_comparisons_false_and_missing_true() -> None:
    assert not evaluate("days_since_last_purchase > 30", days_since_last_purchase=None)
    assert evaluate("missing(days_since_last_purchase)", days_since_last_purchase=None)
    assert not evaluate(
        "spend_lifetime / orders_lifetime > 1", spend_lifetime=1.0, orders_lifetime=0
    )


def test_runs_against_a_real_feature_view() -> None:
    rule = compile_condition("orders_lifetime == 0 and page_views_30d >= 0", KINDS)
    assert rule.evaluate(FeatureView(Profile("c1"), 1.8e9), frozenset())


ATTACKS = [
    ("dunder attribute", "().__class__.__bases__[0].__subclasses__()"),
    ("attribute on a feature", "country.upper() == 'DE'"),
    ("import call", "__import__('os').system('id')"),
    ("eval call", "eval('1')"),
    ("open call", "open('/etc/passwd')"),
    ("huge power", "9 ** 9 ** 9 > 1"),
    ("string multiplication", "'a' * 1000000000 == ''"),
    ("list multiplication", "[1] * 1000000000 == []"),
    ("lambda", "(lambda: True)()"),
    ("list comprehension", "[x for x in range(10)] == []"),
    ("generator", "any(x for x in [1])"),
    ("walrus", "(x := 1) == 1"),
    ("f-string", "f'{age}' == '1'"),
    ("conditional expression", "True if age else False"),
    ("dict literal", "{'a': 1} == {}"),
    ("starred", "[*interests] == []"),
    ("unknown feature", "secret_sauce > 1"),
    ("keyword argument", "between(age, low=1, high=2)"),
    ("deep nesting", "not " * 60 + "is_anonymous"),
    ("over-long input", "age > 1 and " * 300 + "age > 1"),
    ("huge number", "age > 1e300"),
    ("bitwise", "age & 1 == 1"),
    ("shift", "age << 100 > 1"),
    ("subscript of a list", "interests[0] == 'x'"),
    ("await", "await age"),
    ("semicolon statement", "age > 1; import os"),
    ("assignment", "age = 1"),
    ("string concatenation", "country + country == 'DEDE'"),
]


@pytest.mark.parametrize(("name", "source"), ATTACKS, ids=[name for name, _ in ATTACKS])
def test_attacks_are_rejected_with_a_clear_error(name: str, source: str) -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, KINDS)
    assert error.value.message, name
    assert error.value.line >= 1
    assert error.value.column >= 1


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("spend_90 > 5", "did you mean 'spend_90d'?", 1),
        ("country > 5", "cannot compare a string with a number", 1),
        ("spend_90d + 1", "must be true or false", 1),
        ("orders_30d / 0 > 1", "division by zero", 14),
        ("age >", "syntax error", 6),
        ("is_anonymous and age", "and/or need true/false", 18),
    ],
)
def test_errors_point_at_the_problem(source: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, KINDS)
    assert message in error.value.message
    assert error.value.column == column


def test_no_builtins_reach_the_compiled_function() -> None:
    rule = compile_condition("age > 1", KINDS)
    assert rule.evaluate({"age": 2}, frozenset())
    namespace = rule.evaluate.__closure__[0].cell_contents.__globals__  # type: ignore[index]
    assert namespace["__builtins__"] == {}


def test_run_time_errors_are_counted_by_kind() -> None:
    from rules.expression import EVALUATION_ERRORS

    before = dict(EVALUATION_ERRORS)
    assert not evaluate("days_since_last_purchase < 7", days_since_last_purchase=None)
    assert not evaluate("spend_90d / orders_90d > 10", spend_90d=50.0, orders_90d=0)
    assert evaluate("spend_90d / orders_90d > 10", spend_90d=50.0, orders_90d=2)
    assert EVALUATION_ERRORS["null_operand"] == before.get("null_operand", 0) + 1
    assert EVALUATION_ERRORS["arithmetic"] == before.get("arithmetic", 0) + 1


def test_a_null_map_makes_its_comparison_false() -> None:
    from rules.expression import EVALUATION_ERRORS

    before = EVALUATION_ERRORS["null_operand"]
    assert not evaluate("affinity['fashion'] > 1", affinity=None)
    assert EVALUATION_ERRORS["null_operand"] == before + 1


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("spend_90d => 100", "'=>' is not an operator: write >= for 'at least'", 11),
        ("spend_90d =< 100", "'=<' is not an operator: write <= for 'at most'", 11),
        ("country = 'DE'", "use == to compare", 9),
        ("country <> 'DE'", "write != for 'not equal'", 9),
        ("age > 1 AND age < 9", "write 'and' in lower case, not 'AND'", 9),
        ("age > 1 Or age < 9", "write 'or' in lower case, not 'Or'", 9),
        ("NOT is_anonymous", "write 'not' in lower case, not 'NOT'", 1),
        ("age > 1 && is_anonymous", "write 'and' instead of '&&'", 9),
        ("age > 1 || is_anonymous", "write 'or' instead of '||'", 9),
        ("!is_anonymous", "write 'not' instead of '!'", 1),
        ("country == DE", "unknown feature 'DE'; if it is text, put it in quotes: 'DE'", 12),
        ("country in [DE, 'AT']", "put it in quotes: 'DE'", 13),
        ("gender == female", "put it in quotes: 'female'", 11),
        ("is_anonymous == TRUE", "write 'true' in lower case, not 'TRUE'", 17),
        ("age << 2 > 1", "'<<' is not allowed (only + - * / %)", 1),
        ("+age > 1", "unary '+' is not allowed; write the number without it", 1),
        ("~is_anonymous", "'~' is not allowed; write 'not'", 1),
        ("is_anonymous & has_children", "'&' is not allowed; write 'and'", 1),
        ("age is None", "'is' is not allowed; compare with ==", 1),
        ("age > ...", "'...' is not allowed in a condition", 7),
        ("age > 1j", "an imaginary number is not allowed", 7),
        ("in_segment(None)", "in_segment() takes a quoted segment id", 12),
        ("country == 'a=b' and age = 1", "use == to compare", 26),
    ],
)
def test_common_mistakes_get_a_hint_in_the_marketers_words(
    source: str, message: str, column: int
) -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, KINDS)
    assert message in error.value.message
    assert error.value.column == column
    for python_name in ("LShift", "UAdd", "NoneType", "Ellipsis", "Invert", "BitAnd", "Is "):
        assert python_name not in error.value.message


def test_python_keeps_its_own_message_when_no_hint_fits() -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition("country == 'DE", KINDS)  # unclosed: the = inside is not code
    assert "unterminated string" in error.value.message


@pytest.mark.parametrize(
    "source", ["true", "True", "1 == 1", "not false", "'a' in ['a']", "null == null", "2 > 1"]
)
def test_a_condition_that_reads_no_feature_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, KINDS)
    assert "reads no feature, so it is the same for every customer" in error.value.message
    assert "write everyone (alone)" in error.value.message


def test_everyone_is_the_explicit_condition_for_all_customers() -> None:
    rule = compile_condition("everyone", KINDS)
    assert rule.evaluate({}, frozenset())
    assert (rule.features, rule.segments) == (frozenset(), frozenset())
    with pytest.raises(ExpressionError, match="everyone is a whole condition on its own"):
        compile_condition("everyone and age > 1", KINDS)
    assert compile_condition("in_segment('vip')", KINDS).segments == {"vip"}  # reads a segment


CATEGORIES = ("fashion", "kids", "toys")


@pytest.mark.parametrize(
    ("source", "message", "column"),
    [
        ("affinity['fashon'] > 1", "unknown category 'fashon'; did you mean 'fashion'?", 10),
        ("affinity['garden'] > 1", "unknown category 'garden' (known: fashion, kids, toys)", 10),
        ("top_category == 'tosy'", "unknown category 'tosy'; did you mean 'toys'?", 17),
        ("top_category in ['kids', 'fashon']", "did you mean 'fashion'?", 26),
        ("'fashon' != top_category", "did you mean 'fashion'?", 1),
    ],
)
def test_categories_are_checked_when_the_shop_has_a_catalogue(
    source: str, message: str, column: int
) -> None:
    with pytest.raises(ExpressionError) as error:
        compile_condition(source, KINDS, CATEGORIES)
    assert message in error.value.message
    assert error.value.column == column


def test_category_names_match_as_profiles_store_them() -> None:
    rule = compile_condition("affinity['Kids'] > 1 and top_category == 'toys'", KINDS, CATEGORIES)
    assert rule.evaluate({"affinity": {"kids": 2.0}, "top_category": "toys"}, frozenset())
    assert compile_condition("affinity['anything'] > 1", KINDS).features == {"affinity"}
