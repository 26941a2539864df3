"""The instance table: a pure function of the view and the time, one line per instance."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style

from bridge.core.model import SUBSTATES, UNKNOWN

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console, ConsoleOptions, RenderResult

    from bridge.dashboard.tree import View

NOT_SCHEDULED_AGENT = "(not scheduled)"
COLUMNS = ("AGENT", "WORKLOAD", "ID", "STATE", "SUBSTATE", "SINCE", "ADDITIONAL INFO")
SHORT_ID = 8
GAP = "   "


@dataclass(frozen=True, slots=True)
class Look:
    """How one execution state is shown: the glyph keeps its meaning when colour is off."""

    name: str
    glyph: str
    style: str
    counted_as: str


# Names as `ank get workloads` prints them; colours after k9s and lazydocker.
LOOKS: dict[str, Look] = {
    "RUNNING": Look("Running", "●", "green", "running"),
    "PENDING": Look("Pending", "◐", "yellow", "pending"),
    "STOPPING": Look("Stopping", "◑", "magenta", "stopping"),
    "SUCCEEDED": Look("Succeeded", "✓", "dim", "succeeded"),
    "FAILED": Look("Failed", "✗", "bold red", "failed"),
    "NOT_SCHEDULED": Look("NotScheduled", "○", "dim", "not scheduled"),
    "AGENT_DISCONNECTED": Look("AgentDisconnected", "?", "dark_orange", "agent disconnected"),
    "REMOVED": Look("Removed", "⊘", "dim", "removed"),
}
UNKNOWN_LOOK = Look("Unknown", "▼", "", "unknown")
_FAILED_SUBSTATES = frozenset(("PENDING_STARTING_FAILED", "STOPPING_DELETE_FAILED"))


def look(state: str, substate: str | None = None) -> Look:
    """Return how a state is shown; a failed sub-state turns it red."""
    found = LOOKS.get(state, UNKNOWN_LOOK)
    if substate in _FAILED_SUBSTATES:
        return Look(found.name, found.glyph, "red", found.counted_as)
    return found


def substate_name(state: str, substate: str) -> str:
    """Return the sub-state as ank prints it: `PENDING_STARTING_FAILED` -> `StartingFailed`."""
    rest = substate.removeprefix(state + "_") if substate != state else substate
    return "".join(part.capitalize() for part in rest.split("_"))


def format_age(since: datetime | None, now: datetime) -> str:
    """Return how long ago `since` was, as precise as a glance needs."""
    if since is None:
        return "-"
    seconds = int((now - since).total_seconds())
    if seconds < _MINUTE:
        return f"{max(seconds, 0)}s ago"
    if seconds < _HOUR:
        return f"{seconds // _MINUTE}m {seconds % _MINUTE:02d}s ago"
    if seconds < _DAY:
        return f"{seconds // _HOUR}h {seconds % _HOUR // _MINUTE:02d}m ago"
    return f"{seconds // _DAY}d {seconds % _DAY // _HOUR:02d}h ago"


_MINUTE, _HOUR, _DAY = 60, 3600, 86400


@cache  # bounded: the view holds only known state and sub-state names
def state_cells(state: str, substate: str | None) -> tuple[str, str, str]:
    """Return the STATE text, its style and the SUBSTATE text of one execution state."""
    shown = look(state, substate)
    substate_text = "-" if substate is None else substate_name(state, substate)
    return f"{shown.glyph} {shown.name}", shown.style, substate_text


@dataclass(frozen=True, slots=True)
class InstanceTable:
    """The table as a rich renderable; only the STATE cell has a style of its own.

    It writes its lines itself: rich's own Table needs seconds for 10,000 rows.
    A line never wraps, so `--once | grep` sees one whole instance per line.
    """

    lines: tuple[tuple[str, ...], ...]
    state_styles: tuple[str, ...]
    more: int = 0
    dim: bool = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        base = Style(dim=True) if self.dim else Style()
        lines, full = self.text_lines(ascii_only=options.ascii_only)
        styles = {name: base + console.get_style(name) for name in {"", *self.state_styles}}
        row_styles = [base + Style(bold=True), base, *(styles[name] for name in self.state_styles)]
        if full > options.max_width:
            for index, ((left, state, right), style) in enumerate(
                zip(lines, row_styles, strict=True)
            ):
                outer = row_styles[0] if index == 0 else base
                end = right if index == 1 else _cut(left + state, right, options.max_width)
                segments = [Segment(left, outer), Segment(state, style), Segment(end, outer)]
                yield from Segment.adjust_line_length(segments, options.max_width, pad=False)
                yield _NEWLINE
        elif console.color_system is None:
            # Without colour a line is one segment: it halves the time for 10,000 rows.
            yield from (Segment(f"{left}{state}{right}\n") for left, state, right in lines)
        else:
            left, state, right = lines[0]
            yield Segment(f"{left}{state}{right}\n", row_styles[0])
            # A row's end and the next row's start share one segment: fewer segments
            # is what makes 10,000 coloured rows fast.
            tail = ""
            for (left, state, right), style in zip(lines[1:], row_styles[1:], strict=True):
                yield Segment(tail + left, base)
                yield Segment(state, style)
                tail = right + "\n"
            yield Segment(tail, base)
        if self.more:
            yield Segment(f"… {self.more} more", base + Style(italic=True))
            yield _NEWLINE

    def text_lines(self, *, ascii_only: bool = False) -> tuple[list[tuple[str, str, str]], int]:
        """Return header, rule and rows split around the STATE cell, and the full width."""
        columns = list(zip(COLUMNS, *self.lines, strict=True))
        sizes = [_widths(column) for column in columns]
        widths = [
            max(*column_sizes, least) for column_sizes, least in zip(sizes, MIN_WIDTHS, strict=True)
        ]
        full = sum(widths) + len(GAP) * (len(widths) - 1)
        # Padded a column at a time, as comprehensions keep 10,000 rows fast; the
        # last column is not padded, so no line ends in blanks.
        padded = [
            [text + " " * (width - size) for text, size in zip(column, column_sizes, strict=True)]
            for column, column_sizes, width in zip(columns[:-1], sizes, widths, strict=False)
        ]
        padded.append(list(columns[-1]))
        lines = [
            (
                GAP.join(row[:_STATE]) + GAP,
                row[_STATE],
                (GAP + GAP.join(row[_STATE + 1 :])).rstrip(),
            )
            for row in zip(*padded, strict=True)
        ]
        lines.insert(1, (("-" if ascii_only else "─") * full, "", ""))
        return lines, full


_STATE = COLUMNS.index("STATE")
_NEWLINE = Segment.line()


def _cut(start: str, right: str, width: int) -> str:
    """Return `right` cut with `…` so that the line ends at `width` (the info column is cut)."""
    room = width - cell_len(start) - 1
    if room < 0 or cell_len(start) + cell_len(right) <= width:
        return right
    return set_cell_size(right, room) + "…"


def one_line(text: str) -> str:
    """Return the text with line breaks and control characters as spaces: a row never wraps."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else " " for char in text)


