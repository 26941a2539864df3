"""The log messages of the control interface: frames of requests, answers decoded (pure).

The second (and last) module to touch `ankaios_sdk`, for the log messages of
ank_base.proto (v1.0.1): LogsRequest{workloadNames, follow, tail, since, until},
LogsCancelRequest; answered by LogsRequestAccepted{workloadNames},
LogEntriesResponse{logEntries: LogEntry{workloadName, message}},
LogsStopResponse{workloadName} and LogsCancelAccepted.
"""

from __future__ import annotations

from ankaios_sdk._protos import _ank_base, _control_api

from bridge.ankaios.framing import frame
from bridge.core.loginputs import (
    CancelLogs,
    LogAnswer,
    LogCommand,
    LogLines,
    LogsAccepted,
    LogsCancelAccepted,
    LogsStopped,
)
from bridge.core.topics import InstanceKey

KINDS = frozenset(
    ("logsRequestAccepted", "logEntriesResponse", "logsStopResponse", "logsCancelAccepted")
)


def request_frame(command: LogCommand) -> bytes:
    """Return the framed LogsRequest or LogsCancelRequest of a command."""
    if isinstance(command, CancelLogs):
        request = _ank_base.Request(
            requestId=command.request_id, logsCancelRequest=_ank_base.LogsCancelRequest()
        )
    else:
        names = [
            _ank_base.WorkloadInstanceName(
                agentName=key.agent, workloadName=key.workload, id=key.instance_id
            )
            for key in command.instances
        ]
        logs = _ank_base.LogsRequest(workloadNames=names, follow=command.follow)
        if command.tail is not None:
            logs.tail = command.tail
        if command.since is not None:
            logs.since = command.since
        request = _ank_base.Request(requestId=command.request_id, logsRequest=logs)
    return frame(_control_api.ToAnkaios(request=request).SerializeToString())


def decode_answer(response: _ank_base.Response, kind: str) -> LogAnswer:
    """Return a log answer (`kind` one of KINDS) as the owner's input."""
    request_id = response.requestId
    if kind == "logsRequestAccepted":
        names = response.logsRequestAccepted.workloadNames
        return LogsAccepted(request_id, tuple(_key(name) for name in names))
    if kind == "logEntriesResponse":
        entries = response.logEntriesResponse.logEntries
        return LogLines(request_id, tuple((_key(e.workloadName), e.message) for e in entries))
    if kind == "logsStopResponse":
        return LogsStopped(request_id, _key(response.logsStopResponse.workloadName))
    return LogsCancelAccepted(request_id)


def _key(name: _ank_base.WorkloadInstanceName) -> InstanceKey:
    return InstanceKey(name.agentName, name.workloadName, name.id)
