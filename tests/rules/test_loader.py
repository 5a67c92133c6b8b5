"""Rule files load into ordered rule sets, or fail with every problem at file:line:col."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rules.loader import OPTIONAL, REQUIRED, TOP_LEVEL, RuleFileError, load_rules, rule_files
from streams.profile import Profile
from streams.profile.features import FeatureView

EXAMPLES = Path(__file__).resolve().parents[2] / "rules" / "segments"


def write(tmp_path: Path, text: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RuleFileError) as error:
        load_rules([write(tmp_path, text)])
    return [f"{p.line}:{p.column}: {p.message}" for p in error.value.problems]


def test_example_rule_files_load_and_cover_the_asked_segments() -> None:
    rules = load_rules(rule_files(EXAMPLES))
    ids = {rule.id for rule in rules.rules}
    assert {
        "big_spenders", "discount_shoppers", "window_shoppers", "cart_abandoners",
        "lapsing_customers", "new_customers", "young_fashionistas", "practical_parents",
        "high_income_professionals", "budget_shoppers",
    } <= ids  # fmt: skip
    order = [rule.id for rule in rules.rules]
    assert order.index("big_spenders") < order.index("vip_big_spenders_in_dach")
    assert rules.members_of(FeatureView(Profile("c1"), 1.8e9)) == frozenset()


def test_version_changes_with_the_text(tmp_path: Path) -> None:
    rule = "segments:\n  - {id: a, name: A, description: d, condition: 'age > 1'}\n"
    first = load_rules([write(tmp_path, rule)]).version
    second = load_rules([write(tmp_path, rule.replace("1", "2"))]).version
    assert first != second


def test_unknown_feature_points_into_the_condition(tmp_path: Path) -> None:
    text = "segments:\n  - id: a\n    name: A\n    description: d\n    condition: spend_9d > 5\n"
    assert problems(tmp_path, text) == [
        "5:16: unknown feature 'spend_9d'; did you mean 'spend_90d'?"
    ]


def test_block_scalar_positions(tmp_path: Path) -> None:
    text = (
        "segments:\n  - id: a\n    name: A\n    description: d\n    condition: >\n"
        "      age > 1\n      and country > 3\n"
    )
    assert problems(tmp_path, text) == ["7:11: cannot compare a string with a number"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = """segments:
  - {id: a, name: A, description: d, condition: 'age > 1'}
  - {id: a, name: A2, description: d, condition: 'age > 2'}
  - {id: b, name: B, description: d, condition: 'spend_90d + 1'}
  - {id: c, name: C, description: d, condition: "in_segment('d')"}
  - {id: d, name: D, description: d, condition: "in_segment('c')"}
  - {id: e, name: E, description: d, condition: "in_segment('nope')"}
  - {id: f, name: F, description: d, condition: 'orders_30d / 0 > 1'}
  - {id: g, name: G, description: d, condition: 'age > 1', holdout: 90%}
  - {id: h, name: H, description: d, condition: 'age > 1', colour: red}
  - {id: Bad-Id, name: I, description: d, condition: 'age > 1'}
  - {id: j, name: J, description: d}
"""
    found = "\n".join(problems(tmp_path, text))
    for expected in [
        "duplicate segment id 'a'",
        "must be true or false",
        "cycle: c -> d -> c",
        "in_segment('nope') names no segment",
        "division by zero",
        "holdout '90%' must be between 0% and 50%",
        "unknown key 'colour'",
        "lower_snake_case",
        "missing condition",
    ]:
        assert expected in found, expected


def test_yaml_syntax_error_has_a_position_and_caret(tmp_path: Path) -> None:
    with pytest.raises(RuleFileError) as error:
        load_rules([write(tmp_path, "segments:\n  - id: [unclosed\n")])
    [problem] = error.value.problems
    assert problem.line >= 2
    assert "^" in str(problem)
    assert str(problem).startswith(str(tmp_path / "rules.yaml"))


def test_holdout_is_deterministic_and_near_its_share(tmp_path: Path) -> None:
    text = "segments:\n  - {id: a, name: A, description: d, condition: 'age > 1', holdout: 10%}\n"
    rule = load_rules([write(tmp_path, text)]).rules[0]
    variants = [rule.variant(f"c{n}") for n in range(20_000)]
    assert variants == [rule.variant(f"c{n}") for n in range(20_000)]
    assert 0.09 < variants.count("control") / 20_000 < 0.11


def test_exclusive_group_keeps_the_highest_priority_match(tmp_path: Path) -> None:
    text = """segments:
  - {id: gold, name: G, description: d, condition: 'age > 1', exclusive_group: tier, priority: 2}
  - {id: silver, name: S, description: d, condition: 'age > 1', exclusive_group: tier, priority: 1}
