"""Control-interface messages: conversion between the SDK's protobuf and own values, framed.

This and bridge.ankaios.logwire (the log messages) are the only modules that touch
`ankaios_sdk`: the SDK's generated protobuf classes define the protocol; nothing
past them sees them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from ankaios_sdk._protos import _ank_base, _control_api
from ankaios_sdk.utils import ANKAIOS_VERSION
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from bridge.ankaios import logwire
from bridge.ankaios.framing import frame
from bridge.core.inputs import AgentReport
from bridge.core.loginputs import LogAnswer
from bridge.core.model import UNKNOWN, ExecutionState, clip_info
from bridge.core.topics import InstanceKey

PROTOCOL_VERSION: str = ANKAIOS_VERSION
# Wire oneof member name -> execution state name as the SDK names it.
_STATE_NAMES: dict[str, str] = {
    "agentDisconnected": "AGENT_DISCONNECTED",
    "pending": "PENDING",
    "running": "RUNNING",
    "stopping": "STOPPING",
    "succeeded": "SUCCEEDED",
    "failed": "FAILED",
    "notScheduled": "NOT_SCHEDULED",
    "removed": "REMOVED",
}
_SUBSTATE_NAMES: dict[str, dict[int, str]] = {
    member: {value.number: value.name for value in descriptor.enum_type.values}
    for member in _STATE_NAMES
    for descriptor in (_ank_base.ExecutionState.DESCRIPTOR.fields_by_name[member],)
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """The agent accepted the Hello."""


@dataclass(frozen=True, slots=True)
class Closed:
    """The agent closed the connection for good."""

    reason: str


@dataclass(frozen=True, slots=True)
class StateAnswer:
    """A complete state: a snapshot (`altered` None) or an event."""

    request_id: str
    instances: Mapping[InstanceKey, ExecutionState]
    altered: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None
    # Values this version does not know, e.g. "unknown sub-state 9 of RUNNING".
    oddities: tuple[str, ...] = field(default=())
    # The additional info of the instances that carry a text, clipped.
    infos: Mapping[InstanceKey, str] = field(default_factory=dict)
    agents: Mapping[str, AgentReport] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ErrorAnswer:
    """The agent or server refused a request."""

    request_id: str
    message: str


@dataclass(frozen=True, slots=True)
class OtherAnswer:
    """Any other response, named by its protobuf field (or `unknown`)."""

    request_id: str
    kind: str


@dataclass(frozen=True, slots=True)
class Garbage:
    """A frame that is not a message this bridge understands."""

    reason: str


Message = Accepted | Closed | StateAnswer | ErrorAnswer | OtherAnswer | Garbage | LogAnswer


def hello_frame() -> bytes:
    """Return the framed Hello with the SDK's protocol version."""
    message = _control_api.ToAnkaios(hello=_control_api.Hello(protocolVersion=PROTOCOL_VERSION))
    return frame(message.SerializeToString())


def new_request_id() -> str:
    """Return a fresh request id (the SDK uses UUIDs too)."""
    return str(uuid.uuid4())


def state_request_frame(request_id: str, masks: tuple[str, ...], *, subscribe: bool) -> bytes:
    """Return a framed CompleteStateRequest, optionally subscribing for events."""
    request = _ank_base.Request(
        requestId=request_id,
        completeStateRequest=_ank_base.CompleteStateRequest(
            fieldMask=list(masks), subscribeForEvents=subscribe
        ),
    )
    return frame(_control_api.ToAnkaios(request=request).SerializeToString())


def cancel_frame(request_id: str) -> bytes:
    """Return a framed EventsCancelRequest for the subscription `request_id`."""
    request = _ank_base.Request(
        requestId=request_id, eventsCancelRequest=_ank_base.EventsCancelRequest()
    )
    return frame(_control_api.ToAnkaios(request=request).SerializeToString())


