"""What a state answer of each of the bridge's subscriptions means, as owner inputs (pure).

The bridge keeps three subscriptions apart, since one denied mask denies a whole
request: the workload states (state and sub-state), the additional info, and the
agents. The state in an event is filtered by the paths it reports, so an
instance or agent is taken from it only for the paths that name it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from bridge.ankaios.fieldpaths import (
    AGENTS_MASK,
    INFO_MASK,
    STATE_MASK,
    SUBSTATE_MASK,
    parse_agent_path,
    parse_field_path,
)
from bridge.ankaios.protocol import StateAnswer
from bridge.core.inputs import AgentReport, Agents, Changes, Infos, Snapshot
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey

Report = Snapshot | Changes | Infos | Agents


class Topic(enum.Enum):
    """What one subscription of the bridge is about."""

    STATES = "workload states"
    INFOS = "additional info"
    AGENTS = "agents"


# The masks asked for first, and when those are denied (empty: none).
MASKS: dict[Topic, tuple[str, ...]] = {
    Topic.STATES: (STATE_MASK, SUBSTATE_MASK),
    Topic.INFOS: (INFO_MASK,),
    Topic.AGENTS: (AGENTS_MASK,),
}
FALLBACK: dict[Topic, tuple[str, ...]] = {
    Topic.STATES: (STATE_MASK,),
    Topic.INFOS: (),
    Topic.AGENTS: (),
}


@dataclass(frozen=True, slots=True)
class Meaning:
    """The input an event gives, and whether it named an instance it did not carry."""

    report: Report | None
    missing: bool = False


def snapshot_of(topic: Topic, answer: StateAnswer) -> Report:
    """Return the input the first answer of a subscription gives: everything there is."""
    if topic is Topic.STATES:
        return Snapshot(answer.instances)
    if topic is Topic.INFOS:
        return Infos(answer.infos, complete=True)
    return Agents(answer.agents, complete=True)


def event_of(topic: Topic, answer: StateAnswer, odd: Callable[[str], None]) -> Meaning:
    """Return what an event of a subscription means; `odd` is told of unexpected paths."""
    assert answer.altered is not None  # noqa: S101 - only events get here
    if topic is Topic.AGENTS:
        return Meaning(_agents(answer, odd))
    added, updated, removed = answer.altered
    changed: dict[InstanceKey, None] = {}
    for path in (*added, *updated):
        parsed = _parse(path, odd)
        if parsed is not None:
            changed[parsed] = None
    gone = frozenset(key for path in removed if (key := _parse(path, odd)) is not None)
    if topic is Topic.INFOS:
        # A removed info belongs to a removed instance or a cleared text: "" either way.
        infos = {key: answer.infos.get(key, "") for key in (*changed, *gone)}
        return Meaning(Infos(infos, complete=False) if infos else None)
    upserts: dict[InstanceKey, ExecutionState] = {}
    missing = False
    for key in changed:
        execution = answer.instances.get(key)
        if execution is None:
            # Upstream may omit not-scheduled instances from an event's state:
            # read the state afresh rather than lose the change.
            missing = True
        else:
            upserts[key] = execution
    if not upserts and not gone:
        return Meaning(None, missing)
    return Meaning(Changes(upserts, gone - upserts.keys()), missing)


def _parse(path: str, odd: Callable[[str], None]) -> InstanceKey | None:
    parsed = parse_field_path(path)
    if parsed is None:
        odd(f"ignored field path of unexpected shape: {path[:200]!r}")
        return None
    return parsed[0]


def _agents(answer: StateAnswer, odd: Callable[[str], None]) -> Agents | None:
    assert answer.altered is not None  # noqa: S101 - only events get here
    added, updated, removed = answer.altered
    altered: list[tuple[str, tuple[str, ...]]] = []
    gone: list[tuple[str, tuple[str, ...]]] = []
    for paths, into in (((*added, *updated), altered), (removed, gone)):
        for path in paths:
            parsed = parse_agent_path(path)
            if parsed is None:
                odd(f"ignored field path of unexpected shape: {path[:200]!r}")
            else:
                into.append(parsed)
    if not altered and not gone:
        return None
    reports = {name: answer.agents.get(name, AgentReport()) for name, _ in altered}
    return Agents(reports, complete=False, altered=tuple(altered), removed=tuple(gone))
