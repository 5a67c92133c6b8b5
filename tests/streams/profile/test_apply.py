"""Applying events: what each type changes, exactly once, in any order, in bounded memory."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from streams.events import schemas as ev
from streams.profile import (
    DEFAULT_CONFIG,
    Profile,
    apply_event,
    compute_features,
    encode_profile,
    to_cents,
)
from streams.profile import buckets as b

MINUTE, HOUR, DAY = 60.0, 3600.0, 86_400.0
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC).timestamp()
_EVENT: TypeAdapter[ev.Event] = TypeAdapter(ev.Event)
_ids = itertools.count()


def make(kind: str, ts: float, **fields: Any) -> ev.Event:
    """A validated event of customer c1 (pass customer_id/anonymous_id to change that)."""
    ids = {"customer_id": "c1"} if "anonymous_id" not in fields else {}
    fields.setdefault("event_id", f"a{next(_ids)}")
    return _EVENT.validate_python(
        {"type": kind, "ts": datetime.fromtimestamp(ts, UTC), **ids, **fields}
    )


def profile_of(*events: ev.Event) -> Profile:
    profile = Profile("c1")
    for event in events:
        apply_event(profile, event)
    return profile


def assert_same_features(left: dict[str, Any], right: dict[str, Any], skip: str = "") -> None:
    """Equal features, floats within a relative 1e-9 (sums of decayed scores in any order)."""
    assert left.keys() == right.keys()
    for name, value in left.items():
        if skip and name.startswith(skip):
            continue
        if name == "affinity":
            assert value.keys() == right[name].keys()
            for category, score in value.items():
                assert score == pytest.approx(right[name][category], rel=1e-9, abs=1e-12)
        elif isinstance(value, float):
            assert value == pytest.approx(right[name], rel=1e-9), name
        else:
            assert value == right[name], name


# --- what each event type does ----------------------------------------------------------------

COUNTERS = (
    "orders",
    "spend_cents",
    "discounted_orders",
    "discount_cents",
    "items",
    "page_views",
    "product_views",
    "searches",
    "cart_adds",
    "cart_removes",
    "checkouts",
    "sessions",
)


def counters(profile: Profile) -> dict[str, int]:
    return {name: getattr(profile, name) for name in COUNTERS if getattr(profile, name)}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (make("page_view", NOW, url="/", category="Home"), {"page_views": 1, "sessions": 1}),
        (
            make("product_view", NOW, sku="s", category="home"),
            {"page_views": 1, "product_views": 1, "sessions": 1},
        ),
        (make("search", NOW, query="q"), {"searches": 1, "sessions": 1}),
        (
            make("add_to_cart", NOW, sku="s", category="home", unit_price="5", quantity=3),
            {"cart_adds": 1, "sessions": 1},
        ),
        (make("remove_from_cart", NOW, sku="s"), {"cart_removes": 1, "sessions": 1}),
        (make("checkout_started", NOW, cart_value="5"), {"checkouts": 1, "sessions": 1}),
        (
            make(
                "purchase",
                NOW,
                order_id="o",
                total="84.90",
                discount_total="10",
                items=[{"sku": "s", "category": "home", "unit_price": "47.45", "quantity": 2}],
            ),
            {
                "orders": 1,
                "spend_cents": 8490,
                "discounted_orders": 1,
                "discount_cents": 1000,
                "items": 2,
                "sessions": 1,
            },
        ),
        (make("identify", NOW, customer_id="c1", anonymous_id="v1"), {}),
        (make("traits", NOW, traits={"age": 30}), {}),
        (make("consent", NOW, personalization=False), {}),
        (make("forget", NOW), {}),
    ],
    ids=lambda value: getattr(value, "type", ""),
)
def test_each_event_type_changes_its_counters(event: ev.Event, expected: dict[str, int]) -> None:
    profile = Profile("c1")
    assert apply_event(profile, event) is True
    assert counters(profile) == expected
    assert (profile.first_seen, profile.last_seen, profile.version) == (NOW, NOW, 1)
    assert profile.recent_event_ids == [event.event_id]


def test_visits_set_last_visit_and_only_their_own_recency() -> None:
    profile = profile_of(make("search", NOW - 60, query="q"))
    assert (profile.last_visit, profile.last_purchase, profile.last_cart_add) == (
        NOW - 60,
        None,
        None,
    )
    apply_event(profile, make("add_to_cart", NOW, sku="s", category="x", unit_price="1"))
    apply_event(profile, make("checkout_started", NOW - 30, cart_value="1"))
    apply_event(profile, make("purchase", NOW - 10, order_id="o", total="1"))
    assert (
        profile.last_visit,
        profile.last_cart_add,
        profile.last_checkout,
        profile.last_purchase,
    ) == (NOW, NOW, NOW - 30, NOW - 10)
    traits_only = profile_of(make("traits", NOW, traits={"age": 30}))
    assert (traits_only.last_visit, traits_only.sessions) == (None, 0)


def test_purchase_counts_in_windows_and_affinity_per_item() -> None:
    profile = profile_of(
        make(
            "purchase",
            NOW,
            order_id="o",
            total="30",
            coupon="WELCOME",
            items=[
                {"sku": "a", "category": "Books", "unit_price": "10", "quantity": 2},
                {"sku": "b", "category": "toys", "unit_price": "10"},
            ],
        )
    )
    for tier in profile.tiers:
        [row] = tier.values()
        assert row == [1, 3000, 1, 0, 1, 0]  # a purchase is a visit: it starts a session
    assert profile.affinity == {"books": 10.0, "toys": 5.0}
    assert (profile.discounted_orders, profile.discount_cents) == (1, 0)  # a coupon, no amount


@pytest.mark.parametrize(
    ("amount", "cents"),
    [
        ("0", 0),
        ("12.5", 1250),
        ("0.004", 0),
        ("0.005", 0),
        ("0.015", 2),
        ("0.0251", 3),
        ("999999999.9999", 100_000_000_000),
        ("84.90", 8490),
    ],
)
def test_amounts_round_to_cents_half_even(amount: str, cents: int) -> None:
    assert to_cents(Decimal(amount)) == cents


# --- exactly once -----------------------------------------------------------------------------


def test_the_same_event_id_counts_once_from_any_source() -> None:
    profile = Profile("c1")
    event = make("purchase", NOW, order_id="o", total="10")
    assert apply_event(profile, event, source="events:0", offset=5) is True
    assert apply_event(profile, event, source="events:0", offset=6) is False  # re-sent
    assert apply_event(profile, event, source="events:1", offset=0) is False  # other partition
    assert apply_event(profile, event) is False  # forwarded (no offset)
    assert (profile.orders, profile.version, profile.recent_event_ids) == (1, 1, [event.event_id])
    assert profile.applied_offsets == {"events:0": 5}  # a skipped message moves nothing


def test_a_redelivered_offset_counts_once_even_with_a_new_event_id() -> None:
    profile = Profile("c1")
    assert apply_event(
        profile, make("purchase", NOW, order_id="o", total="10"), source="events:3", offset=41
    )
    for offset in (41, 12, 0):  # at or before the last applied offset of the partition
        assert not apply_event(
            profile,
            make("purchase", NOW, order_id="o", total="10"),
            source="events:3",
            offset=offset,
        )
    assert apply_event(
        profile, make("purchase", NOW, order_id="o", total="10"), source="events:4", offset=12
    )
    assert apply_event(
        profile, make("purchase", NOW, order_id="o", total="10"), source="events:3", offset=42
    )
    assert profile.orders == 3
    assert profile.applied_offsets == {"events:3": 42, "events:4": 12}


def test_events_without_an_offset_are_deduplicated_by_id_only() -> None:
    profile = Profile("c1")
    apply_event(profile, make("search", NOW, query="q"), source="events:0", offset=100)
    assert apply_event(profile, make("search", NOW, query="q"), source="events:0", offset=-1)
    assert profile.searches == 2


def test_remembered_event_ids_are_bounded_to_the_newest() -> None:
    profile = Profile("c1")
    events = [
        make("search", NOW, query="q") for _ in range(DEFAULT_CONFIG.remembered_event_ids + 1)
    ]
    for event in events:
        apply_event(profile, event)
    assert len(profile.recent_event_ids) == DEFAULT_CONFIG.remembered_event_ids
    assert profile.recent_event_ids[-1] == events[-1].event_id
    assert apply_event(profile, events[1]) is False  # still remembered
    # The oldest id has been forgotten: a re-send that late would count again (by design: the
    # offset check, not the id memory, guards against Kafka redelivery).
    assert apply_event(profile, events[0]) is True


# --- sessions ---------------------------------------------------------------------------------


def test_sessions_start_when_the_session_id_changes() -> None:
    profile = profile_of(
        *[
            make("page_view", NOW + n, url="/", session_id=s)
            for n, s in enumerate(["a", "a", "b", "b", "c"])
        ]
    )
    assert profile.sessions == 3
    assert compute_features(profile, NOW + 10)["sessions_1h"] == 3


def test_without_a_session_id_a_gap_over_30_minutes_starts_a_session() -> None:
    gap = DEFAULT_CONFIG.session_gap_s
    profile = profile_of(
        make("search", NOW, query="q"),
        make("search", NOW + gap, query="q"),
        make("search", NOW + 2 * gap + 1, query="q"),
    )
    assert profile.sessions == 2  # exactly 30 minutes later is still the same session


def test_a_session_counts_in_the_bucket_of_the_event_that_starts_it() -> None:
    profile = profile_of(
        make("page_view", NOW - 2 * HOUR, url="/", session_id="s"),
        make("page_view", NOW, url="/", session_id="s"),
    )
    features = compute_features(profile, NOW)
    assert (features["sessions_1h"], features["sessions_24h"]) == (0, 1)


@pytest.mark.xfail(
    strict=True,
    reason="known limitation: sessions are counted by session-id changes and gaps as events "
    "arrive, so interleaved or late events change the count (see the report)",
)
def test_sessions_do_not_depend_on_arrival_order() -> None:
    events = [make("page_view", NOW + n, url="/", session_id=s) for n, s in enumerate("aab")]
    assert profile_of(*events).sessions == profile_of(events[0], events[2], events[1]).sessions


# --- latest-wins attributes (regressions: the last event to ARRIVE used to win) ----------------


def test_a_late_older_consent_does_not_override_a_newer_opt_out() -> None:
    opt_out, stale_opt_in = (
        make("consent", NOW, personalization=False),
        make("consent", NOW - DAY, personalization=True),
    )
    assert profile_of(stale_opt_in, opt_out).consent is False
    assert profile_of(opt_out, stale_opt_in).consent is False
    later_opt_in = make("consent", NOW + 1, personalization=True)
    assert profile_of(opt_out, stale_opt_in, later_opt_in).consent is True


def test_consent_decided_at_the_same_instant_opts_out() -> None:
    yes, no = (
        make("consent", NOW, personalization=True),
        make("consent", NOW, personalization=False),
    )
    assert profile_of(yes, no).consent is False
    assert profile_of(no, yes).consent is False
    assert profile_of(no, yes).consent_ts == NOW


def test_a_late_older_trait_does_not_override_a_newer_one() -> None:
    newer = make("traits", NOW, traits={"age": 31, "city": "Berlin"})
    older = make("traits", NOW - DAY, traits={"age": 30, "gender": "f", "city": "Bonn"})
    for order in ((older, newer), (newer, older)):
        profile = profile_of(*order)
        assert profile.traits == {"age": 31, "city": "Berlin", "gender": "f"}
        assert profile.trait_ts == {"age": NOW, "city": NOW, "gender": NOW - DAY}


def test_traits_set_at_the_same_instant_keep_the_larger_value_in_any_order() -> None:
    one = make("traits", NOW, traits={"age": 30, "interests": ["yoga"]})
    two = make("traits", NOW, traits={"age": 29, "interests": ["zumba"]})
    assert (
        profile_of(one, two).traits
        == profile_of(two, one).traits
        == {"age": 30, "interests": ["zumba"]}
    )


# --- affinity ---------------------------------------------------------------------------------


def test_affinity_halves_after_one_half_life_and_late_events_are_decayed_to_the_reference() -> None:
    half_life = DEFAULT_CONFIG.affinity_half_life_s
    profile = profile_of(make("product_view", NOW, sku="s", category="books"))
    assert profile.affinity_at(NOW + half_life, DEFAULT_CONFIG) == pytest.approx({"books": 0.5})
    apply_event(profile, make("product_view", NOW - half_life, sku="s", category="books"))
    assert profile.affinity_ref == NOW
    assert profile.affinity["books"] == pytest.approx(1.5)
    apply_event(profile, make("product_view", NOW + half_life, sku="s", category="toys"))
    assert profile.affinity_ref == NOW + half_life
    assert profile.affinity == pytest.approx({"books": 0.75, "toys": 1.0})


def test_affinity_keeps_the_strongest_categories() -> None:
    limit = DEFAULT_CONFIG.max_categories
    profile = profile_of(
        *[make("add_to_cart", NOW, sku="s", category=f"c{n}", unit_price="1") for n in range(limit)]
    )
    apply_event(profile, make("product_view", NOW, sku="s", category="weak"))  # 1 < 3: dropped
    assert len(profile.affinity) == limit
    assert "weak" not in profile.affinity
    apply_event(
        profile,
        make(
            "purchase",
            NOW,
            order_id="o",
            total="1",
            items=[{"sku": "s", "category": "strong", "unit_price": "1"}],
        ),
    )
    assert len(profile.affinity) == limit
    assert profile.affinity["strong"] == 5.0


# --- context ----------------------------------------------------------------------------------


def test_context_counts_devices_and_a_bounded_number_of_channels() -> None:
    limit = DEFAULT_CONFIG.max_channels
    events = [
        make("page_view", NOW, url="/", context={"channel": f"ch{n}", "device": "app"})
        for n in range(limit + 1)
    ]
    events.append(make("page_view", NOW, url="/", context={"channel": "ch0", "country": "DE"}))
    profile = profile_of(*events)
    assert profile.devices == {"app": limit + 1}
    assert len(profile.channels) == limit
    assert f"ch{limit}" not in profile.channels  # a new channel past the limit is not counted
    assert profile.channels["ch0"] == 2  # a known one still is


# --- order independence (property) ------------------------------------------------------------

CATEGORIES = ("fashion", "books", "toys", "home", "garden")
CHANNELS = ("web", "email", "social")
DEVICES = ("desktop", "mobile", "app")
# Offsets before NOW that sit on or next to window edges, besides arbitrary whole seconds.
EDGES = tuple(
    offset + delta
    for offset in (
        30 * MINUTE,
        59 * MINUTE,
        23 * HOUR + 30 * MINUTE,
        6 * DAY + 12.5 * HOUR,
        29 * DAY + 12.5 * HOUR,
        89 * DAY + 12.5 * HOUR,
    )
    for delta in (-1, 0, 1)
)
OFFSETS = st.one_of(st.integers(0, 120 * 86_400).map(float), st.sampled_from(EDGES))


@st.composite
def events(draw: st.DrawFn) -> ev.Event:
    kind = draw(st.sampled_from(ev.EVENT_TYPES))
    ts = NOW - draw(OFFSETS)
    category = draw(st.sampled_from(CATEGORIES))
    money = f"{draw(st.integers(0, 50_000)) / 100:.2f}"
    session = draw(st.one_of(st.none(), st.sampled_from(("s1", "s2", "s3"))))
    fields: dict[str, Any] = {}
    if kind in {
        "page_view",
        "product_view",
        "search",
        "add_to_cart",
        "remove_from_cart",
        "checkout_started",
        "purchase",
    }:
        fields["session_id"] = session
        if draw(st.booleans()):
            fields["context"] = {
                "device": draw(st.sampled_from(DEVICES)),
                "channel": draw(st.sampled_from(CHANNELS)),
            }
    if kind == "page_view":
        fields |= {"url": "/", "category": draw(st.one_of(st.none(), st.just(category)))}
    elif kind == "product_view":
        fields |= {"sku": "s", "category": category}
    elif kind == "search":
        fields |= {"query": "q"}
    elif kind == "add_to_cart":
        fields |= {"sku": "s", "category": category, "unit_price": money}
    elif kind == "remove_from_cart":
        fields |= {"sku": "s"}
    elif kind == "checkout_started":
        fields |= {"cart_value": money}
    elif kind == "purchase":
        lines = draw(
            st.lists(st.tuples(st.sampled_from(CATEGORIES), st.integers(1, 3)), max_size=3)
        )
        fields |= {
            "order_id": "o",
            "total": money,
            "discount_total": draw(st.sampled_from([None, "0", "1.50"])),
            "coupon": draw(st.sampled_from([None, "X"])),
            "items": [
                {"sku": "s", "category": c, "unit_price": "1", "quantity": q} for c, q in lines
            ],
        }
    elif kind == "identify":
        fields |= {"customer_id": "c1", "anonymous_id": "v1"}
    elif kind == "traits":
        fields["traits"] = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "age": st.integers(18, 90),
                    "city": st.sampled_from(("Berlin", "Bonn")),
                    "has_children": st.booleans(),
                    "interests": st.lists(st.sampled_from(("yoga", "golf", "chess")), max_size=2),
                },
            )
        )
    elif kind == "consent":
        fields["personalization"] = draw(st.booleans())
    return make(kind, ts, **fields)


def features_after(events: list[ev.Event], **apply: Any) -> dict[str, Any]:
    profile = Profile("c1")
    for event in events:
        apply_event(profile, event, **apply)
    return compute_features(profile, NOW)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=40), st.data())
def test_any_arrival_order_gives_the_same_features(
    history: list[ev.Event], data: st.DataObject
) -> None:
    # Sessions are excluded: they follow arrival order (see the xfail above).
    shuffled = data.draw(st.permutations(history))
    in_time_order = sorted(history, key=lambda event: event.epoch_s)
    assert_same_features(features_after(in_time_order), features_after(shuffled), skip="sessions_")
    assert_same_features(features_after(history), features_after(shuffled), skip="sessions_")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=30), st.data())
def test_duplicates_and_redeliveries_never_count_twice(
    history: list[ev.Event], data: st.DataObject
) -> None:
    once = features_after(history)
    profile = Profile("c1")
    for offset, event in enumerate(history):  # first delivery, in partition order
        apply_event(profile, event, source="events:0", offset=offset)
        # ... interleaved with redeliveries of earlier offsets and re-sends of earlier ids
        for again in data.draw(st.lists(st.integers(0, offset), max_size=2)):
            assert not apply_event(profile, history[again], source="events:0", offset=again)
            assert not apply_event(profile, history[again], source="events:7", offset=offset)
    assert profile.version == len(history)
    assert_same_features(once, compute_features(profile, NOW))


# --- bounded memory ---------------------------------------------------------------------------

SIZE_BOUND = 20_000  # bytes, for realistic ids (36-character UUIDs); see the worst case below


def test_ten_thousand_events_over_two_years_stay_bounded() -> None:
    rng = random.Random(7)
    start = NOW - 730 * DAY
    profile = Profile("c1")
    for n in range(10_000):
        ts = start + n * (730 * DAY / 10_000) + rng.uniform(-HOUR, HOUR)  # slightly out of order
        event_id = str(uuid.UUID(int=rng.getrandbits(128)))
        context = {"channel": f"channel-{n % 40}", "device": DEVICES[n % 3]}
        kind = n % 4
        if kind == 0:
            event = make(
                "purchase",
                ts,
                event_id=event_id,
                order_id=f"o{n}",
                total="49.99",
                items=[{"sku": "s", "category": f"category-{n % 60}", "unit_price": "49.99"}],
                session_id=f"s{n // 4}",
                context=context,
            )
        elif kind == 1:
            event = make(
                "product_view",
                ts,
                event_id=event_id,
                sku="s",
                category=f"category-{n % 70}",
                session_id=f"s{n // 4}",
            )
        elif kind == 2:
            event = make(
                "add_to_cart",
                ts,
                event_id=event_id,
                sku="s",
                category="home",
                unit_price="5",
                session_id=f"s{n // 4}",
                context=context,
            )
        else:
            event = make(
                "traits",
                ts,
                event_id=event_id,
                traits={"age": 20 + n % 50, "interests": ["yoga", "chess"]},
            )
        assert apply_event(profile, event, source="events:0", offset=n)
    for tier, kept in zip(b.TIERS, profile.tiers, strict=True):
        assert len(kept) <= tier.keep + 1, tier.name
    assert len(profile.recent_event_ids) == DEFAULT_CONFIG.remembered_event_ids
    assert len(profile.affinity) <= DEFAULT_CONFIG.max_categories
    assert len(profile.channels) <= DEFAULT_CONFIG.max_channels
    assert len(encode_profile(profile)) < SIZE_BOUND
    assert profile.orders == 2500  # nothing lost from the lifetime totals


def test_worst_case_profile_without_merges_stays_under_64_kib() -> None:
    """Every bounded part at its limit with maximal strings (aliases only grow with merges)."""
    profile = Profile("c" * 128)
    label = "x" * 60
    traits = {
        "age": 99,
        "gender": label,
        "income_band": "upper_middle",
        "household_size": 30,
        "has_children": True,
        "occupation": label,
        "life_stage": label,
        "country": "DE",
        "region": label,
        "city": label,
        "interests": [f"{label}{n:04}" for n in range(50)],
        "lifestyle": label,
        "values": [f"{label}{n:04}" for n in range(20)],
        "needs": [f"{label}{n:04}" for n in range(20)],
    }
    timeline = (
        [NOW - offset * DAY for offset in range(91)]
        + [NOW - offset * HOUR for offset in range(25)]
        + [NOW - offset * MINUTE for offset in range(61)]
    )
    for n, ts in enumerate(sorted(timeline) * 2):
        event = make(
            "purchase",
            ts,
            customer_id=profile.id,
            event_id=f"{n:05}" + "e" * 123,
            order_id="o",
            total="999999999.99",
            discount_total="1",
            items=[{"sku": "s", "category": f"{label}{n % 40:04}", "unit_price": "1"}],
            context={"channel": f"{label}{n % 20:04}", "device": "mobile"},
        )
        apply_event(profile, event, source=f"segstream.events:{n % 64}", offset=n)
    apply_event(profile, make("traits", NOW, customer_id=profile.id, traits=traits))
    assert [len(kept) for kept in profile.tiers] == [t.keep + 1 for t in b.TIERS]
    assert len(profile.recent_event_ids) == DEFAULT_CONFIG.remembered_event_ids
    assert len(profile.affinity) == DEFAULT_CONFIG.max_categories
    assert len(profile.channels) == DEFAULT_CONFIG.max_channels
    assert len(encode_profile(profile)) < 64 * 1024
