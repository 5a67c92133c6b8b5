"""What a rule edit would do: per segment, members before and after, who enters and who exits."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rules.ruleset import RuleSet
from streams.profile import Profile
from streams.profile.features import FeatureView


@dataclass(frozen=True, slots=True)
class SegmentPreview:
    segment_id: str
    before: int | None  # None: the segment is new in the edited rules
    after: int | None  # None: the edit removes the segment
    entered: int
    exited: int
    entered_sample: tuple[str, ...]
    exited_sample: tuple[str, ...]
    member_sample: tuple[str, ...]  # members under the edited rules

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.exited) or (self.before is None) != (self.after is None)


def preview(
    profiles: Iterable[Profile], current: RuleSet, edited: RuleSet, now: float, samples: int = 5
) -> list[SegmentPreview]:
    """Evaluate both rule sets on every profile at ``now`` and compare memberships per segment.

    Profiles without personalization consent count in no segment, as in the worker.

    >>> from rules.loader import load_rule_texts
    >>> def rules(c): return load_rule_texts({"r.yaml": "segments: [{id: big, name: B, "
    ...     f"description: d, condition: '{c}'}}]"})
    >>> a, b = Profile("a", spend_cents=5_000), Profile("b", spend_cents=20_000)
    >>> [(p.before, p.after, p.entered_sample) for p in preview(
    ...     [a, b], rules("spend_lifetime >= 100"), rules("spend_lifetime >= 40"), 0.0)]
    [(1, 2, ('a',))]
    """
    before_ids = [rule.id for rule in current.rules]
    after_ids = [rule.id for rule in edited.rules]
    segment_ids = list(dict.fromkeys([*after_ids, *before_ids]))
    members: dict[str, tuple[set[str], set[str]]] = {sid: (set(), set()) for sid in segment_ids}
    for profile in profiles:
        if not profile.consent:
            continue
        view = FeatureView(profile, now)
        for sid in current.members_of(view):
            members[sid][0].add(profile.id)
        for sid in edited.members_of(view):
            members[sid][1].add(profile.id)
    out = []
    for sid in segment_ids:
        was, now_in = members[sid]
        out.append(
            SegmentPreview(
                segment_id=sid,
                before=len(was) if sid in before_ids else None,
                after=len(now_in) if sid in after_ids else None,
                entered=len(now_in - was),
                exited=len(was - now_in),
                entered_sample=tuple(sorted(now_in - was)[:samples]),
                exited_sample=tuple(sorted(was - now_in)[:samples]),
                member_sample=tuple(sorted(now_in)[:samples]),
            )
        )
    return out


def format_preview(previews: list[SegmentPreview]) -> str:
    def count(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    lines = [f"{'segment':<30} {'current':>9} {'edited':>9} {'change':>8} {'enter':>7} {'exit':>7}"]
    for p in previews:
        note = " (new)" if p.before is None else " (removed)" if p.after is None else ""
        delta = "" if p.before is None or p.after is None else f"{p.after - p.before:+,}"
        lines.append(
            f"{p.segment_id + note:<30} {count(p.before):>9} {count(p.after):>9} {delta:>8} "
            f"{p.entered:>7,} {p.exited:>7,}"
        )
        if p.entered_sample:
            lines.append(f"    entering, e.g.: {', '.join(p.entered_sample)}")
        if p.exited_sample:
            lines.append(f"    exiting, e.g.:  {', '.join(p.exited_sample)}")
        if p.member_sample and not p.changed:
            lines.append(f"    members, e.g.:  {', '.join(p.member_sample)}")
    return "\n".join(lines)
