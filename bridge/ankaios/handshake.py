"""When to send (or repeat) the Hello, and when an unanswered one is final (pure, time passed in).

A task of the Ankaios agent answers only the first Hello it reads
(upstream control_interface_task.rs `check_initial_hello`; a repeated Hello is
only logged), so repeating it is harmless, and after the swap of the FIFOs it is
needed: the replaced task may still read for a moment and swallow one.
"""

from __future__ import annotations

import enum

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

    def repeat_due(self, now: float) -> bool:
        """Return whether to send the Hello again now (and count it as sent)."""
        if now < self._next:
            return False
        self._wait = min(2 * self._wait, _MAX_REPEAT)
        self._next = now + self._wait
        return True

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
