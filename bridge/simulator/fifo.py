"""The agent's ends of the two control-interface FIFOs, one set per control-interface task.

Names are from the workload's point of view: the agent reads ``output`` and
writes ``input``. Opening follows the real agent (tokio non-blocking pipes,
``agent/src/control_interface.rs`` ``ControlInterface::new``): the reader of
``output`` is opened first (``InputPipe::open``), so that the SDK's blocking
``open(output, "ab")`` returns; then one attempt at the writer of ``input``
(``OutputPipe::open``), which is otherwise opened on the first write.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bridge.simulator.fifodir import INPUT, OUTPUT

log = logging.getLogger(__name__)

_READ_SIZE = 65536
# output_pipe.rs: ENXIO/EPIPE retried AGENT_RECONNECT_INTERVAL_MS (100 ms) apart,
# CONTROL_INTERFACE_MAX_RETRIES (5) retries, i.e. 6 attempts in all.
_OPEN_RETRY = 0.1
_WRITE_ATTEMPTS = 6


class FifoLink:
    """One task's ends: a thread reads ``output`` (reopening it on EOF), writes go to ``input``."""

    def __init__(
        self,
        directory: Path,
        on_bytes: Callable[[bytes], None],
        on_eof: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.directory = directory
        self.output_path = directory / OUTPUT  # the client writes, the agent reads
        self.input_path = directory / INPUT  # the agent writes, the client reads
        self.on_bytes = on_bytes
        self.on_eof = on_eof
        self.on_lost = on_lost
        self._cond = threading.Condition()
        self._want_reader = True
        self._paused = False
        self._reader_open = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = -1, -1
        self._write_lock = threading.Lock()
        self._aborted = threading.Event()
        self._writer_closed = False
        self._wfd: int | None = None

    def start(self, *, eager_writer: bool = True) -> None:
        """Open the reader of ``output``, try the writer of ``input`` once, start the thread."""
        rfd = os.open(self.output_path, os.O_RDONLY | os.O_NONBLOCK)
        self._wake_r, self._wake_w = os.pipe()
        self._reader_open = True
        if eager_writer:
            with self._write_lock:
                self._wfd = self._open_writer()
        self._thread = threading.Thread(
            target=self._run, args=(rfd,), name="ankaios-simulator-reader", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop the reader thread and close both ends (the FIFOs stay)."""
        with self._cond:
            self._stopping = True
        self._wake()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.close_writer()
        with self._cond:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    os.close(fd)
            self._wake_r = self._wake_w = -1

    @staticmethod
    def poke_reader(directory: Path) -> None:
        """Open and close a writer of ``input``: a client blocked in open(input) gets EOF."""
        os.close(os.open(directory / INPUT, os.O_WRONLY | os.O_NONBLOCK))

    def close_reader(self, *, wait: bool = True, timeout: float = 5.0) -> None:
        """Close the reader of ``output`` for good; waits unless called from the reader thread."""
        with self._cond:
            self._want_reader = False
        self._wake()
        if wait and threading.current_thread() is not self._thread:
            with self._cond:
                self._cond.wait_for(lambda: not self._reader_open, timeout=timeout)

    def pause(self) -> None:
        """Keep the reader open but stop reading: the client's bytes wait in the pipe."""
        with self._cond:
            self._paused = True
        self._wake()

    @property
    def reader_open(self) -> bool:
        """True while the reader of ``output`` is open."""
        with self._cond:
            return self._reader_open

    def close_writer(self) -> None:
        """Close the writer of ``input`` for good."""
        with self._write_lock:
            self._writer_closed = True
            if self._wfd is not None:
                os.close(self._wfd)
                self._wfd = None

    def abort(self) -> None:
        """End a write waiting to retry at once, as tokio's abort of the task does."""
        self._aborted.set()

    def write(self, data: bytes, chunk_size: int | None = None, chunk_pause: float = 0.0) -> bool:
        """Send ``data`` with a single system call (or in pieces); False if it was dropped."""
        with self._write_lock:
            for attempt in range(_WRITE_ATTEMPTS):
                if attempt and self._aborted.wait(_OPEN_RETRY):
                    break
                if self._writer_closed:
                    log.info("writer of %s closed: dropped %d bytes", self.input_path, len(data))
                    return False
                fd = self._wfd
                if fd is None:
                    try:
                        fd = self._wfd = self._open_writer(raise_gone=True)
                    except FileNotFoundError:
                        break  # not "receiver gone" in output_pipe.rs: dropped at once
                    except OSError:
                        continue
                if fd is None:
                    continue
                try:
                    self._write_chunks(fd, data, chunk_size, chunk_pause)
                except BrokenPipeError:
                    os.close(fd)
                    self._wfd = None
                    continue
                return True
            log.warning("no reader on %s: dropped %d bytes", self.input_path, len(data))
            return False

    @staticmethod
    def _write_chunks(fd: int, data: bytes, chunk_size: int | None, pause: float) -> None:
        size = chunk_size if chunk_size and chunk_size > 0 else len(data) or 1
        for offset in range(0, len(data), size):
            if offset:
                time.sleep(pause)
            _write_all(fd, data[offset : offset + size])

    def _open_writer(self, *, raise_gone: bool = False) -> int | None:
        try:
            fd = os.open(self.input_path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as err:
            if raise_gone:
                raise
            if err.errno not in (errno.ENXIO, errno.ENOENT):
                log.warning("cannot open %s: %s", self.input_path, err)
            return None
        # Blocking from here on: a frame goes out with one write() call.
        os.set_blocking(fd, True)
        return fd

    def _wake(self) -> None:
        with self._cond:
            if self._wake_w >= 0:
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"x")

    def _run(self, rfd: int | None) -> None:
        while True:
            with self._cond:
                if rfd is not None and (self._stopping or not self._want_reader):
                    os.close(rfd)
                    rfd = None
                    self._reader_open = False
                    self._cond.notify_all()
                if self._stopping:
                    return
                watched = rfd if rfd is not None and not self._paused else None
            rfd = self._serve(rfd, watched)

    def _serve(self, rfd: int | None, watched: int | None) -> int | None:
        fds = [self._wake_r] if watched is None else [self._wake_r, watched]
        ready, _, _ = select.select(fds, [], [])
        if self._wake_r in ready:
            os.read(self._wake_r, 4096)
        if rfd is None or watched is None or rfd not in ready:
            return rfd
        try:
            data = os.read(rfd, _READ_SIZE)
        except BlockingIOError:
            return rfd
        if data:
            try:
                self.on_bytes(data)
            except Exception:  # keep serving: one bad frame must not end the agent
                log.exception("failed to handle %d bytes from %s", len(data), self.output_path)
            return rfd
        return self._reopen(rfd)

    def _reopen(self, rfd: int) -> int | None:
        # EOF: the client closed its end. input_pipe.rs drops its BufReader (and a
        # partial frame with it) and reopens the path, keeping the session. The new
        # reader is opened before the old one is closed, so a client connecting
        # meanwhile never meets a FIFO without a reader; a fresh O_NONBLOCK reader
        # sees no EOF until a writer came and went.
        self.on_eof()
        with self._cond:
            try:
                fresh: int | None = os.open(self.output_path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as err:
                # After a swap unlinked the path. Upstream then fails every read at
                # once (a hot loop); the simulator closes the reader and tells the task.
                log.warning("cannot reopen %s: %s", self.output_path, err)
                fresh = None
            os.close(rfd)
            if fresh is None:
                self._reader_open = False
                self._want_reader = False
                self._cond.notify_all()
        if fresh is None:
            self.on_lost()
        return fresh


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
