"""A simulated Ankaios 1.0 agent serving one workload's control interface.

The real ankaios-sdk cannot tell it from an agent: it creates the FIFOs, answers
the Hello handshake once per control-interface task, serves state requests
and event subscriptions with the server's algorithms, and offers fault knobs
(agent death and restart, server reconnects and outages, dropped subscriptions,
garbage and split frames) for tests; the lifecycle faults live in ``lifecycle.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from bridge.simulator import cluster
from bridge.simulator.authorizer import Authorizer
from bridge.simulator.lifecycle import Lifecycle
from bridge.simulator.session import Messages, Phase
from bridge.simulator.statetree import Tree

_POLL = 0.01


class AgentSimulator(Lifecycle):
    """The agent side of a control interface in ``directory``.

    ``read_rules``/``deny_rules`` are the workload's StateRule filter masks for
    reading (deny rules apply to every operation); ``write_rules`` and
    ``log_rules`` (workload-name patterns) allow updates and logs. The optional
    ``owner_agent`` is the agent the simulated client runs on: while it is
    disconnected from the server, the server is unreachable for the client
    (``cut_server``), and its return is a ``restore_server``.
    """

    def __init__(
        self,
        directory: Path,
        *,
        read_rules: Sequence[str] = ("*",),
        deny_rules: Sequence[str] = (),
        write_rules: Sequence[str] = (),
        log_rules: Sequence[str] = (),
        owner_agent: str | None = None,
    ) -> None:
        authorizer = Authorizer(
            tuple(read_rules), tuple(deny_rules), tuple(write_rules), tuple(log_rules)
        )
        super().__init__(directory, authorizer)
        self.owner_agent = owner_agent
        self._change_base: Tree | None = None

    def _apply(self, new_state: Tree) -> None:
        with self._lock:
            old, self._state = self._state, new_state
            if self._change_base is None:
                self._send(self._session.events(old, new_state))
                self._relay_logs(lambda: self._journal.logs.changed(new_state))

    @contextlib.contextmanager
    def change(self) -> Iterator[None]:
        """Compute all mutations inside the block as one server change (one event each)."""
        with self._lock:
            outer = self._change_base is None
            if outer:
                self._change_base = self._state
            try:
                yield
            finally:
                if outer:
                    base, self._change_base = self._change_base, None
                    if base is not None:
                        self._send(self._session.events(base, self._state))
                        self._relay_logs(lambda: self._journal.logs.changed(self._state))

    def set_state(
        self,
        agent: str,
        workload: str,
        iid: str,
        state: str = "RUNNING",
        substate: str | None = None,
        additional_info: str | None = None,
    ) -> None:
        """Set an instance's execution state by SDK names; agent "" is not scheduled.

        ``substate=None`` picks the state's first sub-state. State REMOVED removes
        the instance, as the server does when an agent reports it.
        """
        execution = cluster.execution_state(state, substate, additional_info)
        with self._lock:
            if state == "REMOVED":
                self._apply(cluster.without_instance(self._state, agent, workload, iid))
            else:
                self._apply(cluster.with_instance(self._state, agent, workload, iid, execution))

    def print_lines(self, agent: str, workload: str, iid: str, *lines: str) -> None:
        """Print `lines` from an instance (one LogEntry each): followers of its log get them."""
        with self._lock:
            self._relay_logs(lambda: self._journal.logs.print_lines((agent, workload, iid), lines))

    def _relay_logs(self, make: Callable[[], Messages]) -> None:
        # The server relays log entries. Cut off from it, or restarted since, the client's
        # agent has lost its campaigns (ankaios_server.rs AgentGone, log_campaign_store.rs).
        logs = self._journal.logs
        logs.clear(None if self._journal.outbox is not None else self._session.number)
        self._send(self._session.deliver(make()))

    def remove(self, agent: str, workload: str, iid: str) -> None:
        """Remove an instance (its agent reported Removed)."""
        with self._lock:
            self._apply(cluster.without_instance(self._state, agent, workload, iid))

    def connect_agent(self, agent: str, tags: Mapping[str, str] | None = None) -> None:
        """AgentHello: the agent appears under ``agents`` with its ``tags`` (no load yet).

        A Hello of a connected agent replaces its tags and drops its load status,
        as the server's insert does (see ``cluster.with_agent``).

        For the owner agent the server then sends its ServerHello: restore_server
        (the swap, then the queued requests answered against the new state).
        """
        with self._lock:
            self._apply(cluster.with_agent(self._state, agent, tags))
            if agent == self.owner_agent and not self.server_reachable:
                self.restore_server()

    def disconnect_agent(self, agent: str) -> None:
        """AgentGone: the agent vanishes and its instances become AGENT_DISCONNECTED.

        For the owner agent this is cut_server first (event_handler.rs drops its
        subscriptions before the state changes, so the client hears nothing of it).
        """
        with self._lock:
            if agent == self.owner_agent:
                self.cut_server()
            self._apply(cluster.without_agent(self._state, agent))

    def set_agent_load(self, agent: str, cpu_usage: int, free_memory: int) -> None:
        """AgentLoadStatus: a connected agent reports CPU usage (%) and free memory (bytes)."""
        with self._lock:
            self._apply(cluster.with_agent_load(self._state, agent, cpu_usage, free_memory))

    @property
    def ignore_hello(self) -> bool:
        """When True, Hellos are counted but never answered."""
        return self._journal.ignore_hello

    @ignore_hello.setter
    def ignore_hello(self, value: bool) -> None:
        with self._lock:
            self._journal.ignore_hello = value

    def drop_subscriptions(self) -> None:
        """Server/agent link loss: all subscriptions vanish without any message."""
        with self._lock:
            self._session.subscriptions.clear()

    @property
    def subscriptions(self) -> dict[str, tuple[str, ...]]:
        """Live subscriptions: request id -> field masks."""
        with self._lock:
            return dict(self._session.subscriptions)

    @property
    def hello_count(self) -> int:
        """Hellos received since start, over all tasks."""
        with self._lock:
            return self._journal.hello_count

    @property
    def connected(self) -> bool:
        """True when the handshake is done on the current task."""
        with self._lock:
            return self._session.phase is Phase.CONNECTED

    @property
    def requests(self) -> list[str]:
        """Kinds of requests received, in order (e.g. ``completeStateRequest+subscribe``)."""
        with self._lock:
            return list(self._journal.requests)

    def instances(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """Return (agent, workload, id) -> (state, sub-state) of every instance."""
        with self._lock:
            return cluster.instances(self._state)

    def tree(self) -> Tree:
        """Return the current state tree (never mutated: every change makes a new one)."""
        with self._lock:
            return self._state

    def agents(self) -> tuple[str, ...]:
        """Return the connected agents."""
        with self._lock:
            return cluster.connected_agents(self._state)

    def agent_load(self, agent: str) -> tuple[int, int] | None:
        """Return the agent's last (CPU usage, free memory), None before its first report."""
        with self._lock:
            return cluster.agent_load(self._state, agent)

    def agent_tags(self, agent: str) -> dict[str, str]:
        """Return the tags of the agent's AgentHello."""
        with self._lock:
            return cluster.agent_tags(self._state, agent)

    def wait_for(self, predicate: Callable[[AgentSimulator], bool], timeout: float) -> None:
        """Poll ``predicate(self)`` until it is true; raise TimeoutError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator condition not met within {timeout} s")
            time.sleep(_POLL)