"""
    rules = load_rules([write(tmp_path, text)])
    assert rules.members_of({"age": 30}) == {"gold"}


def test_schema_names_every_key_the_loader_accepts() -> None:
    schema = json.loads((EXAMPLES.parent / "schema.json").read_text())
    keys = set(schema["properties"]["segments"]["items"]["properties"])
    assert keys == set(REQUIRED + OPTIONAL)
    assert set(schema["properties"]) == set(TOP_LEVEL)


def test_rules_may_refer_to_clusters_and_see_the_given_cluster(tmp_path: Path) -> None:
    rules = load_rules(
        [
            write(
                tmp_path,
                "segments:\n"
                "  - {id: vip_whales, name: V, description: d,"
                " condition: \"in_segment('cluster_whales') or in_segment('cluster_c3')\"}\n",
            )
        ]
    )
    view = FeatureView(Profile("c1"), 1.8e9)
    assert rules.members_of(view) == frozenset()
    given = frozenset({"cluster_c3"})
    assert rules.members_of(view, given) == {"cluster_c3", "vip_whales"}


def test_cluster_ids_are_reserved_and_cluster_references_must_be_well_formed(
    tmp_path: Path,
) -> None:
    found = problems(
        tmp_path,
        "segments:\n"
        "  - {id: cluster_mine, name: M, description: d, condition: 'orders_lifetime > 1'}\n"
        "  - {id: fans, name: F, description: d, condition: \"in_segment('cluster_')\"}\n",
    )
    assert found == [
        "2:10: segment ids starting with 'cluster_' are reserved for clusters",
        "3:52: in_segment('cluster_') names no segment",
    ]


SEGMENT = "segments:\n  - {id: a, name: A, description: d, condition: 'age > 1', FIELD}\n"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("priority: high", "2:70: priority must be a whole number, not text"),
        ("priority: .inf", "2:70: priority must be a whole number, not a number"),
        ("tags: 5", "2:66: tags must be a list of text, not a whole number"),
        ("tags: [[x]]", "2:66: tags must be a list of text, not a list"),
        ("holdout: [10]", "2:69: holdout must be a share such as 10%, not a list"),
        ("holdout: 2020-01-01", "2:69: holdout must be a share such as 10%, not a date"),
        ("exclusive_group: [tier]", "2:77: exclusive_group must be text, not a list"),
        ("owner: 2020-01-01", "2:67: owner must be text, not a date (put it in quotes)"),
        ("owner: 2020-13-45", "2:67: owner: unreadable value (month must be in 1..12)"),
        (
            "owner: !!python/object:os.system x",
            "2:67: owner: unreadable value (could not determine a constructor",
        ),
        ("owner: [A]", "2:67: owner must be text, not a list"),
    ],
)
def test_a_wrongly_typed_value_is_a_problem_at_its_position(
    tmp_path: Path, field: str, message: str
) -> None:
    found = problems(tmp_path, SEGMENT.replace("FIELD", field))
    assert any(problem.startswith(message) for problem in found), found


def test_a_character_yaml_refuses_is_a_problem_at_its_position(tmp_path: Path) -> None:
    assert problems(tmp_path, "segments:\n  - {id: a\x07}\n") == [
        "2:11: YAML: special characters are not allowed: '\\x07'"
    ]


def test_deeply_nested_yaml_is_a_problem_not_a_recursion_error(tmp_path: Path) -> None:
    assert problems(tmp_path, "segments: " + "[" * 5000 + "]" * 5000) == [
        "1:1: YAML: collections nested too deeply"
    ]


def test_an_optional_key_left_empty_counts_as_absent(tmp_path: Path) -> None:
    text = SEGMENT.replace("FIELD", "priority: , tags: , owner: , exclusive_group: , holdout: ")
    [rule] = load_rules([write(tmp_path, text)]).rules
    assert (rule.priority, rule.tags, rule.owner, rule.exclusive_group, rule.holdout) == (
        0, (), None, None, 0.0
    )  # fmt: skip


def test_a_key_repeated_in_a_segment_is_refused_at_its_second_occurrence(tmp_path: Path) -> None:
    text = (
        "segments:\n  - id: a\n    name: A\n    description: d\n    condition: age > 1\n"
        "    condition: age > 99\n"
    )
    assert problems(tmp_path, text) == [
        "6:5: 'condition' appears twice (first on line 5); keep one"
    ]


def test_top_level_keys_are_checked_too(tmp_path: Path) -> None:
    text = SEGMENT.replace("FIELD", "owner: o") + "segment: []\nsegments: []\n"
    assert problems(tmp_path, text) == [
        "3:1: unknown key 'segment' (did you mean 'segments'? allowed: segments, categories)",
        "4:1: 'segments' appears twice (first on line 1); keep one",
    ]


def test_an_empty_condition_names_no_python_type(tmp_path: Path) -> None:
    found = problems(
        tmp_path, SEGMENT.replace("condition: 'age > 1', FIELD", "condition: ").replace("'", "")
    )
    assert found == ["2:48: condition must be text, not empty"]


@pytest.mark.parametrize(
    ("holdout", "share"),
    [("0", 0.0), ("1", 0.01), ("10", 0.10), ("50", 0.50), ("1%", 0.01), ("10%", 0.10),
     ("0.5%", 0.005), ("'12.5 %'", 0.125), ("2.5", 0.025)],
)  # fmt: skip
def test_a_holdout_number_is_a_percentage_like_the_percent_form(
    tmp_path: Path, holdout: str, share: float
) -> None:
    [rule] = load_rules([write(tmp_path, SEGMENT.replace("FIELD", f"holdout: {holdout}"))]).rules
    assert rule.holdout == pytest.approx(share)


@pytest.mark.parametrize(
    ("holdout", "message"),
    [
        ("0.1", "holdout 0.1 is ambiguous: numbers are percentages, so it would mean 0.1%;"
                " write 10% for that share, or 0.1% if you mean it"),
        ("51", "holdout 51 must be between 0% and 50%, e.g. holdout: 10%"),
        ("'51%'", "holdout '51%' must be between 0% and 50%"),
        ("-1", "holdout -1 must be between 0% and 50%"),
        ("'10'", "holdout '10' must be a percentage between 0% and 50%, e.g. holdout: 10%"),
        (".nan", "holdout nan must be between 0% and 50%"),
    ],
)  # fmt: skip
def test_a_holdout_that_is_out_of_range_or_ambiguous_is_refused(
    tmp_path: Path, holdout: str, message: str
) -> None:
    [found] = problems(tmp_path, SEGMENT.replace("FIELD", f"holdout: {holdout}"))
    assert found.startswith(f"2:69: {message}")


def test_affinity_categories_default_to_the_demo_and_cdnow_ones(tmp_path: Path) -> None:
    from streams.traffic.personas import CATEGORIES

    assert set(CATEGORIES) | {"music"} == set(load_rules(rule_files(EXAMPLES)).categories)
    text = SEGMENT.replace("'age > 1', FIELD", "\"affinity['fashon'] > 1\"")
    assert problems(tmp_path, text) == ["2:59: unknown category 'fashon'; did you mean 'fashion'?"]


def test_a_shop_declares_its_own_categories(tmp_path: Path) -> None:
    segment = SEGMENT.replace("'age > 1', FIELD", "\"affinity['vinyl'] > 1\"")
    rules = load_rules(
        [
            write(tmp_path, segment),
            write(tmp_path, "categories: [vinyl, CDs]\nsegments: []\n", "shop.yaml"),
        ]
    )
    assert rules.categories == ("cds", "vinyl")  # every file's, lower case as profiles keep them
    fashion = SEGMENT.replace("'age > 1', FIELD", "\"affinity['fashion'] > 1\"")
    write(tmp_path, fashion)
    with pytest.raises(RuleFileError, match="unknown category 'fashion' \\(known: cds, vinyl\\)"):
        load_rules([tmp_path / "rules.yaml", tmp_path / "shop.yaml"])
    assert problems(tmp_path, "categories: []\nsegments: []\n") == [
        "1:13: categories must be a list of category names, e.g. [shoes, bags]"
    ]


def test_a_segment_for_everyone_must_say_so(tmp_path: Path) -> None:
    assert problems(tmp_path, SEGMENT.replace("'age > 1', FIELD", "'true'")) == [
        "2:50: this condition reads no feature, so it is the same for every customer;"
        " write everyone (alone) for a segment of all customers"
    ]
    [rule] = load_rules([write(tmp_path, SEGMENT.replace("'age > 1', FIELD", "everyone"))]).rules
    assert rule.condition.evaluate({}, frozenset())


def test_a_key_that_is_not_a_word_is_refused_without_expanding_it(tmp_path: Path) -> None:
    bomb = "".join(f"l{n}: &l{n} [*l{n - 1}, *l{n - 1}, *l{n - 1}]\n" for n in range(1, 30))
    text = "l0: &l0 [x]\n" + bomb + "segments:\n  - {? *l29 : x, id: a}\n"
    found = problems(tmp_path, text)
    assert any("a key must be a plain word" in problem for problem in found), found
