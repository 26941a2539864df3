"""The handshake with the agent, and the one line the operator is told each way it fails (pure).

When to send (or repeat) the Hello, and when an unanswered one is final: a task
of the Ankaios agent answers only the first Hello it reads (upstream
control_interface_task.rs `check_initial_hello`; a repeated Hello is only
logged), so repeating it is harmless, and after the swap of the FIFOs it is
needed: the replaced task may still read for a moment and swallow one.

Of the lines for the operator, the fatal ones end the bridge; the others are
warnings while it recovers.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path

from bridge.ankaios import stops
from bridge.ankaios.transport import ControlInterfaceError

LOG = logging.getLogger(__name__)
_FIRST_REPEAT = 0.2
_MAX_REPEAT = 1.0


class Overdue(enum.Enum):
    """What an unanswered handshake means."""

    NO = enum.auto()
    WARN = enum.auto()  # say once that it takes long, and go on
    FINAL = enum.auto()  # the first handshake of the process: never going to be answered


class Handshake:
    """One handshake: started at `begin`, repeated after 0.2, 0.4, 0.8 s, then every second."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.ever_accepted = False
        self._started = 0.0
        self._next = 0.0
        self._wait = _FIRST_REPEAT
        self._warned = False

    def begin(self, now: float) -> None:
        """Record that a first Hello was sent at `now`."""
        self._started = now
        self._wait = _FIRST_REPEAT
        self._next = now + self._wait
        self._warned = False

    def accepted(self, directory: Path) -> bool:
        """Record and log that the agent accepted the Hello; return whether it is a reconnect."""
        again, self.ever_accepted = self.ever_accepted, True
        LOG.info(
            "%s to the Ankaios agent at %s", "reconnected" if again else "connected", directory
        )
        return again

    def repeat_due(self, now: float) -> bool:
        """Return whether to send the Hello again now (and count it as sent)."""
        if now < self._next:
            return False
        self._wait = min(2 * self._wait, _MAX_REPEAT)
        self._next = now + self._wait
        return True

    def due(self, now: float) -> bool:
        """Return whether to send the Hello again; raise ControlInterfaceError if it is final."""
        overdue = self.overdue(now)
        if overdue is Overdue.FINAL:
            raise ControlInterfaceError(stops.handshake_unanswered(self.timeout))
        if overdue is Overdue.WARN:
            LOG.warning("%s", handshake_slow(self.timeout))
        return self.repeat_due(now)

    def overdue(self, now: float) -> Overdue:
        """Return what the wait so far means.

        Unanswered on the first handshake of the process: Ankaios answers one
        handshake per workload instance, so a process restarted inside it never gets
        an answer. Later (an agent restart, a swap) the agent will answer: go on.
        """
        if now - self._started <= self.timeout:
            return Overdue.NO
        if not self.ever_accepted:
            return Overdue.FINAL
        if self._warned:
            return Overdue.NO
        self._warned = True
        return Overdue.WARN


_RULE = "controlInterfaceAccess.allowRules"


def masks_denied(missed: str, masks: tuple[str, ...]) -> str:
    """Say what is `missed` while optional masks are denied, and which filter masks to add."""
    return (
        f"Ankaios denied reading {missed}. Add {_listed(masks)} to the filterMasks of the "
        f"bridge's StateRule ({_RULE}) to see them"
    )


def garbled(reason: str) -> str:
    """Say that unreadable bytes were skipped and the state is read afresh."""
    return f"skipped unreadable control-interface data ({reason}); re-reading the state"


def waiting_for_agent(directory: Path) -> str:
    """Say that nobody reads the control interface yet: the bridge waits."""
    return (
        f"waiting for the Ankaios agent to read the control interface at {directory} "
        "(it is restarting or has not reached its server yet)"
    )


def agent_lost(why: str) -> str:
    """Say that the agent went away (it died or restarts) and the bridge waits for it."""
    return f"lost the Ankaios agent ({why}); waiting for it to come back"


def replaced() -> str:
    """Say that the agent swapped the FIFOs (a server reconnect) and the bridge says Hello again."""
    return (
        "the Ankaios agent replaced the control interface (it reconnected to its server); "
        "handshaking again on the same FIFOs"
    )


def handshake_slow(timeout: float) -> str:
    """Say that a (repeated) Hello has waited longer than the handshake timeout."""
    return f"the Ankaios agent has not accepted the handshake for {timeout:g} s; still trying"


def unanswered(waited: float) -> str:
    """Say that Ankaios has not answered for a while: the retained states may be stale."""
    return (
        f"Ankaios has not answered for {waited:.0f} s (the agent may have lost its server); the "
        "retained states may be stale until it answers again"
    )


def _listed(masks: tuple[str, ...]) -> str:
    return " and ".join(repr(mask) for mask in masks)
