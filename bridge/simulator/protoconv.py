"""Protobuf messages and length-delimited framing of the control interface.

Uses the ankaios-sdk's own generated classes, so that the simulator speaks
exactly the wire format the SDK parses. No other module touches protobuf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ankaios_sdk._protos import _ank_base, _control_api
from google.protobuf.message import DecodeError

from bridge.ankaios import framing
from bridge.ankaios.framing import FrameError, FrameSplitter, encode_varint
from bridge.simulator.cluster import AGENTS, STATE_KINDS, WORKLOAD_STATES
from bridge.simulator.statetree import AlteredPaths, Node, Tree

# The bridge's own framing: one implementation, length guards included.
__all__ = ["FrameError", "FrameSplitter", "encode_varint", "frame"]

_FIELD_BY_VARIANT = {kind.variant: kind.field for kind in STATE_KINDS.values()}


def frame(message: _control_api.FromAnkaios | _control_api.ToAnkaios) -> bytes:
    """Return the message prefixed by its varint length (what one write carries)."""
    return framing.frame(message.SerializeToString())


def decode_to_ankaios(body: bytes) -> _control_api.ToAnkaios | None:
    """Return the decoded ToAnkaios message, or None when the bytes are no protobuf."""
    message = _control_api.ToAnkaios()
    try:
        message.ParseFromString(body)
    except DecodeError:
        return None
    return message


def _fill_execution(target: _ank_base.ExecutionState, execution: Mapping[str, Node]) -> None:
    info = execution.get("additionalInfo")
    if isinstance(info, str):
        target.additionalInfo = info
    field = _FIELD_BY_VARIANT.get(str(execution.get("state")))
    substate = execution.get("subState")
    # A oneof enum member must be assigned even when its value is 0 (e.g.
    # RUNNING_OK), or the execution state arrives without any state set.
    if field is not None and isinstance(substate, int):
        setattr(target, field, substate)


def _fill_workload_states(target: _ank_base.WorkloadStatesMap, states: Mapping[str, Node]) -> None:
    target.SetInParent()
    for agent, workloads in states.items():
        if not isinstance(workloads, dict):
            continue
        of_agent = target.agentStateMap[agent]
        for workload, ids in workloads.items():
            if not isinstance(ids, dict):
                continue
            of_workload = of_agent.wlNameStateMap[workload]
            for iid, execution in ids.items():
                entry = of_workload.idStateMap[iid]
                if isinstance(execution, dict):
                    _fill_execution(entry, execution)


def _fill_agents(target: _ank_base.AgentMap, agents: Mapping[str, Node]) -> None:
    # Only what the tree holds: an event's completeState is the serde tree filtered
    # by the altered paths and read back (server/src/ankaios_server/server_state.rs
    # get_complete_state_by_field_mask), so a cpuUsage-only update carries an
    # AgentStatus without free_memory, and an agent without tags has no Tags.
    target.SetInParent()
    for name, attributes in agents.items():
        entry = target.agents[name]
        if not isinstance(attributes, dict):
            continue
        status = attributes.get("status")
        if isinstance(status, dict):
            entry.status.SetInParent()
            cpu, memory = status.get("cpuUsage"), status.get("freeMemory")
            if isinstance(cpu, int):
                entry.status.cpu_usage.cpu_usage = cpu
            if isinstance(memory, int):
                entry.status.free_memory.free_memory = memory
        tags = attributes.get("tags")
        if isinstance(tags, dict):
            for key, value in tags.items():
                entry.tags.tags[key] = str(value)


def complete_state(tree: Tree) -> _ank_base.CompleteState:
    """Return the CompleteState message for a state tree."""
    message = _ank_base.CompleteState()
    states, agents = tree.get(WORKLOAD_STATES), tree.get(AGENTS)
    if isinstance(states, dict):
        _fill_workload_states(message.workloadStates, states)
    if isinstance(agents, dict):
        _fill_agents(message.agents, agents)
    return message


def _from_ankaios(response: _ank_base.Response) -> _control_api.FromAnkaios:
    return _control_api.FromAnkaios(response=response)


def accepted() -> _control_api.FromAnkaios:
    """Return the ControlInterfaceAccepted answer to a valid Hello."""
    message = _control_api.FromAnkaios()
    message.controlInterfaceAccepted.SetInParent()
    return message


def connection_closed(reason: str) -> _control_api.FromAnkaios:
    """Return a ConnectionClosed message."""
    return _control_api.FromAnkaios(connectionClosed=_control_api.ConnectionClosed(reason=reason))


def response(request_id: str, content: str, message: object = None) -> _control_api.FromAnkaios:
    """Return a Response whose ``content`` field holds ``message`` (or an empty message)."""
    answer = _ank_base.Response(requestId=request_id)
    target = getattr(answer, content)
    if message is not None:
        target.CopyFrom(message)
    else:
        target.SetInParent()
    return _from_ankaios(answer)


def error(request_id: str, text: str) -> _control_api.FromAnkaios:
    """Return an error Response (e.g. "Access denied")."""
    return response(request_id, "error", _ank_base.Error(message=text))


def state_response(
    request_id: str, tree: Tree, altered: AlteredPaths | None
) -> _control_api.FromAnkaios:
    """Return a CompleteStateResponse; ``altered`` is None for a snapshot, else an event.

    The SDK tells events from snapshots by the presence of alteredFields, so an
    event carries it even when all three lists are empty.
    """
    answer = _ank_base.CompleteStateResponse(completeState=complete_state(tree))
    if altered is not None:
        answer.alteredFields.SetInParent()
        answer.alteredFields.addedFields.extend(altered.added)
        answer.alteredFields.updatedFields.extend(altered.updated)
        answer.alteredFields.removedFields.extend(altered.removed)
    return response(request_id, "completeStateResponse", answer)


def logs_accepted(
    request_id: str, names: Sequence[_ank_base.WorkloadInstanceName]
) -> _control_api.FromAnkaios:
    """Return a LogsRequestAccepted listing the workloads whose logs would follow."""
    return response(
        request_id, "logsRequestAccepted", _ank_base.LogsRequestAccepted(workloadNames=names)
    )


def request_kind(request: _ank_base.Request) -> str:
    """Return a short name of the request's content, e.g. ``completeStateRequest+subscribe``."""
    kind = request.WhichOneof("RequestContent") or "empty"
    if kind == "completeStateRequest" and request.completeStateRequest.subscribeForEvents:
        return "completeStateRequest+subscribe"
    return kind
