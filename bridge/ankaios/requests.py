"""A feed's ledger: its requests in flight with Ankaios, and which answers it still wants (pure).

Answers can arrive late: while the agent cannot reach its server it holds every
request back and, once the server is back, answers all of them, each subscribing
request registering one more subscription (upstream `agent/src/main.rs` channel,
`server/src/ankaios_server.rs` `add_subscriber`). So an answer to a request the
bridge has moved past is cancelled, and only one subscription stays alive.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Superseded subscriptions remembered for cancelling; older ones are forgotten.
_MAX_SUPERSEDED = 64


class Answer(enum.Enum):
    """What a response to a request id means to the bridge."""

    SNAPSHOT = "the answer to the pending subscription: the new live one"
    REFUSED = "an error answer to the pending subscription"
    PROBE = "the answer to the liveness probe"
    SUPERSEDED = "a subscription the bridge no longer wants: cancel it"
    CURRENT = "an event of the live subscription"
    UNKNOWN = "nothing the bridge waits for"


@dataclass(frozen=True, slots=True)
class Outstanding:
    """A request sent at `sent` (monotonic seconds) and not answered yet."""

    request_id: str
    sent: float


class Requests:
    """One feed's live subscription, its pending one, the probe, and superseded subscriptions."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.pending: Outstanding | None = None
        self.probe: Outstanding | None = None
        self._superseded: dict[str, None] = {}

    def subscribing(self, request_id: str, now: float) -> None:
        """Record a subscribing state request sent at `now`."""
        if self.pending is not None:
            self._supersede(self.pending.request_id)
        self.pending = Outstanding(request_id, now)

    def probing(self, request_id: str, now: float) -> None:
        """Record a liveness probe (a state request that does not subscribe) sent at `now`."""
        self.probe = Outstanding(request_id, now)

    def answer(self, request_id: str) -> tuple[Answer, str | None]:
        """Classify a state answer; with SNAPSHOT also return the subscription it replaces."""
        if self.pending is not None and request_id == self.pending.request_id:
            self._answered(self.pending)
            replaced, self.current, self.pending = self.current, request_id, None
            return Answer.SNAPSHOT, replaced
        if self.probe is not None and request_id == self.probe.request_id:
            self._answered(self.probe)
            self.probe = None
            return Answer.PROBE, None
        return self._other(request_id), None

    def event(self, request_id: str) -> Answer:
        """Classify an event: CURRENT, SUPERSEDED (cancel it) or UNKNOWN."""
        if request_id == self.current:
            return Answer.CURRENT
        return self._other(request_id)

    def failed(self, request_id: str) -> Answer:
        """Classify an error answer: REFUSED for the pending request, PROBE, or UNKNOWN."""
        if self.pending is not None and request_id == self.pending.request_id:
            self._answered(self.pending)
            self.pending = None
            return Answer.REFUSED
        if self.probe is not None and request_id == self.probe.request_id:
            self._answered(self.probe)
            self.probe = None
            return Answer.PROBE
        return Answer.UNKNOWN

    def drop_outstanding(self) -> None:
        """Wait no more for the pending request and the probe (their answers were lost)."""
        if self.pending is not None:
            self._supersede(self.pending.request_id)
        self.pending = self.probe = None

    def forget_all(self) -> None:
        """Forget what is in flight: the control-interface task that had it is gone.

        Its subscriptions are gone with the agent's connection to the server, but
        requests the agent held back may still be answered (and subscribe) later.
        """
        if self.current is not None:
            self._supersede(self.current)
        if self.pending is not None:
            self._supersede(self.pending.request_id)
        self.current = self.pending = self.probe = None

    def overdue(self, now: float, timeout: float) -> float | None:
        """Return how long the oldest unanswered request has waited, if longer than `timeout`."""
        waits = [now - item.sent for item in (self.pending, self.probe) if item is not None]
        oldest = max(waits, default=0.0)
        return oldest if oldest > timeout else None

    def _answered(self, answered: Outstanding) -> None:
        # The agent answers in order: a request sent before this one and still
        # unanswered lost its answer (unreadable data) and is waited for no more.
        if self.probe is not None and self.probe.sent < answered.sent:
            self.probe = None
        if self.pending is not None and self.pending.sent < answered.sent:
            self._supersede(self.pending.request_id)
            self.pending = None

    def _supersede(self, request_id: str) -> None:
        self._superseded[request_id] = None
        while len(self._superseded) > _MAX_SUPERSEDED:
            del self._superseded[next(iter(self._superseded))]

    def _other(self, request_id: str) -> Answer:
        if request_id in self._superseded:
            # Cancelled once: events still under way for it are then UNKNOWN.
            del self._superseded[request_id]
            return Answer.SUPERSEDED
        return Answer.UNKNOWN
