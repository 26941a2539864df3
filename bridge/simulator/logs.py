"""Workload logs as Ankaios 1.0.1 serves them on the control interface (no I/O).

What the simulated workloads printed, and the log campaigns of the client's
requests, with upstream's semantics (each from v1.0.1):

* The server keeps only the requested instance names that are in the desired
  state and lists them in LogsRequestAccepted (``server/src/ankaios_server.rs``,
  ``LogsRequest`` branch); an empty list starts no campaign.
* One LogEntry per line of ``podman logs [-f] [--tail N] <container id>``, without
  timestamp or stream marker (``agent/src/runtime_connectors/podman/podman_log_fetcher.rs``);
  ``--since`` is not simulated (every printed line counts).
* A fetcher needs a container: the agent creates none for an instance that has
  none (pending, not scheduled, its agent gone), and then nothing at all comes
  (``agent/src/runtime_manager.rs`` ``get_log_fetchers``).
* A fetcher ends with LogsStopResponse (``agent/src/workload_log_facade.rs``): at
  once without follow, and with follow when its container ends (a restart makes
  a new container: the stream ends and needs a new request). When the workload's
  agent disconnects the server sends the AgentDisconnected states first, then
  LogsStopResponse for it (``ankaios_server.rs`` AgentGone:
  ``send_log_stop_response_for_disconnected_agent``).
* LogsCancelRequest ends a campaign (``ankaios_server.rs``); the requester's own
  agent disconnecting drops it silently (``cancel_log_requests_of_disconnected_collector``): a
  campaign belongs to the control-interface task that asked, and a new task (an
  agent restart, a server reconnect) has none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import TypeAlias

from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import cluster, protoconv
from bridge.simulator.statetree import Node, Tree

Key: TypeAlias = tuple[str, str, str]
Messages: TypeAlias = list[_control_api.FromAnkaios]
# Lines kept per instance: podman keeps more, a simulator needs no more.
_KEPT = 1000
# States in which an instance has a container whose log podman can read.
_HAS_CONTAINER = ("RUNNING", "STOPPING", "SUCCEEDED", "FAILED")


def _name(key: Key) -> _ank_base.WorkloadInstanceName:
    agent, workload, iid = key
    return _ank_base.WorkloadInstanceName(agentName=agent, workloadName=workload, id=iid)


def _entries(request_id: str, key: Key, lines: Iterable[str]) -> _control_api.FromAnkaios:
    name = _name(key)
    entries = [_ank_base.LogEntry(workloadName=name, message=line) for line in lines]
    return protoconv.response(
        request_id, "logEntriesResponse", _ank_base.LogEntriesResponse(logEntries=entries)
    )


def _stop(request_id: str, key: Key) -> _control_api.FromAnkaios:
    stop = _ank_base.LogsStopResponse(workloadName=_name(key))
    return protoconv.response(request_id, "logsStopResponse", stop)


class LogServer:
    """The printed lines of every instance and the campaigns that follow them."""

    def __init__(self) -> None:
        self.printed: dict[Key, deque[str]] = {}
        # Request id -> the instances it follows.
        self.campaigns: dict[str, dict[Key, None]] = {}
        # Request id -> the number of the task that asked.
        self._tasks: dict[str, int] = {}

    def answer(self, request: _ank_base.Request, state: Mapping[str, Node], task: int) -> Messages:
        """Answer a LogsRequest or LogsCancelRequest of task number `task`."""
        if request.WhichOneof("RequestContent") == "logsCancelRequest":
            self.cancel(request.requestId)
            return [protoconv.response(request.requestId, "logsCancelAccepted")]
        messages = self.request(request.requestId, request.logsRequest, state)
        if request.requestId in self.campaigns:
            self._tasks[request.requestId] = task
        return messages

    def request(
        self, request_id: str, logs: _ank_base.LogsRequest, state: Mapping[str, Node]
    ) -> Messages:
        """Answer a LogsRequest: accepted, then each instance's lines and stops."""
        instances = cluster.instances(dict(state))
        wanted = [(n.agentName, n.workloadName, n.id) for n in logs.workloadNames]
        kept = [key for key in wanted if key in instances]
        messages = [protoconv.logs_accepted(request_id, [_name(key) for key in kept])]
        follow = logs.follow if logs.HasField("follow") else False
        tail = logs.tail if logs.HasField("tail") and logs.tail >= 0 else None
        following: dict[Key, None] = {}
        for key in kept:
            state_name = instances[key][0]
            if state_name not in _HAS_CONTAINER:
                continue  # no fetcher: nothing comes
            lines = list(self.printed.get(key, ()))
            if tail is not None:
                lines = lines[len(lines) - tail :] if tail else []
            if lines:
                messages.append(_entries(request_id, key, lines))
            if follow and state_name == "RUNNING":
                following[key] = None
            else:
                messages.append(_stop(request_id, key))
        if following:
            self.campaigns[request_id] = following
        return messages

    def cancel(self, request_id: str) -> None:
        """End a campaign (LogsCancelRequest)."""
        self.campaigns.pop(request_id, None)
        self._tasks.pop(request_id, None)

    def clear(self, task: int | None = None) -> None:
        """Drop the campaigns of tasks but `task` (all without one): their agent is gone."""
        for request_id, asker in list(self._tasks.items()):
            if asker != task:
                self.cancel(request_id)
        if task is None:
            self.campaigns.clear()

    def print_lines(self, key: Key, lines: Iterable[str]) -> Messages:
        """Record what an instance printed; return the entries for the campaigns following it."""
        kept = self.printed.setdefault(key, deque(maxlen=_KEPT))
        new = list(lines)
        kept.extend(new)
        return [
            _entries(request_id, key, new)
            for request_id, followed in self.campaigns.items()
            if key in followed and new
        ]

    def changed(self, state: Tree) -> Messages:
        """Stop the follows whose container ended (a restart, a stop, its agent gone)."""
        instances = cluster.instances(state)
        messages: Messages = []
        for request_id, followed in list(self.campaigns.items()):
            for key in list(followed):
                if instances.get(key, ("REMOVED",))[0] != "RUNNING":
                    del followed[key]
                    messages.append(_stop(request_id, key))
            if not followed:
                del self.campaigns[request_id]
        return messages
