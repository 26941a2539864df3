"""The one broker reconnect loop, shared by the bridge and the dashboard.

paho's own reconnecting cannot say why an attempt failed, so both run this one:
an attempt, then a backoff from 0.1 s doubling up to `max_delay`, back to 0.1 s
after a connection the broker accepted, until stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

FIRST_RETRY = 0.1


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt or lost connection; `first` for the first of an outage."""

    cause: str
    first: bool
    refused: bool = False


def next_wait(last: float | None, *, accepted: bool, max_delay: float) -> float:
    """Return how long to wait after an attempt, given the wait before it (None: first)."""
    if last is None or accepted:
        return FIRST_RETRY
    return min(last * 2, max_delay)


class Reconnect:
    """Owns attempts, backoff, the stop event and what counts as one outage.

    `attempt` connects and returns once the connection is over; it (or the
    client's callbacks meanwhile) calls `accepted` and `failed`. Every failure
    goes to `on_failure`: the bridge logs the first of an outage, the dashboard
    shows each one.
    """

    def __init__(self, max_delay: float, on_failure: Callable[[Failure], None]) -> None:
        self.max_delay = max_delay
        self.on_failure = on_failure
        self._stopping = threading.Event()
        self._in_outage = False
        self._accepted = False
        self._again = False

    @property
    def stopping(self) -> bool:
        """True once `stop` was called."""
        return self._stopping.is_set()

    def stop(self) -> None:
        """End the loop at its next wait; failures are no longer reported."""
        self._stopping.set()

    def run(self, attempt: Callable[[], None]) -> None:
        """Call `attempt` until stopped, backing off between attempts."""
        wait: float | None = None
        while not self._stopping.is_set():
            self._accepted = False
            attempt()
            while self._again and not self._stopping.is_set():
                # `auto`: the broker refused MQTT 5; offer 3.1.1 at once, no backoff.
                self._again = False
                attempt()
            wait = next_wait(wait, accepted=self._accepted, max_delay=self.max_delay)
            if self._stopping.wait(wait):
                return

    @property
    def going_again(self) -> bool:
        """True between `again` and the attempt it asks for."""
        return self._again

    def again(self) -> None:
        """Ask for the next attempt at once, without backoff: the offered version was refused."""
        self._again = True

    def accepted(self) -> None:
        """Note that the broker accepted the connection: the outage, if any, is over."""
        self._accepted = True
        self._in_outage = False

    def failed(self, cause: str, *, refused: bool = False) -> None:
        """Report a failed attempt or a lost connection (nothing once stopping)."""
        if self._stopping.is_set():
            return
        first = not self._in_outage
        self._in_outage = True
        self.on_failure(Failure(cause, first, refused))


def warn_each_outage(log: logging.Logger, wait: float) -> Callable[[Failure], None]:
    """Return a report of failed connects: a warning once per outage, then debug lines."""

    def report(failure: Failure) -> None:
        if failure.first:
            log.warning("%s; retrying every %g s at most until it works", failure.cause, wait)
        else:
            log.debug("%s", failure.cause)

    return report
