"""The agent's control-interface tasks for one workload: bytes in, frames out.

Each task (a ``Session`` with its own FIFO ends, ``FifoLink``) is one upstream
``ControlInterfaceTask`` (``agent/src/control_interface/control_interface_task.rs``);
``lifecycle.py`` replaces, stops and restarts them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Self

from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import cluster, protoconv
from bridge.simulator.authorizer import Authorizer
from bridge.simulator.fifo import FifoLink
from bridge.simulator.fifodir import create_fifos, remove_fifos
from bridge.simulator.session import DECODE_ERROR, Journal, Messages, Phase, Session
from bridge.simulator.statetree import Tree

log = logging.getLogger(__name__)


class Task:
    """One control-interface task: its protocol session, frame splitter and FIFO ends."""

    def __init__(self, session: Session, link: FifoLink) -> None:
        self.session = session
        self.link = link
        self.splitter = protoconv.FrameSplitter()


class ControlInterfaceHost:
    """The agent side of one workload's control interface in ``directory``."""

    def __init__(self, directory: Path, authorizer: Authorizer) -> None:
        self.directory = Path(directory)
        self.chunk_size: int | None = None
        self.chunk_pause = 0.0
        self._lock = threading.RLock()
        self._authorizer = authorizer
        self._journal = Journal()
        self._state: Tree = cluster.empty_state()
        self._burst: bytearray | None = None
        self._numbers = 0
        self._retiring: list[Task] = []
        self._timers: list[threading.Timer] = []
        # Resumed by a new agent process or a server reconnect (lifecycle.py).
        self._resumed = False
        self._task = self._new_task()

    def _new_task(self) -> Task:
        self._numbers += 1
        session = Session(self._authorizer, self._journal, self._numbers)
        task = Task(session, FifoLink(self.directory, lambda _: None))
        task.link.on_bytes = lambda data: self._receive(task, data)
        task.link.on_eof = lambda: self._eof(task)
        task.link.on_lost = lambda: self._lost(task)
        return task

    def _open_task(self, *, eager_writer: bool = True) -> None:
        """Open a fresh task that wants a Hello; ControlInterface::new creates what is missing."""
        task = self._new_task()
        create_fifos(self.directory)
        task.link.start(eager_writer=eager_writer)
        self._task = task

    def start(self) -> None:
        """Create the FIFOs, hold the read end of ``output`` and start serving."""
        with self._lock:
            create_fifos(self.directory)
            self._task.link.start()

    def stop(self) -> None:
        """Close every end, stop the reader threads and remove the FIFOs (if still there)."""
        # control_interface.rs: dropping a ControlInterface aborts its task, so a reply
        # waiting to retry on a pipe nobody reads (output_pipe.rs) ends at once.
        for task in (self._task, *self._retiring):
            task.link.abort()
        with self._lock:
            timers, self._timers = self._timers, []
            tasks, self._retiring = [self._task, *self._retiring], []
            self._task.session.phase = Phase.DOWN
        for timer in timers:
            timer.cancel()
            timer.join()
        for task in tasks:
            task.link.stop()
        # A client still blocked in open(input) (it never got an answer) sees EOF
        # instead of hanging on a FIFO that is about to be removed.
        with contextlib.suppress(OSError):
            FifoLink.poke_reader(self.directory)
        remove_fifos(self.directory, directory_too=False)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    @property
    def _session(self) -> Session:
        return self._task.session

    @property
    def _link(self) -> FifoLink:
        return self._task.link

    def _receive(self, task: Task, data: bytes) -> None:
        with self._lock:
            if task is self._task:
                self._on_bytes(data)
                return
            # An aborted task still reading for a moment (tokio abort is
            # asynchronous): what it forwards, the server answers by workload name
            # (runtime_manager.rs forward_response), so to the task that replaced it,
            # held there until its Hello; a subscription it made belongs to the workload.
            if not task.session.alive:
                return
            current = self._task.session
            # The server's subscriptions are the workload's, whichever task asks.
            task.session.subscriptions = current.subscriptions
            with contextlib.suppress(protoconv.FrameError):
                for body in task.splitter.feed(data):
                    self._send(current.deliver(task.session.receive(body, self._state)))
            if not task.session.alive:
                task.link.close_writer()
                task.link.close_reader(wait=False)

    def _on_bytes(self, data: bytes) -> None:
        task = self._task
        if not task.session.alive:
            return  # a dead agent's end still open for a moment (stop_agent's gap)
        try:
            bodies = task.splitter.feed(data)
        except protoconv.FrameError:
            # input_pipe.rs: a length it cannot read is a decode error like any other.
            bodies = [b"\xff"]
        for body in bodies:
            self._send(task.session.receive(body, self._state))
            if not task.session.alive:
                self._end(task)
                return
            if task.session.blocked:
                task.link.pause()
                return

    def _eof(self, task: Task) -> None:
        with self._lock:
            task.splitter = protoconv.FrameSplitter()

    def _lost(self, task: Task) -> None:
        with self._lock:
            if task is self._task and task.session.phase is Phase.WAIT_HELLO:
                # check_initial_hello maps the failed read to a decode error.
                self._send(task.session.close(DECODE_ERROR))
                self._end(task)

    def _end(self, task: Task) -> None:
        # control_interface_task.rs run: returning drops output_stream and input_stream.
        task.link.close_writer()
        task.link.close_reader(wait=False)

    def _send(self, messages: Messages) -> None:
        for message in messages:
            self._write(protoconv.frame(message))

    def _write(self, data: bytes) -> None:
        if self._burst is not None:
            self._burst += data
            return
        self._link.write(data, self.chunk_size, self.chunk_pause)

    @contextlib.contextmanager
    def burst(self) -> Iterator[None]:
        """Collect every frame produced inside the block and write them with one write()."""
        with self._lock:
            outer = self._burst is None
            if outer:
                self._burst = bytearray()
        try:
            yield
        finally:
            if outer:
                with self._lock:
                    data, self._burst = bytes(self._burst or b""), None
                    if data:
                        self._link.write(data, self.chunk_size, self.chunk_pause)

    def write_raw(self, data: bytes) -> None:
        """Write bytes to the client as they are (e.g. a varint length and a junk body)."""
        with self._lock:
            self._write(bytes(data))

    def send_response(self, response: _ank_base.Response) -> None:
        """Write any Response as a framed FromAnkaios message."""
        with self._lock:
            self._send([_control_api.FromAnkaios(response=response)])

    def close_connection(self, reason: str) -> None:
        """Send ConnectionClosed(reason); the task ends and closes both ends (FIFOs stay)."""
        with self._lock:
            task = self._task
            if not task.session.alive:
                return
            self._send(task.session.close(reason))
            self._end(task)
        task.link.close_reader()

    def stop_reading(self) -> None:
        """Stop reading ``output`` for good (the read end closes) while staying alive."""
        self._link.close_reader()
