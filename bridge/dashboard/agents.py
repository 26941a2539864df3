"""The agent lines above the instance table, like `ank get agents` (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

from bridge.dashboard.selection import format_memory, format_tags
from bridge.dashboard.table import GAP

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bridge.dashboard.selection import AgentRow

AGENT_COLUMNS = ("AGENT", "WORKLOADS", "CPU USAGE", "FREE MEMORY", "TAGS")
GONE = " (gone)"
GONE_STYLE = "dark_orange"
# The agents' heading and the blank line after their lines.
AGENT_CHROME_LINES = 2


def agent_cells(row: AgentRow) -> tuple[str, ...]:
    """Return the cells of one agent line; a gone agent has no load to show."""
    status = row.status
    if status is None:
        return (row.name + GONE, str(row.workloads), "-", "-", "-")
    cpu = "-" if status.cpu_usage is None else f"{status.cpu_usage}%"
    memory = format_memory(status.free_memory)
    return (row.name, str(row.workloads), cpu, memory, format_tags(status.tags))


def agent_lines_height(count: int, limit: int | None = None) -> int:
    """Return how many lines `build_agent_lines` takes for `count` agents."""
    if not count:
        return 0
    shown = count if limit is None else min(count, limit)
    return AGENT_CHROME_LINES + shown + (shown < count)


def build_agent_lines(rows: Sequence[AgentRow], limit: int | None = None) -> Text:
    """Return a header and one line per agent, cut rather than wrapped; empty without agents.

    With `limit`, only that many agents and a `… N more agents` line. The number
    columns are narrower than their headings, so only a new agent name or new
    tags move anything.
    """
    text = Text(no_wrap=True, overflow="crop", end="")
    if not rows:
        return text
    shown = rows[:limit]
    cells = [AGENT_COLUMNS, *(agent_cells(row) for row in shown)]
    widths = [max(map(cell_len, column)) for column in zip(*cells, strict=True)]
    for index, line in enumerate(cells):
        padded = [
            cell + " " * (width - cell_len(cell)) for cell, width in zip(line, widths, strict=True)
        ]
        style = "bold" if index == 0 else ""
        if index and shown[index - 1].status is None:
            style = GONE_STYLE
        text.append(GAP.join(padded).rstrip() + "\n", style=style)
    if len(shown) < len(rows):
        text.append(f"… {len(rows) - len(shown)} more agents\n", style="italic")
    text.append("\n")
    return text
