"""One subscription to Ankaios, a feed: its ledger, renewals, retries and fallback (pure).

The bridge keeps its subscriptions apart, since one denied mask denies a whole
request; each is kept alive on its own, and a denied optional one is dropped with
one warning naming the mask to allow.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import ClassVar

from bridge.ankaios import handshake, stops
from bridge.ankaios.fieldpaths import BRIDGE_MASKS, PROBE_MASKS
from bridge.ankaios.protocol import (
    ErrorAnswer,
    StateAnswer,
    cancel_frame,
    new_request_id,
    state_request_frame,
)
from bridge.ankaios.requests import Answer, Requests
from bridge.ankaios.transport import ControlInterfaceError
from bridge.core.inputs import Input
from bridge.settings.commands import AnkaiosSettings

LOG = logging.getLogger(__name__)
# A subscription unanswered 0.25 s after a handshake is sent again, then after
# twice as long each time, three times at most.
_SWALLOWED_AFTER = 0.25
_SWALLOWED_RETRIES = 3
ACCESS_DENIED = "Access denied"


class Feed:
    """One subscription, kept alive on its own; a subclass names its masks and what answers mean.

    Frames leave through `send` as they are made, and their requests are recorded
    as sent then; one that never leaves (the FIFOs were just replaced) is
    forgotten with the rest. `odd` is told once of what Ankaios sent unexpectedly.
    """

    name: ClassVar[str]
    # The masks asked for first, and when those are denied (empty: none).
    masks: ClassVar[tuple[str, ...]]
    fallback: ClassVar[tuple[str, ...]] = ()
    # What a subscriber misses while `masks` are denied.
    missed: ClassVar[str]

    def __init__(
        self, settings: AnkaiosSettings, send: Callable[[bytes], None], odd: Callable[[str], None]
    ) -> None:
        self._settings = settings
        self._send = send
        self._odd = odd
        self._requests = Requests()
        # Empty once Ankaios denied the feed for good.
        self._asking = self.masks
        self._next_resync = 0.0
        self._retries_left = 0
        self._granted = False
        # Its state must be read afresh before the bridge may say `connected`.
        self._stale = True

    def snapshot(self, answer: StateAnswer) -> Input:
        """Return the input the first answer of a subscription gives: everything there is."""
        raise NotImplementedError

    def event(self, answer: StateAnswer, now: float) -> Input | None:
        """Return the input an event gives (None: nothing); re-subscribe if it falls short."""
        raise NotImplementedError

    def granted(self) -> tuple[str, ...]:
        """Return the masks Ankaios has granted this feed (empty before its first answer)."""
        return self._asking if self._granted else ()

    def current(self) -> str | None:
        """Return the request id of the live subscription, if there is one."""
        return self._requests.current

    def overdue(self, now: float) -> float | None:
        """Return how long the oldest unanswered request has waited, if longer than the timeout."""
        return self._requests.overdue(now, self._settings.request_timeout)

    def ready(self) -> bool:
        """Whether its state was read afresh: subscribed since the last gap (or denied for good)."""
        return not self._asking or (self._requests.current is not None and not self._stale)

    def forget_all(self) -> None:
        """Forget what is in flight: the control-interface task that had it is gone."""
        self._requests.forget_all()
        self._stale = True

    def start(self, now: float, *, after_swap: bool) -> None:
        """Subscribe after a handshake (not when denied for good)."""
        # Only a replaced task can swallow what follows the Hello.
        self._retries_left = _SWALLOWED_RETRIES if after_swap else 0
        if self._asking:
            self._subscribe(now)

    def renew(self, now: float) -> bool:
        """Send the retry of a swallowed subscription or the resync when due; say if sent."""
        if not self._asking:
            return False
        pending = self._requests.pending
        wait = _SWALLOWED_AFTER * 2 ** (_SWALLOWED_RETRIES - self._retries_left)
        if pending is not None and self._retries_left and now - pending.sent > wait:
            # Right after a swap the replaced task may still read for a moment and
            # swallow the subscription; the server was just reached, so it answers fast.
            self._retries_left -= 1
            LOG.debug("the %s subscription was not answered in %g s; asking again", self.name, wait)
        elif pending is not None or now < self._next_resync:
            return False
        self._subscribe(now)
        return True

    def reread(self, now: float, *, stale: bool = False) -> None:
        """Subscribe afresh: unreadable data may have held an answer, or a gap events."""
        self._requests.drop_outstanding()
        self._stale = self._stale or stale
        if self._asking:
            self._subscribe(now)

    def probe(self, now: float) -> bool:
        """Send a liveness probe, unless one is out or nothing is subscribed; say if sent."""
        if self._requests.probe is not None or self._requests.current is None:
            return False
        request_id = new_request_id()
        self._requests.probing(request_id, now)
        self._send(state_request_frame(request_id, PROBE_MASKS, subscribe=False))
        return True

    def held_back(self, answer: StateAnswer) -> Answer:
        """Classify a first answer that arrived before the handshake (it is not acted on)."""
        kind, _ = self._requests.answer(answer.request_id)
        return kind

    def answered(self, answer: StateAnswer, now: float) -> list[Input] | None:
        """Handle a state answer: the inputs it gives, or None if it answers no request of ours."""
        if answer.altered is None:
            kind, replaced = self._requests.answer(answer.request_id)
            if kind is Answer.SNAPSHOT:
                self._retries_left = 0
                self._granted = True
                self._stale = False
                if replaced is not None:
                    self._send(cancel_frame(replaced))
                return [self.snapshot(answer)]
        else:
            kind = self._requests.event(answer.request_id)
            if kind is Answer.CURRENT:
                given = self.event(answer, now)
                return [] if given is None else [given]
        if kind is Answer.SUPERSEDED:
            LOG.debug("cancelling a superseded %s subscription %s", self.name, answer.request_id)
            self._send(cancel_frame(answer.request_id))
        return None if kind is Answer.UNKNOWN else []

    def failed(self, error: ErrorAnswer, now: float) -> Answer:
        """Handle an error answer; PROBE and UNKNOWN are left to the caller."""
        kind = self._requests.failed(error.request_id)
        if kind is not Answer.REFUSED:
            return kind
        if ACCESS_DENIED in error.message:
            self._denied(now)
            return kind
        timeout = self._settings.request_timeout
        LOG.warning(
            "the Ankaios agent refused the subscription (%s); retrying in %g s",
            error.message,
            timeout,
        )
        if self._requests.current is None or self._stale:
            # Without a live (or a fresh) subscription, not a whole resync interval.
            self._next_resync = now + timeout
        return kind

    def _denied(self, now: float) -> None:
        # Denied its fallback too: only a feed the bridge cannot do without has one.
        if self._asking == self.fallback:
            raise ControlInterfaceError(stops.required_masks_denied(self.fallback, BRIDGE_MASKS))
        missing = tuple(mask for mask in self._asking if mask not in self.fallback)
        LOG.warning("%s", handshake.masks_denied(self.missed, missing))
        self._asking = self.fallback
        if self._asking:
            self._subscribe(now)

    def _subscribe(self, now: float) -> None:
        request_id = new_request_id()
        self._requests.subscribing(request_id, now)
        self._next_resync = now + self._settings.resync_interval
        self._send(state_request_frame(request_id, self._asking, subscribe=True))
