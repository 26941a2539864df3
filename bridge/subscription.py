"""The subscription to Ankaios: which requests to send, and what answers and events mean.

No I/O and no clock: the source hands in messages and the time, and sends the
frames returned. Requests are recorded as sent when their frame is made; one
that never leaves (the FIFOs were just replaced) is forgotten with the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.fieldpaths import BRIDGE_MASKS, PROBE_MASKS, STATE_MASK, parse_field_path
from bridge.inputs import Changes, Snapshot
from bridge.model import ExecutionState
from bridge.protocol import (
    ErrorAnswer,
    Garbage,
    Message,
    OtherAnswer,
    StateAnswer,
    cancel_frame,
    new_request_id,
    state_request_frame,
)
from bridge.requests import Answer, Requests
from bridge.topics import InstanceKey

LOG = logging.getLogger(__name__)
_ACCESS_DENIED = "Access denied"
_MAX_LOGGED = 1000
# A subscription unanswered 0.25 s after a handshake is sent again, then after
# twice as long each time, three times at most.
_SWALLOWED_AFTER = 0.25
_SWALLOWED_RETRIES = 3


class SubscriptionError(Exception):
    """Ankaios refuses what the bridge needs; the message says which rule to add."""


@dataclass(slots=True)
class Outcome:
    """What handling one message gave: frames to send and inputs for the owner."""

    frames: list[bytes] = field(default_factory=list)
    reports: list[Snapshot | Changes] = field(default_factory=list)


class Subscription:
    """Keeps exactly one live subscription and a liveness probe on one agent."""

    def __init__(
        self, resync_interval: float, probe_interval: float, request_timeout: float = 5.0
    ) -> None:
        self.resync_interval = resync_interval
        self.probe_interval = probe_interval
        self.request_timeout = request_timeout
        self.masks: tuple[str, ...] = BRIDGE_MASKS
        self.requests = Requests()
        self._next_resync = 0.0
        self._next_probe = 0.0
        self._probing = True
        self._deferred_cancels: list[str] = []
        self._retries_left = 0
        self._logged: set[str] = set()

    def accepted(self, now: float, *, after_swap: bool = False) -> list[bytes]:
        """Return the frames to send once a task accepted the Hello: subscribe, cancel leftovers."""
        self._next_probe = now + self.probe_interval
        # Only a replaced task can swallow what follows the Hello.
        self._retries_left = _SWALLOWED_RETRIES if after_swap else 0
        frames = [self._subscribe(now)]
        frames.extend(cancel_frame(request_id) for request_id in self._deferred_cancels)
        self._deferred_cancels = []
        return frames

    def before_handshake(self, message: Message) -> None:
        """Note a message that arrived before the handshake (it is not acted on)."""
        # Only a task that accepted the Hello forwards answers (upstream
        # control_interface_task.rs); a late answer of a superseded subscription
        # is cancelled once requests are allowed again.
        if isinstance(message, StateAnswer) and message.altered is None:
            kind, _ = self.requests.answer(message.request_id)
            if kind is Answer.SUPERSEDED:
                self._deferred_cancels.append(message.request_id)

    def due(self, now: float) -> list[bytes]:
        """Return the resync, retry or probe due at `now`, if any.

        Nothing while a request is overdue: the agent has lost its server, and once
        its queue to the server is full (20 messages, upstream agent `main.rs`) it
        stops reading; what is written then waits in the FIFO, and the task that
        replaces it when the server is back would read it before the Hello and close
        the control interface for good ("Initial Hello missing!").
        """
        requests = self.requests
        pending = requests.pending
        if requests.overdue(now, self.request_timeout) is not None:
            return []
        wait = _SWALLOWED_AFTER * 2 ** (_SWALLOWED_RETRIES - self._retries_left)
        if pending is not None and self._retries_left and now - pending.sent > wait:
            # Right after a swap the replaced task may still read for a moment and
            # swallow the subscription; the server was just reached, so it answers fast.
            self._retries_left -= 1
            LOG.debug("the subscription was not answered within %g s; asking again", wait)
            return [self._subscribe(now)]
        if pending is None and now >= self._next_resync:
            return [self._subscribe(now)]
        if (
            self._probing
            and requests.probe is None
            and requests.current is not None
            and now >= self._next_probe
        ):
            request_id = new_request_id()
            requests.probing(request_id, now)
            self._next_probe = now + self.probe_interval
            return [state_request_frame(request_id, PROBE_MASKS, subscribe=False)]
        return []

    def reread(self, now: float) -> list[bytes]:
        """Return a fresh subscription after unreadable data (which may have held an answer)."""
        self.requests.drop_outstanding()
        return [self._subscribe(now)]

    def handle(self, message: Message, now: float) -> Outcome:
        """Handle one message from a task that accepted the Hello."""
        outcome = Outcome()
        if isinstance(message, StateAnswer):
            self._handle_state(message, now, outcome)
        elif isinstance(message, ErrorAnswer):
            self._handle_error(message, now, outcome)
        elif isinstance(message, Garbage):
            LOG.warning("skipped a control-interface frame: %s", message.reason)
        elif isinstance(message, OtherAnswer) and message.kind != "eventsCancelAccepted":
            self._log_once(f"ignored a {message.kind} response from the Ankaios agent")
        return outcome

    def _subscribe(self, now: float) -> bytes:
        request_id = new_request_id()
        self.requests.subscribing(request_id, now)
        self._next_resync = now + self.resync_interval
        return state_request_frame(request_id, self.masks, subscribe=True)

    def _handle_state(self, answer: StateAnswer, now: float, outcome: Outcome) -> None:
        for oddity in answer.oddities:
            self._log_once(f"{oddity}; published as UNKNOWN")
        if answer.altered is None:
            kind, replaced = self.requests.answer(answer.request_id)
            if kind is Answer.SNAPSHOT:
                self._retries_left = 0
                LOG.debug("snapshot of %d instances", len(answer.instances))
                outcome.reports.append(Snapshot(answer.instances))
                if replaced is not None:
                    outcome.frames.append(cancel_frame(replaced))
            elif kind is Answer.SUPERSEDED:
                LOG.debug("cancelling the superseded subscription %s", answer.request_id)
                outcome.frames.append(cancel_frame(answer.request_id))
            return
        kind = self.requests.event(answer.request_id)
        if kind is Answer.CURRENT:
            self._apply_event(answer, now, outcome)
        elif kind is Answer.SUPERSEDED:
            outcome.frames.append(cancel_frame(answer.request_id))

    def _apply_event(self, answer: StateAnswer, now: float, outcome: Outcome) -> None:
        assert answer.altered is not None  # noqa: S101 - only events get here
        added, updated, removed = answer.altered
        upserts: dict[InstanceKey, ExecutionState] = {}
        missing = False
        for path in (*added, *updated):
            key = self._key(path)
            if key is None or key in upserts:
                continue
            execution = answer.instances.get(key)
            if execution is None:
                # Upstream may omit not-scheduled instances from an event's state:
                # read the state afresh rather than lose the change.
                missing = True
                continue
            upserts[key] = execution
        removals = frozenset(key for path in removed if (key := self._key(path)) is not None)
        if upserts or removals:
            outcome.reports.append(Changes(upserts, removals - upserts.keys()))
        if missing and self.requests.pending is None:
            LOG.info("an event named an instance without its state; re-reading the state")
            outcome.frames.append(self._subscribe(now))

    def _key(self, path: str) -> InstanceKey | None:
        key = parse_field_path(path)
        if key is None:
            self._log_once(f"ignored field path of unexpected shape: {path[:200]!r}")
        return key

    def _handle_error(self, error: ErrorAnswer, now: float, outcome: Outcome) -> None:
        kind = self.requests.failed(error.request_id)
        if kind is Answer.PROBE:
            if _ACCESS_DENIED in error.message:
                # A probe the agent itself refuses proves nothing about the server.
                self._probing = False
                LOG.warning(
                    "Ankaios refused the liveness probe (%s); a silent server outage is "
                    "noticed only at the next resync",
                    error.message,
                )
        elif kind is not Answer.SNAPSHOT:
            self._log_once(f"the Ankaios agent answered an old request with: {error.message}")
        elif _ACCESS_DENIED not in error.message:
            LOG.warning(
                "the Ankaios agent refused the subscription (%s); retrying in %g s",
                error.message,
                self.request_timeout,
            )
            if self.requests.current is None:
                # Without a live subscription, not a whole resync interval.
                self._next_resync = now + self.request_timeout
        elif self.masks != (STATE_MASK,):
            LOG.warning(
                "Ankaios denied reading sub-states; publishing states with sub-states as of the "
                "last state change only. Add %r to the filterMasks of the bridge's StateRule "
                "(controlInterfaceAccess.allowRules) to see every sub-state change",
                BRIDGE_MASKS[1],
            )
            self.masks = (STATE_MASK,)
            outcome.frames.append(self._subscribe(now))
        else:
            msg = (
                f"Ankaios denied reading {STATE_MASK!r}; add controlInterfaceAccess.allowRules: "
                f"[{{type: StateRule, operation: Read, filterMasks: {list(BRIDGE_MASKS)}}}] to "
                "the bridge's workload and re-create it"
            )
            raise SubscriptionError(msg)

    def _log_once(self, text: str) -> None:
        if text not in self._logged and len(self._logged) < _MAX_LOGGED:
            self._logged.add(text)
            LOG.warning("%s", text)
