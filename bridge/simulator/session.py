"""One control-interface task of the agent: handshake, requests, events (no I/O).

Follows Ankaios 1.0 ``agent/src/control_interface/control_interface_task.rs``
(handshake, authorisation, forwarding) and the server's request handling
(``ankaios_server.rs``): the session turns incoming frames and state changes
into the FromAnkaios messages the agent would write.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import protoconv
from bridge.simulator.authorizer import Authorizer
from bridge.simulator.logs import LogServer
from bridge.simulator.statefilter import select
from bridge.simulator.statetree import Node, Tree, difference, event_paths

SUPPORTED_MAJOR = 1
INITIAL_HELLO_MISSING = "Initial Hello missing!"
DECODE_ERROR = "Could not decode protobuf data"
ACCESS_DENIED = "Access denied"
# agent/src/main.rs BUFFER_SIZE: the to_server channel every control-interface task feeds.
TO_SERVER_CAPACITY = 20
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$"
)

Messages: TypeAlias = list[_control_api.FromAnkaios]


def version_error(version: str) -> str | None:
    """Return why the agent refuses a Hello's protocol version, or None to accept it."""
    match = _SEMVER.match(version)
    if match is None or int(match.group(1)) != SUPPORTED_MAJOR:
        return f"Unsupported protocol version '{version}'. Currently supported '{SUPPORTED_MAJOR}'"
    return None


class Phase(enum.Enum):
    """Where the control-interface task of the agent is."""

    WAIT_HELLO = "waiting for Hello"
    CONNECTED = "connected"
    CLOSED = "closed"  # after ConnectionClosed the agent's task has ended
    DOWN = "down"  # the agent process is not running (or the task was aborted)


@dataclass
class Journal:
    """What every task of one agent simulator saw, and settings they share."""

    hello_count: int = 0
    requests: list[str] = field(default_factory=list)
    frames: list[tuple[int, str]] = field(default_factory=list)
    ignore_hello: bool = False
    # None: the server answers at once; a list: the agent's to_server channel
    # while the server is unreachable (requests wait there, unanswered).
    outbox: list[_ank_base.Request] | None = None
    # None: the server works; a list: a hung server's backlog, requests and the events of
    # changes in arrival order, answered and delivered late (Lifecycle.hang_server).
    backlog: list[Callable[[], Messages]] | None = None
    logs: LogServer = field(default_factory=LogServer)


