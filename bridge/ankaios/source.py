"""The Ankaios event source: a reader thread that keeps a subscription alive, come what may.

It reports Snapshot and Changes, whether it holds a live subscription
(AnkaiosLink), and only what cannot be recovered as SourceFailed. What a real
agent does to the control interface (upstream v1.0.1): it dies and comes back on
the same FIFOs (EOF and POLLERR here, in either order); on every reconnect to its
server it hands the FIFOs to a new task that wants a Hello and unlinks them (a
link count of zero here); while its server is away it answers nothing.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable

from bridge.ankaios import advice
from bridge.ankaios.handshake import Handshake, Overdue
from bridge.ankaios.protocol import Accepted, Closed, Message, cancel_frame, hello_frame
from bridge.ankaios.subscription import Subscription, SubscriptionError
from bridge.ankaios.transport import (
    WRITE_TIMEOUT,
    AgentAwayError,
    AgentGoneError,
    Connection,
    Fifos,
    FifosRemovedError,
    check_fifos,
)
from bridge.core.inputs import AnkaiosLink, Input, SourceFailed
from bridge.settings.commands import AnkaiosSettings

LOG = logging.getLogger(__name__)
# The swap of the FIFOs must be seen within 100 ms: the reader wakes this often.
_TICK = 0.05
_AWAY_RETRY = 0.1


class _Phase(enum.Enum):
    AWAY = enum.auto()
    HANDSHAKE = enum.auto()
    CONNECTED = enum.auto()


class _FatalError(Exception):
    """Raised inside the reader thread for what cannot be recovered."""


class AnkaiosSource:
    """Feeds `sink` with Snapshot, Changes, AnkaiosLink and, when all is lost, SourceFailed."""

    def __init__(self, settings: AnkaiosSettings, sink: Callable[[Input], None]) -> None:
        self.settings = settings
        self.sink = sink
        self.subscription = Subscription(
            settings.resync_interval, settings.probe_interval, settings.request_timeout
        )
        self._connection = Connection(Fifos(settings.control_interface))
        self._thread = threading.Thread(target=self._run, name="ankaios", daemon=True)
        self._stopping = threading.Event()
        self._phase = _Phase.AWAY
        self._away_since = 0.0
        # One warning per outage: the wait at start-up, or the loss and its retries.
        self._outage_logged = False
        self._handshake = Handshake(settings.handshake_timeout)
        self._swap_seen = False
        self._link = False
        self._next_open = 0.0
        self._broken: str | None = None
        self._reconnects = 0

    def start(self) -> None:
        """Check that the control interface exists (ControlInterfaceError if not), start reading."""
        check_fifos(self._connection.fifos)
        self._away_since = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader, which cancels the subscription (best effort) and closes the FIFOs."""
        self._stopping.set()
        if self._thread.is_alive():
            # At most one blocked write (2 s) and one tick.
            self._thread.join(WRITE_TIMEOUT + 2 * _TICK)
        else:
            self._connection.close()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._step()
            self._farewell()
        except (_FatalError, SubscriptionError) as fatal:
            self.sink(SourceFailed(str(fatal)))
        except Exception:
            # A bug must end the bridge visibly, not leave it mirroring nothing.
            LOG.exception("the control-interface reader failed")
            self.sink(SourceFailed("the control-interface reader failed (a bug; see above)"))
        finally:
            self._connection.close()

    def _farewell(self) -> None:
        current = self.subscription.current()
        if not current or self._phase is not _Phase.CONNECTED:
            return
        if self.subscription.overdue(time.monotonic()) is not None:
            return  # it could wait in the FIFO for the task that replaces this one
        if not self._connection.unlinked():
            with contextlib.suppress(AgentGoneError):
                for request_id in current:
                    self._connection.send(cancel_frame(request_id))

    def _step(self) -> None:
        if self._phase is _Phase.AWAY:
            self._try_open()
            return
        self._broken = None
        try:
            reading = self._connection.read(_TICK)
            # Every message first, even after a failed write: a ConnectionClosed
            # later in the same read must still end the bridge with its reason.
            for message in reading.messages:
                self._handle(message)
            if reading.garbled is not None:
                LOG.warning("%s", advice.garbled(reading.garbled))
                if self._phase is _Phase.CONNECTED:
                    self._send(self.subscription.reread(time.monotonic()))
            gone = reading.gone or self._broken
            if gone is None:
                self._tick(time.monotonic())
                gone = self._broken
        except AgentGoneError as err:
            gone = str(err)
        if gone is not None:
            self._lose(gone)

    def _try_open(self) -> None:
        now = time.monotonic()
        if now < self._next_open:
            self._stopping.wait(self._next_open - now)
            return
        try:
            self._connection.open()
        except AgentAwayError:
            self._wait_for_agent(now)
            return
        except FifosRemovedError:
            raise _FatalError(advice.fifos_removed(self.settings.control_interface)) from None
        except OSError as err:
            raise _FatalError(advice.cannot_open(self.settings.control_interface, err)) from None
        self._swap_seen = False
        try:
            self._begin_handshake(now)
        except AgentGoneError as err:
            # The dying agent's reader was still open a moment ago (writer closed first).
            self._lose(str(err))

    def _wait_for_agent(self, now: float) -> None:
        bound = self.settings.agent_reconnect_timeout
        if bound > 0 and now - self._away_since > bound:
            raise _FatalError(advice.agent_away(self.settings.control_interface, bound))
        if not self._outage_logged:
            self._outage_logged = True
            LOG.warning("%s", advice.waiting_for_agent(self.settings.control_interface))
        self._stopping.wait(_AWAY_RETRY)

    def _begin_handshake(self, now: float) -> None:
        self._phase = _Phase.HANDSHAKE
        self._handshake.begin(now)
        self._connection.send(hello_frame())

    def _lose(self, why: str) -> None:
        self._connection.close()
        self.subscription.forget_all()
        # A dying agent's end may still be open for a moment: no reopen at once.
        self._next_open = time.monotonic() + _AWAY_RETRY
        if not self._outage_logged:
            # A reconnect that fails again belongs to the same outage.
            self._outage_logged = True
            self._away_since = time.monotonic()
            LOG.warning("%s", advice.agent_lost(why))
        self._phase = _Phase.AWAY
        self._report_link(time.monotonic())

    def _replaced(self, now: float) -> None:
        self._swap_seen = True
        self.subscription.forget_all()
        LOG.warning("%s", advice.replaced())
        self._begin_handshake(now)
        self._report_link(now)

    def _rehandshake_if_swapped(self, now: float) -> bool:
        if not self._swap_seen and self._connection.unlinked():
            self._replaced(now)
            return True
        return False

    def _tick(self, now: float) -> None:
        if self._rehandshake_if_swapped(now):
            return
        if self._phase is _Phase.HANDSHAKE:
            self._tick_handshake(now)
        elif self._phase is _Phase.CONNECTED:
            self._send(self.subscription.due(now))
        self._report_link(now)

    def _tick_handshake(self, now: float) -> None:
        overdue = self._handshake.overdue(now)
        timeout = self.settings.handshake_timeout
        if overdue is Overdue.FINAL:
            raise _FatalError(advice.handshake_unanswered(timeout))
        if overdue is Overdue.WARN:
            LOG.warning("%s", advice.handshake_slow(timeout))
        if self._handshake.repeat_due(now):
            self._connection.send(hello_frame())

    def _send(self, frames: list[bytes]) -> None:
        for data in frames:
            # Before every request: one that reaches a task still waiting for its
            # Hello is answered with ConnectionClosed, which would end this workload.
            if self._phase is not _Phase.CONNECTED or self._broken is not None:
                return
            if self._rehandshake_if_swapped(time.monotonic()):
                return
            try:
                self._connection.send(data)
            except AgentGoneError as err:
                self._broken = str(err)

    def _report_link(self, now: float) -> None:
        live = self._phase is _Phase.CONNECTED and self.subscription.live(now)
        if live == self._link:
            return
        self._link = live
        waited = self.subscription.overdue(now)
        if live:
            LOG.info("the Ankaios subscription is live")
        elif waited is not None and self._phase is _Phase.CONNECTED:
            LOG.warning("%s", advice.unanswered(waited))
        self.sink(AnkaiosLink(live, self._reconnects))

    def _handle(self, message: Message) -> None:
        if isinstance(message, Closed):
            if self._phase is _Phase.HANDSHAKE:
                raise _FatalError(advice.refused(message.reason))
            raise _FatalError(advice.closed(message.reason))
        now = time.monotonic()
        if isinstance(message, Accepted):
            if self._phase is _Phase.HANDSHAKE:
                self._accepted(now)
            return
        if self._phase is not _Phase.CONNECTED:
            self.subscription.before_handshake(message)
            return
        outcome = self.subscription.handle(message, now)
        for report in outcome.reports:
            self.sink(report)
        self._send(outcome.frames)

    def _accepted(self, now: float) -> None:
        self._phase = _Phase.CONNECTED
        self._outage_logged = False
        LOG.info(
            "%s to the Ankaios agent at %s",
            "reconnected" if self._handshake.ever_accepted else "connected",
            self.settings.control_interface,
        )
        self._reconnects += self._handshake.ever_accepted
        self._handshake.ever_accepted = True
        self._send(self.subscription.accepted(now, after_swap=self._swap_seen))
