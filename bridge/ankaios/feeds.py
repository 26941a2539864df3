"""The bridge's feeds from Ankaios, and the one coordinator that keeps them alive (pure).

No I/O and no clock: the reader hands in messages and the time, and the frames
made leave through the `send` it gives. The state in an event is filtered by the
paths it reports, so an instance or agent is taken from it only for the paths
that name it. A new feed is one class here and one line in FEEDS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bridge.ankaios import fieldpaths
from bridge.ankaios.feed import ACCESS_DENIED, Feed
from bridge.ankaios.protocol import (
    ErrorAnswer,
    Garbage,
    Message,
    OtherAnswer,
    StateAnswer,
    cancel_frame,
)
from bridge.ankaios.requests import Answer
from bridge.core.inputs import AgentReport, Agents, Changes, Granted, Infos, Input, Snapshot
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from bridge.settings.commands import AnkaiosSettings

LOG = logging.getLogger(__name__)
_MAX_LOGGED = 1000


class StatesFeed(Feed):
    """The workload states: each instance's state and sub-state."""

    name = "workload states"
    masks = (fieldpaths.STATE_MASK, fieldpaths.SUBSTATE_MASK)
    fallback = (fieldpaths.STATE_MASK,)
    missed = "sub-states (states are published with sub-states as of the last state change only)"

    def snapshot(self, answer: StateAnswer) -> Input:
        """Return every instance's state."""
        return Snapshot(answer.instances)

    def event(self, answer: StateAnswer, now: float) -> Input | None:
        """Return the Changes of the instances the event names; re-read one it lacks."""
        assert answer.altered is not None  # noqa: S101 - only events get here
        added, updated, removed = answer.altered
        changed = fieldpaths.instances_named((*added, *updated), self._odd)
        gone = frozenset(fieldpaths.instances_named(removed, self._odd))
        upserts: dict[InstanceKey, ExecutionState] = {}
        missing = False
        for key in changed:
            execution = answer.instances.get(key)
            if execution is None:
                # Upstream may omit not-scheduled instances from an event's state:
                # read the state afresh rather than lose the change.
                missing = True
            else:
                upserts[key] = execution
        if missing and self._requests.pending is None:
            LOG.info("an event named an instance without its state; re-reading the state")
            self._subscribe(now)
        if not upserts and not gone:
            return None
        return Changes(upserts, gone - upserts.keys())


class InfoFeed(Feed):
    """The additional info of each instance's execution state."""

    name = "additional info"
    masks = (fieldpaths.INFO_MASK,)
    missed = 'the additional info of execution states (status says "additionalInfo":"")'

    def snapshot(self, answer: StateAnswer) -> Input:
        """Return every instance's additional info."""
        return Infos(answer.infos, complete=True)

    def event(self, answer: StateAnswer, now: float) -> Input | None:  # noqa: ARG002
        """Return the infos of the instances the event names."""
        assert answer.altered is not None  # noqa: S101 - only events get here
        added, updated, removed = answer.altered
        named = fieldpaths.instances_named((*added, *updated), self._odd)
        named |= fieldpaths.instances_named(removed, self._odd)
        # A removed info belongs to a removed instance or a cleared text: "" either way.
        infos = {key: answer.infos.get(key, "") for key in named}
        return Infos(infos, complete=False) if infos else None


class AgentsFeed(Feed):
    """The agents: their load and tags."""

    name = "agents"
    masks = (fieldpaths.AGENTS_MASK,)
    missed = "agents (no <prefix>/<agent>/$agent/status topics)"

    def snapshot(self, answer: StateAnswer) -> Input:
        """Return every agent."""
        return Agents(answer.agents, complete=True)

    def event(self, answer: StateAnswer, now: float) -> Input | None:  # noqa: ARG002
        """Return the agents the event names, with the fields it names."""
        assert answer.altered is not None  # noqa: S101 - only events get here
        added, updated, removed = answer.altered
        altered = fieldpaths.agents_named((*added, *updated), self._odd)
        gone = fieldpaths.agents_named(removed, self._odd)
        if not altered and not gone:
            return None
        reports = {name: answer.agents.get(name, AgentReport()) for name, _ in altered}
        return Agents(reports, complete=False, altered=altered, removed=gone)


# In request order; the workload states come first: the liveness of the link is theirs.
FEEDS: tuple[type[Feed], ...] = (StatesFeed, InfoFeed, AgentsFeed)