class Session:
    """The protocol state of one control-interface task and its subscriptions."""

    def __init__(
        self, authorizer: Authorizer, journal: Journal | None = None, number: int = 1
    ) -> None:
        self.authorizer = authorizer
        self.journal = journal if journal is not None else Journal()
        self.number = number
        self.phase = Phase.WAIT_HELLO
        self.subscriptions: dict[str, tuple[str, ...]] = {}
        # The task's FromServerChannels (capacity 1024): answers and events wait
        # there until the handshake is done (control_interface_task.rs `run`).
        self.pending: Messages = []
        # The task is stuck in `to_server_sender.send(...).await` (channel full).
        self.blocked = False

    @property
    def hello_count(self) -> int:
        """Hellos received over all tasks sharing the journal."""
        return self.journal.hello_count

    @property
    def requests(self) -> list[str]:
        """Request kinds received over all tasks sharing the journal."""
        return self.journal.requests

    @property
    def ignore_hello(self) -> bool:
        """When True, Hellos are counted but never answered."""
        return self.journal.ignore_hello

    @ignore_hello.setter
    def ignore_hello(self, value: bool) -> None:
        self.journal.ignore_hello = value

    @property
    def server_reachable(self) -> bool:
        """False while allowed requests wait in the to_server channel."""
        return self.journal.outbox is None

    @property
    def alive(self) -> bool:
        """True while the task runs (waiting for Hello or connected)."""
        return self.phase in (Phase.WAIT_HELLO, Phase.CONNECTED)

    def restart(self, phase: Phase) -> None:
        """Forget the task: a new agent process has no subscriptions and wants a Hello."""
        self.phase = phase
        self.subscriptions.clear()
        self.pending.clear()

    def close(self, reason: str) -> Messages:
        """End the task with ConnectionClosed; queued answers are never delivered."""
        self.phase = Phase.CLOSED
        self.pending.clear()
        return [protoconv.connection_closed(reason)]

    def deliver(self, messages: Messages) -> Messages:
        """Route messages from the server: written if connected, queued while waiting for Hello."""
        if self.phase is Phase.CONNECTED:
            return messages
        if self.phase is Phase.WAIT_HELLO:
            self.pending.extend(messages)
        return []

    def _record(self, kind: str) -> None:
        self.journal.frames.append((self.number, kind))

    def receive(self, body: bytes, state: Mapping[str, Node]) -> Messages:
        """Return the messages the agent writes in answer to one frame body."""
        if not self.alive or self.blocked:
            return []
        message = protoconv.decode_to_ankaios(body)
        if message is None:
            self._record("undecodable")
            # Once connected, the agent only logs undecodable data.
            return self.close(DECODE_ERROR) if self.phase is Phase.WAIT_HELLO else []
        kind = message.WhichOneof("ToAnkaiosEnum")
        if kind == "hello":
            self._record("hello")
            return self._hello(message.hello.protocolVersion)
        self._record(protoconv.request_kind(message.request) if kind == "request" else "empty")
        if self.phase is Phase.WAIT_HELLO:
            return self.close(INITIAL_HELLO_MISSING)
        if kind == "request":
            return self._request(message.request, state)
        return []

    def _hello(self, version: str) -> Messages:
        self.journal.hello_count += 1
        if self.ignore_hello:
            return []
        reason = version_error(version)
        if reason is not None:
            return self.close(reason)
        if self.phase is Phase.WAIT_HELLO:
            self.phase = Phase.CONNECTED
            held, self.pending = self.pending, []
            return [protoconv.accepted(), *held]
        # "Received yet another Hello": the agent answers the handshake once per task.
        return []

    def _request(self, request: _ank_base.Request, state: Mapping[str, Node]) -> Messages:
        self.journal.requests.append(protoconv.request_kind(request))
        denied = self._denied(request)
        if denied is not None:
            # The agent checks access itself; only allowed requests travel to the server.
            return [denied]
        outbox, backlog = self.journal.outbox, self.journal.backlog
        if outbox is None and backlog is not None:
            # The answer holds the state as the request found it.
            backlog.append(lambda: self.deliver(self.answer(request, state)))
            return []
        if outbox is None:
            return self.answer(request, state)
        if len(outbox) >= TO_SERVER_CAPACITY:
            # The task awaits a free slot and reads nothing more; the request it
            # holds is lost when the task is aborted (control_interface_task.rs).
            self.blocked = True
        else:
            outbox.append(request)
        return []

    def _denied(self, request: _ank_base.Request) -> _control_api.FromAnkaios | None:
        kind = request.WhichOneof("RequestContent")
        if kind == "completeStateRequest":
            allowed = self.authorizer.may_read(tuple(request.completeStateRequest.fieldMask))
        elif kind == "updateStateRequest":
            allowed = self.authorizer.may_write(tuple(request.updateStateRequest.updateMask))
        elif kind == "logsRequest":
            names = [name.workloadName for name in request.logsRequest.workloadNames]
            allowed = self.authorizer.may_read_logs(names)
        else:
            allowed = True
        return None if allowed else protoconv.error(request.requestId, ACCESS_DENIED)

    def answer(self, request: _ank_base.Request, state: Mapping[str, Node]) -> Messages:
        """Return the server's answer to an allowed request (registering a subscription)."""
        rid, kind = request.requestId, request.WhichOneof("RequestContent")
        if kind == "completeStateRequest":
            content = request.completeStateRequest
            masks = tuple(content.fieldMask)
            answer = [protoconv.state_response(rid, select(state, masks), None)]
            if content.subscribeForEvents:
                # The server subscribes after it has sent the initial answer.
                self.subscriptions[rid] = masks
            return answer
        if kind == "updateStateRequest":
            return [protoconv.response(rid, "UpdateStateSuccess")]
        if kind in ("logsRequest", "logsCancelRequest"):
            return self.journal.logs.answer(request, state, self.number)
        if kind == "eventsCancelRequest":
            self.subscriptions.pop(rid, None)
            return [protoconv.response(rid, "eventsCancelAccepted")]
        return []

    def events(self, old: Tree, new: Tree) -> Messages:
        """Return one event per subscriber whose masks the change touches (queued before Hello).

        A hung server holds the change, in arrival order, for the subscriptions it has later.
        """
        if self.journal.backlog is not None:
            self.journal.backlog.append(lambda: self.events(old, new))
            return []
        if not self.alive or not self.subscriptions:
            return []
        diff = difference(old, new)
        if diff.is_empty():
            return []
        messages: Messages = []
        for rid, masks in self.subscriptions.items():
            altered = event_paths(diff, masks)
            if altered.is_empty():
                continue
            partial = select(new, altered.all_paths())
            messages.append(protoconv.state_response(rid, partial, altered))
        return self.deliver(messages)
