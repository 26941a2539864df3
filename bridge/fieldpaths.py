"""Ankaios field masks the bridge subscribes to and parsing of the field paths in events."""

from __future__ import annotations

from bridge.topics import InstanceKey

STATE_MASK = "workloadStates.*.*.*.state"
# Sub-state-only changes (Pending(Starting) -> Pending(StartingFailed)) raise no event
# on the `.state` mask, so the bridge also subscribes to the sub-state leaf.
SUBSTATE_MASK = "workloadStates.*.*.*.subState"
BRIDGE_MASKS: tuple[str, ...] = (STATE_MASK, SUBSTATE_MASK)
# The liveness probe asks for an instance that cannot exist (`$` is no character of
# Ankaios names): the server answers with an empty state, a few bytes, and the
# bridge's `.state` rule covers it.
PROBE_MASKS: tuple[str, ...] = ("workloadStates.$probe.$probe.$probe.state",)

_ROOT = "workloadStates"
_LEAVES = frozenset(("state", "subState"))
_PARTS = 5
_UNSCHEDULED_PARTS = 4


def parse_field_path(path: str) -> InstanceKey | None:
    """Return the instance a `workloadStates.<agent>.<workload>.<id>.<leaf>` path names.

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
    _, agent, workload, instance_id, _ = parts
    if not workload or not instance_id:
        return None
    return InstanceKey(agent, workload, instance_id)
