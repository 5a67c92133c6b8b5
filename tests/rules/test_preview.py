"""Previews count members under both rule sets and name who enters and who exits."""

from __future__ import annotations

from rules.loader import load_rule_texts
from rules.preview import format_preview, preview
from rules.ruleset import RuleSet
from streams.profile import Profile


def rules(**conditions: str) -> RuleSet:
    items = ", ".join(
        f"{{id: {sid}, name: N, description: d, condition: '{c}'}}" for sid, c in conditions.items()
    )
    return load_rule_texts({"r.yaml": f"segments: [{items}]"})


def test_sizes_entries_exits_new_and_removed_segments() -> None:
    profiles = [Profile(f"c{n}", spend_cents=n * 10_000) for n in range(6)]  # 0..500
    profiles.append(Profile("no-consent", spend_cents=10**6, consent=False))
    current = rules(big="spend_lifetime >= 300", gone="spend_lifetime < 100")
    edited = rules(big="spend_lifetime >= 200 and spend_lifetime < 500", vip="spend_lifetime > 400")
    by_id = {p.segment_id: p for p in preview(profiles, current, edited, now=0.0, samples=2)}
    big = by_id["big"]
    assert (big.before, big.after, big.entered, big.exited) == (3, 3, 1, 1)
    assert (big.entered_sample, big.exited_sample) == (("c2",), ("c5",))
    assert (by_id["vip"].before, by_id["vip"].after) == (None, 1)
    assert (by_id["gone"].before, by_id["gone"].after, by_id["gone"].exited) == (1, None, 1)
    text = format_preview(list(by_id.values()))
    assert "vip (new)" in text
    assert "gone (removed)" in text
    assert "entering, e.g.: c2" in text
