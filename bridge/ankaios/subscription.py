"""The subscriptions to Ankaios: which requests to send, and which answers the bridge wants.

No I/O and no clock: the source hands in messages and the time, and sends the
frames returned. Requests are recorded as sent when their frame is made; one
that never leaves (the FIFOs were just replaced) is forgotten with the rest.
There are three subscriptions (`bridge.ankaios.answers.Topic`), each kept alive on its
own; a denied optional one is dropped with one warning naming the mask to allow.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.ankaios import advice
from bridge.ankaios.answers import FALLBACK, MASKS, Report, Topic, event_of, snapshot_of
from bridge.ankaios.fieldpaths import BRIDGE_MASKS, PROBE_MASKS, STATE_MASK
from bridge.ankaios.protocol import (
    ErrorAnswer,
    Garbage,
    Message,
    OtherAnswer,
    StateAnswer,
    cancel_frame,
    new_request_id,
    state_request_frame,
)
from bridge.ankaios.requests import Answer
from bridge.ankaios.stream import Stream
from bridge.core.inputs import Granted

LOG = logging.getLogger(__name__)
_ACCESS_DENIED = "Access denied"
_MAX_LOGGED = 1000


class SubscriptionError(Exception):
    """Ankaios refuses what the bridge needs; the message says which rule to add."""


@dataclass(slots=True)
class Outcome:
    """What handling one message gave: frames to send and inputs for the owner."""

    frames: list[bytes] = field(default_factory=list)
    reports: list[Report | Granted] = field(default_factory=list)


class Subscription:
    """Keeps exactly one live subscription per topic and a liveness probe on one agent."""

    def __init__(
        self,
        resync_interval: float,
        probe_interval: float,
        request_timeout: float = 5.0,
        topics: tuple[Topic, ...] = tuple(Topic),
    ) -> None:
        self.resync_interval = resync_interval
        self.probe_interval = probe_interval
        self.request_timeout = request_timeout
        # The workload states come first: the liveness of the link is theirs.
        self.streams = [Stream(topic, MASKS[topic], resync_interval) for topic in topics]
        # The probe rides on the workload states' requests: their rule covers it.
        self.requests = self.streams[0].requests
        self._next_probe = 0.0
        self._probing = True
        self._deferred_cancels: list[str] = []
        self._logged: set[str] = set()

    def granted(self) -> tuple[str, ...]:
        """Return the masks Ankaios has granted, in request order."""
        return tuple(mask for stream in self.streams if stream.granted for mask in stream.masks)

    def current(self) -> list[str]:
        """Return the request ids of the live subscriptions."""
        return [s.requests.current for s in self.streams if s.requests.current is not None]

    def forget_all(self) -> None:
        """Forget what is in flight: the control-interface task that had it is gone."""
        for stream in self.streams:
            stream.requests.forget_all()

    def overdue(self, now: float) -> float | None:
        """How long the oldest unanswered request has waited, if longer than the timeout."""
        waits = [s.requests.overdue(now, self.request_timeout) for s in self.streams]
        return max((wait for wait in waits if wait is not None), default=None)

    def live(self, now: float) -> bool:
        """Whether the workload states are subscribed and no request waits too long."""
        return self.requests.current is not None and self.overdue(now) is None

    def accepted(self, now: float, *, after_swap: bool = False) -> list[bytes]:
        """Return the frames to send once a task accepted the Hello: subscribe, cancel leftovers."""
        self._next_probe = now + self.probe_interval
        frames = [
            frame for stream in self.streams if (frame := stream.start(now, after_swap=after_swap))
        ]
        frames.extend(cancel_frame(request_id) for request_id in self._deferred_cancels)
        self._deferred_cancels = []
        return frames

    def before_handshake(self, message: Message) -> None:
        """Note a message that arrived before the handshake (it is not acted on)."""
        # Only a task that accepted the Hello forwards answers (upstream
        # control_interface_task.rs); a late answer of a superseded subscription
        # is cancelled once requests are allowed again.
        if isinstance(message, StateAnswer) and message.altered is None:
            for stream in self.streams:
                kind, _ = stream.requests.answer(message.request_id)
                if kind is Answer.SUPERSEDED:
                    self._deferred_cancels.append(message.request_id)
                if kind is not Answer.UNKNOWN:
                    return

    def due(self, now: float) -> list[bytes]:
        """Return the resyncs, retries or probe due at `now`, if any.

        Nothing while a request is overdue: the agent has lost its server, and once
        its queue to the server is full (20 messages, upstream agent `main.rs`) it
        stops reading; what is written then waits in the FIFO, and the task that
        replaces it when the server is back would read it before the Hello and close
        the control interface for good ("Initial Hello missing!").
        """
        if self.overdue(now) is not None:
            return []
        frames = [frame for stream in self.streams if (frame := stream.renew(now))]
        requests = self.requests
        if (
            not frames  # a renewal's answer proves as much as a probe's
            and self._probing
            and requests.probe is None
            and requests.current is not None
            and now >= self._next_probe
        ):
            request_id = new_request_id()
            requests.probing(request_id, now)
            self._next_probe = now + self.probe_interval
            frames.append(state_request_frame(request_id, PROBE_MASKS, subscribe=False))
        return frames

    def reread(self, now: float) -> list[bytes]:
        """Return fresh subscriptions after unreadable data (which may have held an answer)."""
        return [frame for stream in self.streams if (frame := stream.reread(now))]

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

    def _handle_state(self, answer: StateAnswer, now: float, outcome: Outcome) -> None:
        for oddity in answer.oddities:
            self._log_once(f"{oddity}; published as UNKNOWN")
        for stream in self.streams:
            if self._stream_state(stream, answer, now, outcome):
                return

    def _stream_state(
        self, stream: Stream, answer: StateAnswer, now: float, outcome: Outcome
    ) -> bool:
        requests = stream.requests
        if answer.altered is None:
            kind, replaced = requests.answer(answer.request_id)
            if kind is Answer.SNAPSHOT:
                stream.retries_left = 0
                outcome.reports.append(snapshot_of(stream.topic, answer))
                if not stream.granted:
                    stream.granted = True
                    outcome.reports.append(Granted(self.granted()))
                if replaced is not None:
                    outcome.frames.append(cancel_frame(replaced))
            elif kind is Answer.SUPERSEDED:
                LOG.debug("cancelling the superseded subscription %s", answer.request_id)
                outcome.frames.append(cancel_frame(answer.request_id))
            return kind is not Answer.UNKNOWN
        kind = requests.event(answer.request_id)
        if kind is Answer.CURRENT:
            meaning = event_of(stream.topic, answer, self._log_once)
            if meaning.report is not None:
                outcome.reports.append(meaning.report)
            if meaning.missing and requests.pending is None:
                LOG.info("an event named an instance without its state; re-reading the state")
                outcome.frames.append(stream.subscribe(now))
        elif kind is Answer.SUPERSEDED:
            outcome.frames.append(cancel_frame(answer.request_id))
        return kind is not Answer.UNKNOWN

    def _handle_error(self, error: ErrorAnswer, now: float, outcome: Outcome) -> None:
        for stream in self.streams:
            kind = stream.requests.failed(error.request_id)
            if kind is not Answer.UNKNOWN:
                break
        else:
            self._log_once(f"the Ankaios agent answered an old request with: {error.message}")
            return
        if kind is Answer.PROBE:
            if _ACCESS_DENIED in error.message:
                # A probe the agent itself refuses proves nothing about the server.
                self._probing = False
                LOG.warning(
                    "Ankaios refused the liveness probe (%s); a silent server outage is "
                    "noticed only at the next resync",
                    error.message,
                )
        elif _ACCESS_DENIED not in error.message:
            LOG.warning(
                "the Ankaios agent refused the subscription (%s); retrying in %g s",
                error.message,
                self.request_timeout,
            )
            if stream.requests.current is None:
                # Without a live subscription, not a whole resync interval.
                stream.next_resync = now + self.request_timeout
        else:
            self._denied(stream, now, outcome)

    def _denied(self, stream: Stream, now: float, outcome: Outcome) -> None:
        topic = stream.topic
        if topic is Topic.STATES and stream.masks == FALLBACK[topic]:
            raise SubscriptionError(advice.state_mask_denied(STATE_MASK, BRIDGE_MASKS))
        missing = tuple(mask for mask in stream.masks if mask not in FALLBACK[topic])
        LOG.warning("%s", advice.mask_denied(topic.value, missing))
        stream.masks = FALLBACK[topic]
        if stream.masks:
            outcome.frames.append(stream.subscribe(now))

    def _log_once(self, text: str) -> None:
        if text not in self._logged and len(self._logged) < _MAX_LOGGED:
            self._logged.add(text)
            LOG.warning("%s", text)
