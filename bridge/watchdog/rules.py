"""When the watchdog re-creates the bridge's workload, and what it says (pure; times passed in).

The bridge says why it stopped in `<prefix>/$bridge/info` `stopped` before it says
`offline` in `<prefix>/$bridge/status`. Only both together are a stop to act on: a
clean stop leaves no `stopped`, a killed bridge only its will. Times are monotonic
seconds; a stop is known by its `at`, so the retained pair seen again after a broker
reconnect (or at start) is acted on once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from bridge.core.topics import OFFLINE, ONLINE

# The rate limit's window.
HOUR = 3600.0
_ONLINE, _OFFLINE = ONLINE.decode(), OFFLINE.decode()
_STATUS_WORDS = (_ONLINE, _OFFLINE)


class BadPayloadError(ValueError):
    """A `$bridge` payload the watchdog cannot read; the message says what was expected."""


@dataclass(frozen=True, slots=True)
class Stopped:
    """`$bridge/info` `stopped`: why the bridge had to stop and whether re-creating helps."""

    reason: str
    advice: str
    at: str
    recreate: bool


@dataclass(frozen=True, slots=True)
class Limits:
    """How often the watchdog may re-create the workload."""

    max_per_hour: int
    first_wait: float
    max_wait: float

    def wait(self, streak: int) -> float:
        """Return the wait after the `streak`-th re-creation in a row (from 0)."""
        return min(self.first_wait * 2.0 ** min(streak, 64), self.max_wait)


@dataclass(frozen=True, slots=True)
class Recreate:
    """Run `ank delete workload`, wait until it is gone, then `ank apply`."""

    stopped: Stopped
    # How many re-creations within the hour, this one included.
    count: int


@dataclass(frozen=True, slots=True)
class Refuse:
    """Re-creating would not help (a configuration error): a person must act."""

    stopped: Stopped


@dataclass(frozen=True, slots=True)
class Hold:
    """Not yet: the hour's limit is reached (`limited`), or the wait after the last one is on."""

    stopped: Stopped
    until: float
    limited: bool
    count: int = 0


Decision = Recreate | Refuse | Hold


def read_status(payload: bytes) -> str | None:
    """Return `online` or `offline`; None for a cleared status. BadPayloadError otherwise."""
    if not payload:
        return None
    word = payload.decode(errors="replace")
    if word not in _STATUS_WORDS:
        msg = f"{word[:40]!r} is not a status; expected {' or '.join(_STATUS_WORDS)}"
        raise BadPayloadError(msg)
    return word


def read_stopped(payload: bytes) -> Stopped | None:
    """Return the info document's `stopped`, None when it has none. BadPayloadError otherwise."""
    if not payload:
        return None
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        msg = "is not JSON; expected the bridge's info document"
        raise BadPayloadError(msg) from None
    if not isinstance(document, dict):
        msg = "is not a JSON object; expected the bridge's info document"
        raise BadPayloadError(msg)
    stopped = document.get("stopped")
    if stopped is None:
        return None
    expected = {"reason": str, "advice": str, "at": str, "recreate": bool}
    if not isinstance(stopped, dict) or any(
        not isinstance(stopped.get(key), kind) for key, kind in expected.items()
    ):
        msg = (
            'has a "stopped" of another shape; expected {"reason": str, "advice": str, '
            '"at": str, "recreate": true or false}'
        )
        raise BadPayloadError(msg)
    return Stopped(stopped["reason"], stopped["advice"], stopped["at"], stopped["recreate"])


@dataclass(slots=True)
class Watchdog:
    """What the bridge said last, the re-creations made, and what to do now.

    The wait between re-creations starts at `limits.first_wait` and doubles with each
    one (a failed one too) up to `limits.max_wait`; it starts over once a bridge has
    been online for `max_wait` seconds. At most `limits.max_per_hour` re-creations are
    started within any hour.
    """

    limits: Limits
    status: str | None = None
    stopped: Stopped | None = None
    # When decide() may answer otherwise without anything new heard; None: never.
    wake: float | None = None
    _done: set[str] = field(default_factory=set)
    _said: set[tuple[str, bool]] = field(default_factory=set)
    _started: list[float] = field(default_factory=list)
    _streak: int = 0
    _not_before: float = float("-inf")
    _online_since: float | None = None

    def heard_status(self, status: str | None, now: float) -> None:
        """Note `$bridge/status` (None: cleared)."""
        if status == _ONLINE and self.status != status:
            self._online_since = now
        elif status != _ONLINE and self._online_since is not None:
            if now - self._online_since >= self.limits.max_wait:
                self._streak = 0
            self._online_since = None
        self.status = status

    def heard_stopped(self, stopped: Stopped | None) -> None:
        """Note the `stopped` of `$bridge/info` (None: none, or no info)."""
        self.stopped = stopped

    def decide(self, now: float) -> Decision | None:
        """Return what to do now; None: nothing (or nothing new to say)."""
        self.wake = None
        stop = self.stopped
        if self.status != _OFFLINE or stop is None or stop.at in self._done:
            return None
        if not stop.recreate:
            self._done.add(stop.at)
            return Refuse(stop)
        self._started = [start for start in self._started if start > now - HOUR]
        if len(self._started) >= self.limits.max_per_hour:
            self.wake = self._started[0] + HOUR
            return self._once(Hold(stop, self.wake, limited=True, count=len(self._started)))
        if now < self._not_before:
            self.wake = self._not_before
            return self._once(Hold(stop, self.wake, limited=False))
        self._started.append(now)
        return Recreate(stop, len(self._started))

    def finished(self, stopped: Stopped, now: float, *, ok: bool) -> float:
        """Note the end of a re-creation; return the wait before the next one may start.

        A failed one is tried again after the wait, while the bridge still says the same.
        """
        if ok:
            self._done.add(stopped.at)
        else:
            # The failure's own line already said when the next try comes.
            self._said.add((stopped.at, False))
        pause = self.limits.wait(self._streak)
        self._streak += 1
        self._not_before = self.wake = now + pause
        return pause

    def _once(self, hold: Hold) -> Hold | None:
        # One line per stop and kind of hold, not one per message heard meanwhile.
        key = (hold.stopped.at, hold.limited)
        if key in self._said:
            return None
        self._said.add(key)
        return hold


def describe(decision: Decision, workload: str, now: float) -> str:
    """Return the log line for a decision: what the watchdog does and why."""
    stop = decision.stopped
    why = f"the bridge stopped at {stop.at}: {stop.reason}"
    match decision:
        case Recreate(count=count):
            return f"re-creating workload {workload} ({count} this hour), because {why}"
        case Refuse():
            return (
                f"not re-creating workload {workload}: that would not help; a person must act: "
                f"{stop.advice}; {why}"
            )
        case Hold(limited=True, count=count):
            return (
                f"not re-creating workload {workload}: the limit of {count} re-creations "
                f"within an hour (--max-recreations) is reached; next possible in "
                f"{decision.until - now:.0f} s; {why}"
            )
        case Hold():
            return (
                f"re-creating workload {workload} in {decision.until - now:.1f} s (the wait "
                f"after the last re-creation), because {why}"
            )
