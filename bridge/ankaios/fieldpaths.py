"""Ankaios field masks the bridge subscribes to and parsing of the field paths in events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

from bridge.core.topics import InstanceKey

STATE_MASK = "workloadStates.*.*.*.state"
# Sub-state-only changes (Pending(Starting) -> Pending(StartingFailed)) raise no event
# on the `.state` mask, so the bridge also subscribes to the sub-state leaf.
SUBSTATE_MASK = "workloadStates.*.*.*.subState"
# The server adds no `.state` twin for this leaf (server_state.rs
# include_both_state_and_substate_filters): its events carry the text alone.
INFO_MASK = "workloadStates.*.*.*.additionalInfo"
# `agents.*`, not `agents`: the AgentMap is left out of the server's tree while it is
# empty, and with the bare root the first agent would be reported as `agents` itself.
AGENTS_MASK = "agents.*"
# Every mask the bridge asks for, in request order (state.yaml grants exactly these).
BRIDGE_MASKS: tuple[str, ...] = (STATE_MASK, SUBSTATE_MASK, INFO_MASK, AGENTS_MASK)
# The liveness probe asks for an instance that cannot exist (`$` is no character of
# Ankaios names): the server answers with an empty state, a few bytes, and the
# bridge's `.state` rule covers it.
PROBE_MASKS: tuple[str, ...] = ("workloadStates.$probe.$probe.$probe.state",)

Leaf = Literal["state", "subState", "additionalInfo"]
_ROOT = "workloadStates"
_LEAVES = frozenset(("state", "subState", "additionalInfo"))
_PARTS = 5
_UNSCHEDULED_PARTS = 4
_AGENTS_ROOT = "agents"


def parse_field_path(path: str) -> tuple[InstanceKey, Leaf] | None:
    """Return the instance and leaf a `workloadStates.<agent>.<workload>.<id>.<leaf>` path names.

    The agent segment is empty for workloads that are not scheduled; the server's
    path rendering can also drop that empty segment altogether
    (`workloadStates.<workload>.<id>.state`), so both shapes name an unscheduled
    instance. Any other shape returns None.
    """
    parts = path.split(".")
    if len(parts) == _UNSCHEDULED_PARTS:
        parts.insert(1, "")
    if len(parts) != _PARTS or parts[0] != _ROOT or parts[4] not in _LEAVES:
        return None
    _, agent, workload, instance_id, leaf = parts
    if not workload or not instance_id:
        return None
    return InstanceKey(agent, workload, instance_id), leaf  # type: ignore[return-value]


def parse_agent_path(path: str) -> tuple[str, tuple[str, ...]] | None:
    """Return the agent an `agents.<agent>[.<field>...]` path names and the fields below it.

    `agents.hpc1` (the agent appeared or went), `agents.hpc1.status`,
    `agents.hpc1.status.cpuUsage`, `agents.hpc1.tags.<key>`; any other shape returns None.
    """
    parts = path.split(".")
    if len(parts) < 2 or parts[0] != _AGENTS_ROOT or not parts[1]:  # noqa: PLR2004
        return None
    return parts[1], tuple(parts[2:])


def instances_named(paths: Iterable[str], odd: Callable[[str], None]) -> dict[InstanceKey, None]:
    """Return the instances `paths` name, in order; `odd` is told of each path of another shape."""
    named: dict[InstanceKey, None] = {}
    for path in paths:
        parsed = parse_field_path(path)
        if parsed is None:
            odd(_unexpected(path))
        else:
            named[parsed[0]] = None
    return named


def agents_named(
    paths: Iterable[str], odd: Callable[[str], None]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Return the agents `paths` name with the fields below them; `odd` is told of other shapes."""
    named: list[tuple[str, tuple[str, ...]]] = []
    for path in paths:
        parsed = parse_agent_path(path)
        if parsed is None:
            odd(_unexpected(path))
        else:
            named.append(parsed)
    return tuple(named)


def _unexpected(path: str) -> str:
    return f"ignored field path of unexpected shape: {path[:200]!r}"
