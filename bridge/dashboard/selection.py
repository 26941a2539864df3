"""What the dashboard shows of the tree: the `--agent` and `--state` filters, the agents (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING

from bridge.ankaios.fieldpaths import AGENTS_MASK
from bridge.core.model import UNKNOWN

if TYPE_CHECKING:
    from bridge.dashboard.payloads import AgentStatus
    from bridge.dashboard.tree import Instance, Tree, View


@dataclass(frozen=True, slots=True)
class Selection:
    """Which instances and agents to show; an empty tuple selects everything."""

    agents: tuple[str, ...] = ()
    # Execution state names as in bridge.core.model.STATES, upper case.
    states: tuple[str, ...] = ()

    def picks_agent(self, name: str) -> bool:
        """Tell whether the agent (and its instances) are selected by `--agent`."""
        return not self.agents or name in self.agents

    def picks(self, agent: str, instance: Instance) -> bool:
        """Tell whether an instance of `agent` is selected by both filters."""
        return self.picks_agent(agent) and (not self.states or shown_state(instance) in self.states)


EVERYTHING = Selection()


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One agent as the dashboard shows it; `status` None means the agent is gone."""

    name: str
    workloads: int
    status: AgentStatus | None


def shown_state(instance: Instance) -> str:
    """Return the state an instance shows: the `status` topic's, else the `state` topic's."""
    status = instance.status
    if status is not None:
        return status.state
    return instance.state or UNKNOWN


def agent_rows(tree: Tree, selection: Selection = EVERYTHING) -> list[AgentRow]:
    """Return the agents sorted by name with how many instances each has.

    An agent is gone when its status was cleared while the dashboard watched, or
    when instances name it but it has no status (it disconnected before the
    dashboard came). That second rule is off when the bridge's info says it does
    not read agents: a bridge Ankaios denies them publishes none.
    The count is of all of the agent's instances, whatever `--state` selects, as
    `ank get agents` counts.
    """
    counts: dict[str, int] = {}
    for key in tree.instances:
        if key.agent:
            counts[key.agent] = counts.get(key.agent, 0) + 1
    masks = tree.info.get("masks") if tree.info is not None else None
    reads_agents = not isinstance(masks, list) or AGENTS_MASK in masks
    names = {*tree.agents, *tree.gone, *(counts if reads_agents else ())}
    return [
        AgentRow(name, counts.get(name, 0), tree.agents.get(name))
        for name in sorted(names)
        if selection.picks_agent(name)
    ]


def select(view: View, selection: Selection) -> View:
    """Return the view with only the selected instances in its shown tree."""
    if selection == EVERYTHING:
        return view
    shown = view.shown
    instances = {
        key: instance
        for key, instance in shown.instances.items()
        if selection.picks(key.agent, instance)
    }
    return replace(view, shown=replace(shown, instances=MappingProxyType(instances)))


def format_memory(size: int | None) -> str:
    """Return bytes in 1024-based units, as precise as a glance needs: `7.6 GiB`."""
    if size is None:
        return "-"
    if size < _KIB:
        return f"{size} B"
    value = size / _KIB
    for unit in _UNITS[:-1]:
        if round(value, 1) < _KIB:
            return f"{value:.1f} {unit}"
        value /= _KIB
    return f"{value:.1f} {_UNITS[-1]}"


_KIB = 1024
_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB")


def format_tags(tags: tuple[tuple[str, str], ...]) -> str:
    """Return the tags as `key=value,key=value`, `-` for none."""
    return ",".join(f"{key}={value}" for key, value in tags) or "-"
