"""The whole dashboard screen: header, instance table and summary, pure like the table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Group
from rich.text import Text

from bridge.dashboard.agents import agent_lines_height, build_agent_lines
from bridge.dashboard.selection import EVERYTHING, Selection, agent_rows, select, shown_state
from bridge.dashboard.table import LOOKS, UNKNOWN_LOOK, build_table, format_age, look, one_line
from bridge.dashboard.tree import View, stale_reason

if TYPE_CHECKING:
    from datetime import datetime

# Header (up to 2 lines), table head and rule, `… N more`, summary.
CHROME_LINES = 6


def summary(view: View) -> Text:
    """Return `12 workloads · 10 running · 1 pending · 1 failed` for the shown instances."""
    counts: dict[str, int] = {}
    for instance in view.shown.instances.values():
        label = look(shown_state(instance)).counted_as
        counts[label] = counts.get(label, 0) + 1
    total = len(view.shown.instances)
    parts = [f"{total} workload{'' if total == 1 else 's'}"]
    labels = [shown.counted_as for shown in (*LOOKS.values(), UNKNOWN_LOOK)]
    parts.extend(f"{counts[label]} {label}" for label in labels if label in counts)
    return Text(" · ".join(parts))


def notices(view: View) -> list[tuple[str, str]]:
    """Return the bridge's own words for the header, with their style.

    While it is offline, why it had to stop (`$bridge/info` `stopped`); while it runs,
    its `warnings`. Each is one line (a terminal narrower than it wraps it).
    """
    info = view.shown.info or {}
    stopped, warnings = info.get("stopped"), info.get("warnings")
    if view.shown.bridge == "offline" and isinstance(stopped, dict):
        text = f"STOPPED at {stopped.get('at')}: {stopped.get('reason')}; {stopped.get('advice')}"
        return [(one_line(text), "bold red")]
    if view.shown.bridge == "online" and isinstance(warnings, list):
        return [
            (one_line(f"WARNING: {item}"), "yellow") for item in warnings if isinstance(item, str)
        ]
    return []


def header(view: View, broker: str, now: datetime) -> Text:
    """Return the broker, this dashboard's connection, the bridge status and any stale mark."""
    text = Text(f"broker {broker} · ")
    if view.connection == "connected" and view.loading is not None and not view.snapshots:
        text.append("loading", style="yellow")
    else:
        connected = view.connection == "connected"
        text.append(view.connection, style="green" if connected else "red")
    if view.reason:
        text.append(f" ({view.reason})")
    bridge = view.shown.bridge
    text.append(" · bridge ")
    text.append(bridge, style={"online": "green", "offline": "red"}.get(bridge, "yellow"))
    ankaios = view.shown.ankaios
    text.append(" · ankaios ")
    text.append(ankaios, style={"connected": "green", "disconnected": "red"}.get(ankaios, "yellow"))
    if view.shown.ignored:
        text.append(f" · ignored: {view.shown.ignored}", style="yellow")
    reason = stale_reason(view)
    if reason is not None and view.stale_since is not None:
        moment = view.stale_since.astimezone(now.tzinfo).strftime("%H:%M:%S")
        when = f"since {moment} ({format_age(view.stale_since, now)})"
        if not view.stale_exact:
            when = f"since before {moment}"
        text.append(f"\nSTALE {when}: {reason}", style="bold red")
    for line, style in notices(view):
        text.append(f"\n{line}", style=style)
    return text


def build_screen(
    view: View,
    broker: str,
    now: datetime,
    height: int | None = None,
    selection: Selection = EVERYTHING,
) -> Group:
    """Return header, agents, instance table and summary of the selected instances and agents.

    With `height`, agents and instances are cut to fit it; the agents get at most half.
    """
    agents = agent_rows(view.shown, selection)
    selected = select(view, selection)
    agent_limit = limit = None
    if height is not None:
        room = height - CHROME_LINES - len(notices(view))
        agent_limit = max(1, room // 2 - 3)
        limit = max(1, room - agent_lines_height(len(agents), agent_limit))
    table = build_table(selected, now, limit, dim=stale_reason(view) is not None)
    agent_lines = build_agent_lines(agents, agent_limit)
    return Group(header(view, broker, now), agent_lines, table, summary(selected))
