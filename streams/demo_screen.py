"""The demo's live screen: a table that fits 80 columns. Pure: the caller reads and prints.

One frame shows how long the demo has run, events in and their rate, repeats the worker dropped,
then per segment (rules, then clusters) its members, its share of the simulated customers, how
fast it grows and what it means (a cluster's generated description gets a line of its own), and
the totals. On a terminal each frame replaces the last; piped
(``| tee``), frames follow one another as plain text, without escape codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WIDTH = 80
CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen
NAME_W, SIZE_W, SHARE_W, RATE_W = 26, 8, 6, 6
ABOUT_W = WIDTH - NAME_W - SIZE_W - SHARE_W - RATE_W - 4  # four single spaces between columns
ELLIPSIS = "..."


@dataclass(frozen=True, slots=True)
class SegmentRow:
    segment_id: str
    members: int
    about: str  # the rule's description, or the cluster's generated description
    growth_per_s: float | None = None  # members gained per second since the last frame


@dataclass(frozen=True, slots=True)
class Snapshot:
    elapsed_s: float
    customers: int  # how many customers the simulator plays
    rules: list[SegmentRow]
    clusters: list[SegmentRow] = field(default_factory=list)
    model_version: str | None = None  # None: no cluster model in use yet
    events_in: int | None = None  # None: the worker's stats could not be read
    events_per_s: float | None = None
    repeats: int | None = None  # events the worker dropped as already applied


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut.

    >>> fit("vip_big_spenders_in_dach", 12), fit("short", 12)
    ('vip_big_s...', 'short')
    """
    return text if len(text) <= width else text[: max(width - len(ELLIPSIS), 0)] + ELLIPSIS


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _header(snap: Snapshot) -> list[str]:
    rate = "" if snap.events_per_s is None else f" ({snap.events_per_s:,.0f}/s)"
    up = _duration(snap.elapsed_s)
    first = f"segstream demo  up {up}  {snap.customers:,} simulated customers"
    second = f"events in {_count(snap.events_in)}{rate}  repeats dropped {_count(snap.repeats)}"
    return [fit(first, WIDTH), fit(second, WIDTH), ""]


def _columns(name: str, size: str, share: str, rate: str, about: str) -> str:
    return (
        f"{fit(name, NAME_W):<{NAME_W}} {fit(size, SIZE_W):>{SIZE_W}} "
        f"{fit(share, SHARE_W):>{SHARE_W}} {fit(rate, RATE_W):>{RATE_W}} {fit(about, ABOUT_W)}"
    ).rstrip()


def _row(row: SegmentRow, customers: int) -> str:
    share = f"{100 * row.members / customers:.1f}%" if customers > 0 else "-"
    rate = "-" if row.growth_per_s is None else f"{row.growth_per_s:+.1f}"
    return _columns(row.segment_id, f"{row.members:,}", share, rate, row.about)


def _cluster_rows(row: SegmentRow, customers: int) -> list[str]:
    return [_row(SegmentRow(row.segment_id, row.members, "", row.growth_per_s), customers),
            fit(f"    {row.about}", WIDTH)]  # fmt: skip


def _section(title: str, rows: list[str], empty: str) -> list[str]:
    return [_columns(title, "members", "share", "per s", "about"), *(rows or [f"  {empty}"])]


def render(snap: Snapshot) -> list[str]:
    """One frame, every line at most WIDTH characters."""
    model = "no model yet" if snap.model_version is None else f"model {snap.model_version}"
    lines = _header(snap)
    rule_rows = [_row(row, snap.customers) for row in snap.rules]
    cluster_rows = [line for row in snap.clusters for line in _cluster_rows(row, snap.customers)]
    lines += _section("rule segments", rule_rows, "none configured")
    lines.append("")
    lines += _section(
        fit(f"clusters ({model})", NAME_W),
        cluster_rows,
        "none yet: the trainer publishes its first model after enough samples",
    )
    rows = [*snap.rules, *snap.clusters]
    total = sum(row.members for row in rows)
    in_segments = sum(1 for row in rows if row.members)
    lines += [
        "-" * WIDTH,
        fit(f"total: {total:,} memberships in {in_segments} of {len(rows)} segments", WIDTH),
    ]
    return lines


def frame(lines: list[str], *, tty: bool) -> str:
    """What to print: on a terminal, clear it first; piped, plain lines and a blank one after."""
    text = "\n".join(lines)
    return f"{CLEAR}{text}" if tty else f"{text}\n"
