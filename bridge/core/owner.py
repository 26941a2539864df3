"""The owner: the one thread that runs the mirror over the input queue and publishes its decisions.

Every other thread (the control-interface reader, paho's callbacks, the signal
handler) only puts inputs into the queue. The owner drains it in batches per
wake-up: one hand-off for a burst of changes, not one per change.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bridge.core.info import StopReason
from bridge.core.inputs import AnkaiosLink, Input, SendFailed, SourceFailed, Stop, Tick
from bridge.core.logdesk import LogDesk
from bridge.core.loginputs import LogAnswer, LogCommand, LogsAsked, Outgoing
from bridge.core.logstreams import Decision
from bridge.core.mirror import Mirror

LOG = logging.getLogger(__name__)
# Inputs taken per wake-up before publishing what they decided.
_BATCH = 512
# The longest sleep while something is held back: a wall clock set back must not
# stretch the wait for a held-back publish.
_LONGEST_WAIT = 1.0


class Publisher(Protocol):
    """What the owner needs of the broker link."""

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish retained; return False when not connected (nothing is queued)."""

    def send(self, message: Outgoing) -> bool:
        """Publish not retained; return False when not connected (nothing is queued)."""


class Owner:
    """Runs `mirror` on the calling thread until Stop or SourceFailed; `put` is thread-safe.

    The log desk, when given, serves logs requests; its commands go to `to_ankaios`
    (the control-interface reader's hand-over).
    """

    def __init__(
        self,
        mirror: Mirror,
        clock: Callable[[], datetime],
        desk: LogDesk | None = None,
        to_ankaios: Callable[[LogCommand], None] | None = None,
    ) -> None:
        self.mirror = mirror
        self.clock = clock
        self.desk = desk
        self.to_ankaios = to_ankaios
        self._inbox: queue.SimpleQueue[Input] = queue.SimpleQueue()

    def put(self, item: Input) -> None:
        """Hand an input to the owner thread."""
        self._inbox.put(item)

    def run(self, publisher: Publisher) -> StopReason | None:
        """Serve the queue until Stop (return None) or SourceFailed (return its reason).

        The publisher comes here, not to the constructor: it feeds this queue, so
        it is built after the owner.
        """
        inbox = self._inbox
        while True:
            due = self._next_due()
            if due is None:
                batch = [inbox.get()]
            else:
                wait = min(max((due - self.clock()).total_seconds(), 0.0), _LONGEST_WAIT)
                try:
                    batch = [inbox.get(timeout=wait) if wait > 0 else inbox.get_nowait()]
                except queue.Empty:
                    batch = [Tick()]
            while len(batch) < _BATCH:
                try:
                    batch.append(inbox.get_nowait())
                except queue.Empty:
                    break
            now = self.clock()
            if due is not None and now >= due and not isinstance(batch[-1], Tick):
                # Inputs that never stop coming must not hold back what is due.
                batch.append(Tick())
            for item in batch:
                if isinstance(item, Stop | SourceFailed):
                    if self.desk is not None:
                        self._carry_out(self.desk.farewell(), publisher)
                    return item.stop if isinstance(item, SourceFailed) else None
                self._decide(item, now, publisher)

    def _next_due(self) -> datetime | None:
        due = self.mirror.next_due()
        logs = self.desk.next_due() if self.desk is not None else None
        return min(due, logs) if due is not None and logs is not None else due or logs

    def farewell(self, publisher: Publisher, stop: StopReason | None = None) -> None:
        """Publish the mirror's last word (and why it must stop), before the link says `offline`."""
        for publish in self.mirror.farewell(stop, self.clock()):
            if not publisher.publish(publish.topic, publish.payload):
                return

    def _decide(self, item: Input, now: datetime, publisher: Publisher) -> None:
        assert not isinstance(item, Stop | SourceFailed)  # noqa: S101 - run() handles them
        if isinstance(item, LogsAsked | LogAnswer):
            self._serve_logs(item, now, publisher)
            return
        if isinstance(item, AnkaiosLink | Tick):
            self._serve_logs(item, now, publisher)
        try:
            plan = self.mirror.handle(item, now)
        except Exception:
            # A bug must not silently end the mirroring: log it and go on; the next
            # resync or reconnect repairs whatever this input missed.
            LOG.exception("failed to handle %s", type(item).__name__)
            return
        for publish in plan:
            if not publisher.publish(publish.topic, publish.payload):
                self.mirror.handle(SendFailed(), now)
                return

    def _serve_logs(
        self, item: LogsAsked | LogAnswer | AnkaiosLink | Tick, now: datetime, publisher: Publisher
    ) -> None:
        desk = self.desk
        if desk is None:
            return
        try:
            if isinstance(item, AnkaiosLink):
                decision = desk.link(connected=item.connected)
            elif isinstance(item, Tick):
                decision = desk.tick(now)
            else:
                decision = desk.handle(item, now, self.mirror.instances.truth)
        except Exception:
            LOG.exception("failed to handle %s", type(item).__name__)
            return
        self._carry_out(decision, publisher)

    def _carry_out(self, decision: Decision, publisher: Publisher) -> None:
        for command in decision.commands:
            if self.to_ankaios is not None:
                self.to_ankaios(command)
        for message in decision.messages:
            # Not retained and never repeated: one lost while disconnected is lost.
            publisher.send(message)