class Feeds:
    """Keeps exactly one live subscription per feed and a liveness probe on the first."""

    def __init__(
        self,
        settings: AnkaiosSettings,
        send: Callable[[bytes], None],
        feeds: tuple[type[Feed], ...] = FEEDS,
    ) -> None:
        self._settings = settings
        self._send = send
        self._feeds = [feed(settings, send, self._log_once) for feed in feeds]
        self._next_probe = 0.0
        self._probing = True
        self._deferred_cancels: list[str] = []
        self._logged: set[str] = set()

    def granted(self) -> tuple[str, ...]:
        """Return the masks Ankaios has granted, in request order."""
        return tuple(mask for feed in self._feeds for mask in feed.granted())

    def current(self) -> list[str]:
        """Return the request ids of the live subscriptions."""
        return [request_id for feed in self._feeds if (request_id := feed.current()) is not None]

    def forget_all(self) -> None:
        """Forget what is in flight: the control-interface task that had it is gone."""
        for feed in self._feeds:
            feed.forget_all()

    def overdue(self, now: float) -> float | None:
        """How long the oldest unanswered request has waited, if longer than the timeout."""
        waits = [feed.overdue(now) for feed in self._feeds]
        return max((wait for wait in waits if wait is not None), default=None)

    def live(self, now: float) -> bool:
        """Whether every feed was read afresh since the last gap and no request waits too long."""
        return all(feed.ready() for feed in self._feeds) and self.overdue(now) is None

    def accepted(self, now: float, *, after_swap: bool = False) -> None:
        """Once a task accepted the Hello: subscribe every feed, cancel leftovers."""
        self._next_probe = now + self._settings.probe_interval
        for feed in self._feeds:
            feed.start(now, after_swap=after_swap)
        for request_id in self._deferred_cancels:
            self._send(cancel_frame(request_id))
        self._deferred_cancels = []

    def before_handshake(self, message: Message) -> None:
        """Note a message that arrived before the handshake (it is not acted on)."""
        # Only a task that accepted the Hello forwards answers (upstream
        # control_interface_task.rs); a late answer of a superseded subscription
        # is cancelled once requests are allowed again.
        if isinstance(message, StateAnswer) and message.altered is None:
            for feed in self._feeds:
                kind = feed.held_back(message)
                if kind is Answer.SUPERSEDED:
                    self._deferred_cancels.append(message.request_id)
                if kind is not Answer.UNKNOWN:
                    return

    def due(self, now: float) -> None:
        """Send the resyncs, retries or probe due at `now`, if any.

        Nothing while a request is overdue: the agent has lost its server, and once
        its queue to the server is full (20 messages, upstream agent `main.rs`) it
        stops reading; what is written then waits in the FIFO, and the task that
        replaces it when the server is back would read it before the Hello and close
        the control interface for good ("Initial Hello missing!").
        """
        if self.overdue(now) is not None:
            return
        renewed = [feed for feed in self._feeds if feed.renew(now)]
        # A renewal's answer proves as much as a probe's. The probe rides on the
        # workload states' requests: their rule covers it.
        if not renewed and self._probing and now >= self._next_probe and self._feeds[0].probe(now):
            self._next_probe = now + self._settings.probe_interval

    def reread(self, now: float) -> None:
        """Subscribe afresh after unreadable data (which may have held an answer)."""
        for feed in self._feeds:
            feed.reread(now)

    def refresh(self, now: float) -> None:
        """Read every feed afresh after a gap; not live until each has answered."""
        for feed in self._feeds:
            feed.reread(now, stale=True)

    def handle(self, message: Message, now: float) -> list[Input]:
        """Handle one message from a task that accepted the Hello; return the owner's inputs."""
        if isinstance(message, StateAnswer):
            return self._state(message, now)
        if isinstance(message, ErrorAnswer):
            self._error(message, now)
        elif isinstance(message, Garbage):
            LOG.warning("skipped a control-interface frame: %s", message.reason)
        elif isinstance(message, OtherAnswer) and message.kind != "eventsCancelAccepted":
            self._log_once(f"ignored a {message.kind} response from the Ankaios agent")
        return []

    def _state(self, answer: StateAnswer, now: float) -> list[Input]:
        for oddity in answer.oddities:
            self._log_once(f"{oddity}; published as UNKNOWN")
        for feed in self._feeds:
            newly = not feed.granted()
            inputs = feed.answered(answer, now)
            if inputs is not None:
                if newly and feed.granted():
                    inputs.append(Granted(self.granted()))
                return inputs
        return []

    def _error(self, error: ErrorAnswer, now: float) -> None:
        for feed in self._feeds:
            kind = feed.failed(error, now)
            if kind is Answer.PROBE and ACCESS_DENIED in error.message:
                # A probe the agent itself refuses proves nothing about the server.
                self._probing = False
                LOG.warning(
                    "Ankaios refused the liveness probe (%s); a silent server outage is "
                    "noticed only at the next resync",
                    error.message,
                )
            if kind is not Answer.UNKNOWN:
                return
        self._log_once(f"the Ankaios agent answered an old request with: {error.message}")

    def _log_once(self, text: str) -> None:
        if text not in self._logged and len(self._logged) < _MAX_LOGGED:
            self._logged.add(text)
            LOG.warning("%s", text)
