"""The control-interface FIFOs: opening, the Hello handshake, reading frames, writing.

The bridge owns this transport instead of the SDK's reader, which delays
back-to-back frames, truncates frames that arrive in pipe-sized pieces and cannot
say why a handshake failed (the project's SDK notes measure each defect).
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from bridge.ankaios import stops
from bridge.ankaios.framing import FrameError, FrameSplitter
from bridge.ankaios.protocol import Message, decode
from bridge.core.info import StopReason

_READ_SIZE = 1 << 16
# Reads per wake-up before other work gets a turn (1 MiB).
_READS_PER_WAKE = 16
WRITE_TIMEOUT = 2.0
_WRITE_RETRY = 0.05


class ControlInterfaceError(Exception):
    """The control interface cannot be used; `stop` says why and what to do."""

    def __init__(self, stop: StopReason) -> None:
        super().__init__(stop.line())
        self.stop = stop


class AgentGoneError(Exception):
    """The agent closed its end of the FIFOs (it died, restarts or ended its task)."""


class AgentAwayError(Exception):
    """Nobody reads `output`: the agent is not running (yet), or has not reached its server."""


class FifosRemovedError(Exception):
    """The FIFO paths are gone: the agent replaced and then dropped this control interface."""


@dataclass(frozen=True, slots=True)
class Fifos:
    """The two FIFOs in the control-interface directory, named from the workload's side."""

    directory: Path

    @property
    def input(self) -> Path:
        """The FIFO the workload reads (agent -> workload)."""
        return self.directory / "input"

    @property
    def output(self) -> Path:
        """The FIFO the workload writes (workload -> agent)."""
        return self.directory / "output"


def check_fifos(fifos: Fifos) -> None:
    """Raise ControlInterfaceError unless both FIFOs exist."""
    for path in (fifos.input, fifos.output):
        try:
            is_fifo = stat.S_ISFIFO(path.stat().st_mode)
        except OSError:
            is_fifo = False
        if not is_fifo:
            raise ControlInterfaceError(stops.missing(fifos.directory, path.name))


def _require_fifos(*fds: int) -> None:
    # A regular file reads as EOF at once: it would be reopened without end.
    for fd in fds:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a FIFO")


@dataclass(frozen=True, slots=True)
class Garbled:
    """The byte stream could not be split into frames; what was buffered was dropped."""

    reason: str


@dataclass(frozen=True, slots=True)
class Gone:
    """The agent's end of the FIFOs is gone (last in a read: nothing follows it)."""

    reason: str


Received = Message | Garbled | Gone


class Connection:
    """One open pair of FIFO ends; `open()`, then `send()` and `read()` until the agent goes."""

    def __init__(self, fifos: Fifos) -> None:
        self.fifos = fifos
        self._read_fd = -1
        self._write_fd = -1
        self._splitter = FrameSplitter()

    def open(self) -> None:
        """Open both ends once; raise AgentAwayError or FifosRemovedError when that fails.

        `output` goes first: its open fails at once while no agent reads it, and
        the read end of `input` must be open before the Hello so that the agent's
        writer (opened lazily, 100 ms retries in upstream `output_pipe.rs`) finds it.
        """
        self.close()
        try:
            self._write_fd = os.open(self.fifos.output, os.O_WRONLY | os.O_NONBLOCK)
            self._read_fd = os.open(self.fifos.input, os.O_RDONLY | os.O_NONBLOCK)
            _require_fifos(self._write_fd, self._read_fd)
        except OSError as err:
            self.close()
            if err.errno in (errno.ENOENT, errno.ENOTDIR):
                raise FifosRemovedError(str(err)) from None
            if err.errno == errno.ENXIO:
                raise AgentAwayError(str(err)) from None
            raise

    def close(self) -> None:
        """Close both ends (idempotent)."""
        for fd in (self._read_fd, self._write_fd):
            if fd >= 0:
                os.close(fd)
        self._read_fd = self._write_fd = -1
        self._splitter.clear()

    def unlinked(self) -> bool:
        """Whether the FIFOs behind the open ends have been unlinked.

        Upstream's agent, reconnecting to its server, hands these very FIFOs to a
        new control-interface task and then unlinks them (runtime_manager.rs
        `handle_server_hello`, io_utils/directory.rs): no EOF, no POLLERR; a link
        count of zero is the only sign.
        """
        try:
            return os.fstat(self._write_fd).st_nlink == 0
        except OSError:
            return False

    def send(self, data: bytes) -> None:
        """Write one frame; raise AgentGoneError when nobody reads `output` any more."""
        view = memoryview(data)
        deadline = time.monotonic() + WRITE_TIMEOUT
        while view:
            try:
                written = os.write(self._write_fd, view)
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise AgentGoneError(
                        "the agent stopped reading the control interface"
                    ) from None
                select.select([], [self._write_fd], [], _WRITE_RETRY)
                continue
            except OSError as err:
                raise AgentGoneError(err.strerror or str(err)) from None
            view = view[written:]

    def read(self, timeout: float) -> list[Received]:
        """Wait up to `timeout` s; return the messages that arrived, then Garbled and Gone if so.

        Data read in the same wake-up as the sign of the agent's end comes first:
        a final ConnectionClosed and its reason must not be lost to the POLLERR.
        """
        poller = select.poll()
        poller.register(self._read_fd, select.POLLIN)
        # Registered for nothing: POLLERR (the agent closed the `output` reader)
        # is reported anyway.
        poller.register(self._write_fd, 0)
        received: list[Received] = []
        gone: str | None = None
        garbled: str | None = None
        for fd, events in poller.poll(max(timeout, 0.0) * 1000):
            if fd == self._read_fd:
                try:
                    gone = self._read_available(received) or gone
                except FrameError as err:
                    garbled = str(err)
                    self.drop_buffer()
            elif events & select.POLLERR:
                gone = gone or "the agent no longer reads the control interface"
        if garbled is not None:
            received.append(Garbled(garbled))
        if gone is not None:
            received.append(Gone(gone))
        return received

    def drop_buffer(self) -> None:
        """Discard the partial frame and whatever is readable now (after garbage)."""
        self._splitter.clear()
        try:
            while os.read(self._read_fd, _READ_SIZE):
                pass
        except BlockingIOError:
            pass

    def _read_available(self, received: list[Received]) -> str | None:
        for _ in range(_READS_PER_WAKE):
            try:
                data = os.read(self._read_fd, _READ_SIZE)
            except BlockingIOError:
                return None
            if not data:
                return "the agent closed the control interface"
            received.extend(decode(body) for body in self._splitter.feed(data))
            if len(data) < _READ_SIZE:
                return None
        return None
