"""The agent away: since when, one warning per outage, when to open again, when to give up (pure).

A real agent is away while it restarts and until it reaches its server (upstream
`grpc/src/client.rs` retries every second, without end); the bridge waits, unless
`--agent-reconnect-timeout` bounds the wait.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bridge.ankaios import handshake, stops
from bridge.ankaios.transport import ControlInterfaceError

LOG = logging.getLogger(__name__)
# A dying agent's end may still be open for a moment: no reopen at once.
RETRY = 0.1


class Outage:
    """One outage of the agent at a time; `bound` seconds (0: none) until it is final."""

    def __init__(self, directory: Path, bound: float) -> None:
        self.directory = directory
        self.bound = bound
        self.since = 0.0
        self.next_open = 0.0
        # One warning per outage: the wait at start-up, or the loss and its retries.
        self._logged = False

    def begin(self, now: float) -> None:
        """Start counting at start-up: the agent may not read yet."""
        self.since = now

    def lost(self, now: float, why: str) -> None:
        """Note that the agent went away at `now` (a failed reconnect: the same outage)."""
        self.next_open = now + RETRY
        if not self._logged:
            self._logged = True
            self.since = now
            LOG.warning("%s", handshake.agent_lost(why))

    def away(self, now: float) -> None:
        """Nobody reads yet: warn once; raise ControlInterfaceError once the bound is over."""
        if self.bound > 0 and now - self.since > self.bound:
            raise ControlInterfaceError(stops.agent_away(self.directory, self.bound))
        if not self._logged:
            self._logged = True
            LOG.warning("%s", handshake.waiting_for_agent(self.directory))

    def over(self) -> None:
        """End the outage: the agent accepted a handshake, so the next loss is a new one."""
        self._logged = False