def decode(body: bytes) -> Message:
    """Return the message a frame body holds."""
    message = _control_api.FromAnkaios()
    try:
        message.ParseFromString(body)
    except DecodeError:
        return Garbage(f"undecodable frame of {len(body)} bytes")
    kind = message.WhichOneof("FromAnkaiosEnum")
    if kind == "controlInterfaceAccepted":
        return Accepted()
    if kind == "connectionClosed":
        return Closed(message.connectionClosed.reason)
    if kind != "response":
        return Garbage(f"unknown message kind in a frame of {len(body)} bytes")
    return _decode_response(message.response)


def _decode_response(response: _ank_base.Response) -> Message:
    request_id = response.requestId
    kind = response.WhichOneof("ResponseContent")
    if kind == "error":
        return ErrorAnswer(request_id, response.error.message)
    if kind in logwire.KINDS:
        return logwire.decode_answer(response, kind)
    if kind != "completeStateResponse":
        return OtherAnswer(request_id, kind or "unknown")
    answer = response.completeStateResponse
    oddities: list[str] = []
    infos: dict[InstanceKey, str] = {}
    instances = _instances(answer.completeState, oddities, infos)
    agents = _agents(answer.completeState)
    altered = None
    if answer.HasField("alteredFields"):
        fields = answer.alteredFields
        altered = (
            tuple(fields.addedFields),
            tuple(fields.updatedFields),
            tuple(fields.removedFields),
        )
    return StateAnswer(request_id, instances, altered, tuple(oddities), infos, agents)


def _instances(
    complete_state: _ank_base.CompleteState, oddities: list[str], infos: dict[InstanceKey, str]
) -> dict[InstanceKey, ExecutionState]:
    # Keys and indexing, not items(): protobuf's map items() is a Python-level
    # view, twice as slow on the decode of every event.
    instances: dict[InstanceKey, ExecutionState] = {}
    agent_map = complete_state.workloadStates.agentStateMap
    for agent in agent_map:
        workload_map = agent_map[agent].wlNameStateMap
        for workload in workload_map:
            id_map = workload_map[workload].idStateMap
            for instance_id in id_map:
                execution = id_map[instance_id]
                key = InstanceKey(agent, workload, instance_id)
                # Upstream 1.0.1 sends "" for none: only texts are kept (10,000
                # empty ones cost 3 MiB), and a missing one reads as "".
                info = execution.additionalInfo
                if info:
                    infos[key] = clip_info(info)
                state = _execution_state(execution, oddities)
                if state is not None:
                    instances[key] = state
    return instances


def _agents(complete_state: _ank_base.CompleteState) -> dict[str, AgentReport]:
    agents: dict[str, AgentReport] = {}
    agent_map = complete_state.agents.agents
    for name in agent_map:
        attributes = agent_map[name]
        status = attributes.status
        cpu = status.cpu_usage.cpu_usage if status.HasField("cpu_usage") else None
        memory = status.free_memory.free_memory if status.HasField("free_memory") else None
        tags = dict(attributes.tags.tags) if attributes.HasField("tags") else None
        agents[name] = AgentReport(cpu, memory, tags)
    return agents


def _execution_state(
    execution: _ank_base.ExecutionState, oddities: list[str]
) -> ExecutionState | None:
    member = execution.WhichOneof("ExecutionStateEnum")
    if member is None:
        # A newer Ankaios may add states: protobuf keeps them as unknown fields.
        unknown = UnknownFieldSet(execution)
        numbers = sorted({unknown[index].field_number for index in range(len(unknown))})
        if not numbers:
            # Only additionalInfo or nothing: not a state (the SDK raises here).
            return None
        oddities.append(f"unknown execution state (protobuf field {numbers[0]})")
        return ExecutionState(UNKNOWN, UNKNOWN)
    value = getattr(execution, member)
    substate = _SUBSTATE_NAMES[member].get(value)
    if substate is None:
        oddities.append(f"unknown sub-state {value} of {_STATE_NAMES[member]}")
        substate = UNKNOWN
    return ExecutionState(_STATE_NAMES[member], substate)