def _min_widths() -> tuple[int, ...]:
    """Return the smallest width of each column, so that no state appearing widens the table.

    STATE and SUBSTATE are as wide as the longest name there is, SINCE as wide as
    any age up to 99 days; only the names of agents, workloads and the info vary.
    """
    states = [f"{shown.glyph} {shown.name}" for shown in (*LOOKS.values(), UNKNOWN_LOOK)]
    substates = [substate_name(state, sub) for state, subs in SUBSTATES.items() for sub in subs]
    least = dict.fromkeys(COLUMNS, 0)
    least["STATE"] = max(map(cell_len, states))
    least["SUBSTATE"] = max(map(len, (*substates, substate_name(UNKNOWN, UNKNOWN))))
    least["SINCE"] = len("23h 59m ago")
    return tuple(least.values())


MIN_WIDTHS = _min_widths()


def _widths(texts: tuple[str, ...]) -> list[int]:
    # Ankaios names are ASCII, so one check per column usually spares cell_len.
    if "".join(texts).isascii():
        return list(map(len, texts))
    return list(map(cell_len, texts))


def build_table(
    view: View, now: datetime, limit: int | None = None, *, dim: bool = False
) -> InstanceTable:
    """Return the shown instances sorted by agent, workload and instance id, one row each.

    With `limit`, only that many rows and a `… N more` line. An instance without
    its `status` topic shows the `state` topic's state and `-` for sub-state and age.
    A line wider than the terminal ends in `…`: only ADDITIONAL INFO is ever that long.
    """
    instances = view.shown.instances
    lines = []
    styles = []
    # InstanceKey is a NamedTuple (agent, workload, instance_id): its natural order
    # is the stable row order, compared in C.
    for key in sorted(instances)[:limit]:
        instance = instances[key]
        status = instance.status
        if status is not None:
            state, style, substate = state_cells(status.state, status.substate)
            age = format_age(status.since, now)
            info = one_line(status.additional_info)
        else:
            state, style, substate = state_cells(instance.state or UNKNOWN, None)
            age = "-"
            info = ""
        agent = key.agent or NOT_SCHEDULED_AGENT
        short = key.instance_id[:SHORT_ID]
        lines.append((agent, key.workload, short, state, substate, age, info))
        styles.append(style)
    return InstanceTable(tuple(lines), tuple(styles), len(instances) - len(lines), dim)
