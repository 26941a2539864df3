"""Periodic load reports like a real agent's: a deterministic random walk and its ticker.

A real agent samples its CPU usage and free memory and sends AgentLoadStatus on
every tick of ``RESOURCE_MEASUREMENT_INTERVAL_TICK`` (2 s,
``agent/src/agent_manager.rs``); the server stores it only for an agent it knows
(``server/src/ankaios_server.rs``), one event per report. ``next_load`` is pure;
``LoadTicker`` is the thread that applies it.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Protocol

AGENT_INTERVAL = 2.0  # seconds: upstream's RESOURCE_MEASUREMENT_INTERVAL_TICK
_MIB = 1 << 20
_CPU_RANGE = (1, 99)
_MEMORY_RANGE = (128 * _MIB, 32 * 1024 * _MIB)
_CPU_STEP = 7  # percent points per tick at most
_MEMORY_STEP = 96 * _MIB  # bytes per tick at most


def _draw(agent: str, tick: int, what: str) -> int:
    # A hash, not random.Random: the same walk in every process and Python version.
    digest = hashlib.sha256(f"{agent}\0{tick}\0{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _clamp(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def next_load(agent: str, tick: int, current: tuple[int, int] | None) -> tuple[int, int]:
    """Return the (CPU usage %, free memory bytes) an agent reports on ``tick``.

    The walk starts from ``current`` (the agent's last report) or, before any
    report, from a level derived from the agent's name; every step is a bounded,
    deterministic pseudo-random change.
    """
    if current is None:
        cpu = 10 + _draw(agent, 0, "cpu-start") % 50
        memory = (1024 + _draw(agent, 0, "memory-start") % 7168) * _MIB
    else:
        cpu, memory = current
    cpu += _draw(agent, tick, "cpu") % (2 * _CPU_STEP + 1) - _CPU_STEP
    memory += _draw(agent, tick, "memory") % (2 * _MEMORY_STEP + 1) - _MEMORY_STEP
    return _clamp(cpu, _CPU_RANGE), _clamp(memory, _MEMORY_RANGE)


class LoadSink(Protocol):
    """What the ticker needs of the simulator."""

    def agents(self) -> tuple[str, ...]:
        """Return the connected agents."""
        ...

    def agent_load(self, agent: str) -> tuple[int, int] | None:
        """Return the agent's last report."""
        ...

    def set_agent_load(self, agent: str, cpu_usage: int, free_memory: int) -> None:
        """Apply one AgentLoadStatus."""
        ...


class LoadTicker:
    """Sends a new load for every connected agent every ``every`` seconds until ``stop``."""

    def __init__(self, sim: LoadSink, every: float, stop: threading.Event) -> None:
        self.sim, self.every, self.stop = sim, every, stop
        self.ticks = 0
        self._thread = threading.Thread(
            target=self._run, name="ankaios-simulator-load", daemon=True
        )

    def tick(self) -> None:
        """Send one report per connected agent: its own AgentLoadStatus, so one event each."""
        self.ticks += 1
        for agent in self.sim.agents():
            cpu, memory = next_load(agent, self.ticks, self.sim.agent_load(agent))
            self.sim.set_agent_load(agent, cpu, memory)

    def _run(self) -> None:
        # tokio's interval fires its first tick at once, then every period.
        while not self.stop.is_set():
            self.tick()
            if self.stop.wait(self.every):
                return

    def start(self) -> None:
        """Start ticking in a background thread."""
        self._thread.start()

    def join(self) -> None:
        """Wait for the thread to end (after ``stop`` is set)."""
        if self._thread.is_alive():
            self._thread.join()
