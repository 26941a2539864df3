"""The agent's control-interface tasks over time: death, restart, swap, server outage.

Upstream (Ankaios v1.0.1) facts modelled here, each with its source:

* Agent death (``agent/src/main.rs``: no signal handler): the kernel closes the
  reader of ``output`` (opened first in ``agent/src/control_interface.rs``
  ``ControlInterface::new``) and the writer of ``input``; the FIFOs stay
  (``control_interface/fifo.rs`` "Reusing existing fifo file"). The new agent
  opens them again once it reaches the server (``runtime_manager.rs``
  ``handle_server_hello`` -> ``resume_workload``), with a task that wants a Hello.
* Server reconnect (``runtime_manager.rs`` ``resume_and_remove_from_added_workloads``,
  ``runtime_facade.rs`` ``resume_workload_non_blocking``): a new ControlInterface on
  the same paths, then ``self.workloads.insert`` drops the old one: its task is
  aborted and ``fifo.rs``/``io_utils/directory.rs`` Drop unlink both FIFOs and
  remove the directory.
* Server unreachable (``grpc/src/client.rs`` retries every second): requests go into
  the to_server channel (``main.rs`` BUFFER_SIZE 20) unanswered; the server dropped
  the agent's subscriptions on AgentGone (``server/src/ankaios_server/event_handler.rs``
  ``remove_subscribers_of_agent``).
* ConnectionClosed ends the task (``control_interface_task.rs`` ``run``): both ends close.
* A hung server: no gRPC keep-alive or timeout on either side (``grpc/src/client.rs``
  250-266, ``grpc/src/server.rs`` 71-104), so the stream stays up and the agent never
  reconnects; nothing is answered and no event comes. The bounded channels apply
  backpressure, never drop (``agent/src/main.rs`` BUFFER_SIZE 20, ``common/src/lib.rs``
  CHANNEL_CAPACITY 20), and ``ankaios_server.rs`` ``listen_to_agents`` handles one
  message at a time in arrival order once it runs again: late answers, delayed events.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Literal

from bridge.simulator.fifodir import remove_fifos
from bridge.simulator.host import ControlInterfaceHost, Task
from bridge.simulator.session import Phase

log = logging.getLogger(__name__)
CloseOrder = Literal["reader", "writer"]


class Lifecycle(ControlInterfaceHost):
    """Fault knobs for the control interface's lifecycle under a real agent and server."""

    def stop_agent(self, first: CloseOrder = "reader", gap: float = 0.0) -> None:
        """Agent process death: close the ``first`` end, wait ``gap`` s, close the other."""
        # The process dies with its tasks: a reply waiting to retry ends at once.
        for each in (self._task, *self._retiring):
            each.link.abort()
        with self._lock:
            task = self._task
            if task.session.phase is Phase.DOWN:
                return
            task.session.restart(Phase.DOWN)  # AgentGone: the server drops the subscriptions
            if self._journal.outbox is not None:
                self._journal.outbox.clear()  # the to_server channel dies with the process
            if self._journal.backlog is not None:
                # AgentGone: the server drops what it owed the agent and its subscriptions.
                self._journal.backlog.clear()
            retiring, self._retiring = self._retiring, []
        for old in retiring:
            old.link.stop()
        link = task.link
        closes = [link.close_reader, link.close_writer]
        if first == "writer":
            closes.reverse()
        closes[0]()
        if gap > 0:
            time.sleep(gap)
        closes[1]()
        link.stop()

    def start_agent(self) -> None:
        """Model the new agent process reaching the server: a fresh task on the FIFOs."""
        with self._lock:
            if self._task.session.phase is not Phase.DOWN:
                log.warning("start_agent: the agent is running; nothing to start")
                return
            self._journal.outbox = None
            self._resumed = True
            self._open_task()

    def restart_by_policy(self, *, failed: bool = True) -> bool:
        """Re-run the workload's container by its restart policy; return whether it sees the FIFOs.

        ``workload/workload_control_loop.rs`` ``restart_workload_on_runtime`` (183-221)
        keeps the Workload and its control-interface task (``workload.rs`` 92-96): the new
        process's Hello is only logged (``control_interface_task.rs`` 166, "Received yet
        another Hello"), never accepted. A failed container is run anew
        (``update_workload_on_runtime``, ``podman run``): after a resume (an agent restart
        or a server reconnect) the control loop was built without
        ``control_interface_path`` (``runtime_facade.rs`` ``resume_workload_non_blocking``
        311-320), so ``podman_cli.rs`` ``podman_run`` adds no mount. A succeeded one
        (ALWAYS) is ``podman start``ed and keeps its mount (``podman_runtime.rs`` 166-174).
        """
        with self._lock:
            return not (failed and self._resumed)

    def restart_agent(
        self, down_time: float = 0.2, first: CloseOrder = "reader", gap: float = 0.0
    ) -> None:
        """Agent process restart (blocking): stop_agent, ``down_time`` s away, start_agent.

        The new task opens its writer at once (output_pipe.rs ``open``), so with a
        down time near 0 a client that is slow to read may never see the EOF.
        """
        self.stop_agent(first, gap)
        time.sleep(down_time)
        self.start_agent()

    def new_workload_instance(self) -> None:
        """Re-create the workload: the old task's ends close, a fresh task wants a Hello.

        The new writer opens on the first write: upstream's new workload is a new
        container, so the old client keeps seeing EOF until it writes again.
        """
        outbox = self._journal.outbox
        self.stop_agent()
        with self._lock:
            self._journal.outbox = outbox
            self._resumed = False
            self._open_task(eager_writer=False)

    def cut_server(self) -> None:
        """Cut the agent off the server: subscriptions dropped, requests queue unanswered."""
        with self._lock:
            if self._journal.outbox is None:
                self._journal.outbox = []
            self._session.subscriptions.clear()

    def restore_server(self, overlap: float = 0.05) -> None:
        """Reach the server again: the swap, then every queued request answered to the new task."""
        with self._lock:
            queued = self._journal.outbox or []
            self._journal.outbox = None
            if self._session.phase is Phase.DOWN:
                return  # start_agent does the rest when the agent process is back
            self.replace_control_interface(overlap)
            session = self._session
            for request in queued:
                # Routed by workload name to the new task, held there until its Hello.
                self._send(session.deliver(session.answer(request, self._state)))

    def hang_server(self) -> None:
        """Hang the server: requests and the events of changes wait, in arrival order."""
        with self._lock:
            if self._journal.backlog is None:
                self._journal.backlog = []

    def resume_server(self) -> None:
        """Let a hung server run again: the late answers and delayed events, in arrival order."""
        with self._lock:
            backlog, self._journal.backlog = self._journal.backlog or [], None
            for held in backlog:
                self._send(held())

    def replace_control_interface(self, overlap: float = 0.05) -> None:
        """Swap the task as a server reconnect does: new ends, paths unlinked, old ends closed.

        The old reader keeps reading into the old session for ``overlap`` s. When a
        previous swap removed the directory, the new task gets new FIFOs that are
        unlinked at once, and closing the old ends gives the client EOF and POLLERR.
        """
        with self._lock:
            old = self._task
            if old.session.phase is Phase.DOWN:
                log.warning("replace_control_interface: the agent is down; nothing to replace")
                return
            old.session.subscriptions.clear()  # removed on AgentGone
            self._resumed = True
            self._open_task()
            remove_fifos(self.directory, directory_too=True)
            self._retiring.append(old)
            self._timers = [timer for timer in self._timers if timer.is_alive()]
            timer = threading.Timer(overlap, self._retire, (old,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def _retire(self, task: Task) -> None:
        with self._lock:
            if task not in self._retiring:
                return
        # Its reader is closed before the swap counts as over: once a test sees
        # swap_in_progress false, no byte can go to the old task any more.
        task.link.stop()
        with self._lock:
            task.session.phase = Phase.DOWN
            if task in self._retiring:
                self._retiring.remove(task)

    @property
    def server_reachable(self) -> bool:
        """False between cut_server and restore_server."""
        with self._lock:
            return self._journal.outbox is None

    @property
    def swap_in_progress(self) -> bool:
        """True while a replaced task still reads (the ``overlap`` of a swap)."""
        with self._lock:
            return bool(self._retiring)

    @property
    def frames(self) -> list[tuple[int, str]]:
        """Every frame the tasks received: (task number, kind), e.g. ``(2, "hello")``."""
        with self._lock:
            return list(self._journal.frames)
