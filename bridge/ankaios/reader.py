"""The control-interface reader: a thread that keeps the feeds alive, come what may.

It reports what the feeds give (Snapshot, Changes, ...), whether it holds a live
subscription (AnkaiosLink), and only what cannot be recovered as SourceFailed. What a real
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

from bridge.ankaios import handshake, logs, stops, transport
from bridge.ankaios.feeds import Feeds
from bridge.ankaios.handshake import Handshake
from bridge.ankaios.outage import RETRY, Outage
from bridge.ankaios.protocol import Accepted, Closed, cancel_frame, hello_frame
from bridge.ankaios.transport import AgentGoneError, ControlInterfaceError
from bridge.core.inputs import AnkaiosLink, Input, SourceFailed
from bridge.settings.commands import AnkaiosSettings

LOG = logging.getLogger(__name__)
# The swap of the FIFOs must be seen within 100 ms: the reader wakes this often.
_TICK = 0.05


class _Phase(enum.Enum):
    AWAY = enum.auto()
    HANDSHAKE = enum.auto()
    CONNECTED = enum.auto()


class AnkaiosReader:
    """Gives `sink` what the feeds give, AnkaiosLink and, when all is lost, SourceFailed."""

    def __init__(self, settings: AnkaiosSettings, sink: Callable[[Input], None]) -> None:
        self.settings = settings
        self.sink = sink
        self.logs = logs.LogChannel()
        self._directory = settings.control_interface
        # What the feeds make while handling one thing, sent once they are done.
        self._outbox: list[bytes] = []
        self.feeds = Feeds(settings, self._outbox.append)
        self._connection = transport.Connection(transport.Fifos(self._directory))
        self._thread = threading.Thread(target=self._run, name="ankaios", daemon=True)
        self._stopping = threading.Event()
        self._phase = _Phase.AWAY
        self._outage = Outage(self._directory, settings.agent_reconnect_timeout)
        self._handshake = Handshake(settings.handshake_timeout)
        self._swap_seen = False
        self._link = False
        # Unanswered while connected: whatever happened meanwhile must be read afresh.
        self._gap = False
        self._broken: str | None = None
        self._reconnects = 0
        self._replacements = 0

    def start(self) -> None:
        """Check that the control interface exists (ControlInterfaceError if not), start reading."""
        transport.check_fifos(self._connection.fifos)
        self._outage.begin(time.monotonic())
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader, which cancels the subscription (best effort) and closes the FIFOs."""
        self._stopping.set()
        if self._thread.is_alive():
            # At most one blocked write (2 s) and one tick.
            self._thread.join(transport.WRITE_TIMEOUT + 2 * _TICK)
        else:
            self._connection.close()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._step()
            self._farewell()
        except ControlInterfaceError as fatal:
            self.sink(SourceFailed(fatal.stop))
        except Exception:
            # A bug must end the bridge visibly, not leave it mirroring nothing.
            LOG.exception("the control-interface reader failed")
            self.sink(SourceFailed(stops.reader_failed()))
        finally:
            self._connection.close()

    def _farewell(self) -> None:
        current = [*map(cancel_frame, self.feeds.current()), *self.logs.farewell()]
        if not current or self._phase is not _Phase.CONNECTED:
            return
        if self.feeds.overdue(time.monotonic()) is not None:
            return  # it could wait in the FIFO for the task that replaces this one
        if not self._connection.unlinked():
            with contextlib.suppress(AgentGoneError):
                for data in current:
                    self._connection.send(data)

    def _step(self) -> None:
        if self._phase is _Phase.AWAY:
            self._try_open()
            return
        self._broken = None
        try:
            # Every message first, even after a failed write: a ConnectionClosed
            # later in the same read must still end the bridge with its reason.
            for received in self._connection.read(_TICK):
                self._handle(received)
            if self._broken is None:
                self._tick(time.monotonic())
        except AgentGoneError as err:
            self._broken = str(err)
        if self._broken is not None:
            self._lose(self._broken)

    def _try_open(self) -> None:
        now = time.monotonic()
        if now < self._outage.next_open:
            self._stopping.wait(self._outage.next_open - now)
            return
        try:
            self._connection.open()
        except transport.AgentAwayError:
            self._outage.away(now)
            self._stopping.wait(RETRY)
            return
        except transport.FifosRemovedError:
            raise ControlInterfaceError(stops.fifos_removed(self._directory)) from None
        except OSError as err:
            raise ControlInterfaceError(stops.cannot_open(self._directory, err)) from None
        self._swap_seen = False
        try:
            self._begin_handshake(now)
        except AgentGoneError as err:
            # The dying agent's reader was still open a moment ago (writer closed first).
            self._lose(str(err))

    def _begin_handshake(self, now: float) -> None:
        self._phase = _Phase.HANDSHAKE
        self._handshake.begin(now)
        self._connection.send(hello_frame())

    def _lose(self, why: str) -> None:
        self._connection.close()
        self.feeds.forget_all()
        self._outage.lost(time.monotonic(), why)
        self._phase = _Phase.AWAY
        self._report_link(time.monotonic())

    def _rehandshake_if_swapped(self, now: float) -> bool:
        if self._swap_seen or not self._connection.unlinked():
            return False
        self._swap_seen = True
        self._replacements += 1
        self.feeds.forget_all()
        LOG.warning("%s", handshake.replaced())
        self._begin_handshake(now)
        self._report_link(now)
        return True

    def _tick(self, now: float) -> None:
        if self._rehandshake_if_swapped(now):
            return
        if self._phase is _Phase.HANDSHAKE:
            if self._handshake.due(now):
                self._connection.send(hello_frame())
        elif self._phase is _Phase.CONNECTED:
            if self.feeds.overdue(now) is not None:
                # Unanswered (a hung server): late answers will say nothing of what was
                # missed meanwhile, even during the read that follows an earlier gap.
                self._gap = True
            elif self._gap:
                self._gap = False
                LOG.info("Ankaios answers again; reading the full state before 'connected'")
                self.feeds.refresh(now)
            self.feeds.due(now)
            self._flush()
        self._report_link(now)

    def _flush(self) -> None:
        frames = [*self._outbox, *self.logs.frames(lambda: self.feeds.overdue(time.monotonic()))]
        self._outbox.clear()
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
        connected = self._phase is _Phase.CONNECTED
        live = connected and self.feeds.live(now)
        if live == self._link:
            return
        self._link = live
        if live:
            LOG.info("the Ankaios subscription is live")
        elif connected and (waited := self.feeds.overdue(now)) is not None:
            LOG.warning("%s", handshake.unanswered(waited))
        warnings = (stops.ONE_RECONNECT_LEFT,) if self._replacements else ()
        self.sink(AnkaiosLink(live, self._reconnects, warnings))

    def _handle(self, received: transport.Received) -> None:  # noqa: C901 - one case a kind
        match received:
            case transport.Gone(reason):
                # The last of a read; its reason beats a failed write's.
                self._broken = reason
            case transport.Garbled(reason):
                LOG.warning("%s", handshake.garbled(reason))
                if self._phase is _Phase.CONNECTED:
                    self.feeds.reread(time.monotonic())
                    self._flush()
            case Closed(reason) if self._phase is _Phase.HANDSHAKE:
                raise ControlInterfaceError(stops.refused(reason))
            case Closed(reason):
                raise ControlInterfaceError(stops.closed(reason))
            case Accepted():
                if self._phase is _Phase.HANDSHAKE:
                    self._accepted(time.monotonic())
            case _ if (answer := self.logs.take(received)) is not None:
                self.sink(answer)
            case _ if self._phase is not _Phase.CONNECTED:
                self.feeds.before_handshake(received)
            case _:
                for given in self.feeds.handle(received, time.monotonic()):
                    self.sink(given)
                self._flush()

    def _accepted(self, now: float) -> None:
        self._phase = _Phase.CONNECTED
        # Every feed subscribes afresh after a handshake: that read covers any gap.
        self._gap = False
        self._outage.over()
        self._reconnects += self._handshake.accepted(self._directory)
        if self._swap_seen and self._replacements == 1:
            LOG.warning("%s", stops.ONE_RECONNECT_LEFT)
        self.feeds.accepted(now, after_swap=self._swap_seen)
        self._flush()
