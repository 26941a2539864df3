"""One of the bridge's subscriptions: its masks, requests in flight and when to renew it (pure)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from bridge.ankaios.answers import Topic
from bridge.ankaios.protocol import new_request_id, state_request_frame
from bridge.ankaios.requests import Requests

LOG = logging.getLogger(__name__)
# A subscription unanswered 0.25 s after a handshake is sent again, then after
# twice as long each time, three times at most.
_SWALLOWED_AFTER = 0.25
_SWALLOWED_RETRIES = 3


@dataclass(slots=True)
class Stream:
    """One subscription; `masks` empty once Ankaios denied it for good."""

    topic: Topic
    masks: tuple[str, ...]
    resync_interval: float
    requests: Requests = field(default_factory=Requests)
    next_resync: float = 0.0
    retries_left: int = 0
    granted: bool = False

    def subscribe(self, now: float) -> bytes:
        """Return a fresh subscribing request, recorded as sent at `now`."""
        request_id = new_request_id()
        self.requests.subscribing(request_id, now)
        self.next_resync = now + self.resync_interval
        return state_request_frame(request_id, self.masks, subscribe=True)

    def start(self, now: float, *, after_swap: bool) -> bytes | None:
        """Return the subscription to send after a handshake (none when denied)."""
        # Only a replaced task can swallow what follows the Hello.
        self.retries_left = _SWALLOWED_RETRIES if after_swap else 0
        return self.subscribe(now) if self.masks else None

    def renew(self, now: float) -> bytes | None:
        """Return the retry of a swallowed subscription or the periodic resync, when due."""
        if not self.masks:
            return None
        pending = self.requests.pending
        wait = _SWALLOWED_AFTER * 2 ** (_SWALLOWED_RETRIES - self.retries_left)
        if pending is not None and self.retries_left and now - pending.sent > wait:
            # Right after a swap the replaced task may still read for a moment and
            # swallow the subscription; the server was just reached, so it answers fast.
            self.retries_left -= 1
            LOG.debug("the subscription was not answered within %g s; asking again", wait)
            return self.subscribe(now)
        if pending is None and now >= self.next_resync:
            return self.subscribe(now)
        return None

    def reread(self, now: float) -> bytes | None:
        """Return a fresh subscription after unreadable data (which may have held an answer)."""
        self.requests.drop_outstanding()
        return self.subscribe(now) if self.masks else None
