"""Scenario workloads that print: a scenario's `[logs.<workload>]` tables, played over time.

While an instance of the workload runs, it prints the next of its `lines`
(cycling) every `every` seconds; each line becomes one LogEntry, as one line of
`podman logs` does upstream (agent/src/runtime_connectors/podman/podman_log_fetcher.rs).
An instance that is not running prints nothing: it has no container.
"""

from __future__ import annotations

import importlib.resources
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

_TICK = 0.1
LOG_RULE_HELP = (
    "allow the client the logs of these workloads: one LogRule, its patterns separated by "
    "commas, at most one '*' each (repeatable; default: logs are denied)"
)


@dataclass(frozen=True, slots=True)
class Printer:
    """What one workload prints, and how often."""

    workload: str
    lines: tuple[str, ...]
    every: float


def parse_printers(document: dict[str, object]) -> tuple[Printer, ...]:
    """Return the printers of a scenario document; ValueError names a bad table."""
    tables = document.get("logs", {})
    if not isinstance(tables, dict):
        raise TypeError("'logs' must hold one table per workload")
    printers = []
    for workload, table in tables.items():
        lines = table.get("lines") if isinstance(table, dict) else None
        every = table.get("every", 1.0) if isinstance(table, dict) else None
        if not isinstance(lines, list) or not lines or not all(isinstance(x, str) for x in lines):
            raise ValueError(f"logs.{workload}: 'lines' must be a non-empty list of strings")
        if isinstance(every, bool) or not isinstance(every, int | float) or every <= 0:
            raise ValueError(f"logs.{workload}: 'every' must be a number of seconds > 0")
        printers.append(Printer(workload, tuple(lines), float(every)))
    return tuple(printers)


def load_printers(name_or_path: str) -> tuple[Printer, ...]:
    """Return the printers of a bundled scenario (by name) or a scenario file."""
    bundled = importlib.resources.files("bridge.simulator").joinpath("scenarios")
    candidate = bundled.joinpath(f"{name_or_path}.toml")
    if "/" not in name_or_path and not Path(name_or_path).exists() and candidate.is_file():
        text = candidate.read_text(encoding="utf-8")
    else:
        text = Path(name_or_path).read_text(encoding="utf-8")
    return parse_printers(tomllib.loads(text))


class PrintSink(Protocol):
    """What the ticker needs of the simulator."""

    def instances(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        """Return (agent, workload, id) -> (state, sub-state) of every instance."""

    def print_lines(self, agent: str, workload: str, iid: str, *lines: str) -> None:
        """Print lines from an instance."""


class PrintTicker:
    """Prints the printers' lines from their running instances until ``stop``."""

    def __init__(
        self, sim: PrintSink, printers: tuple[Printer, ...], speed: float, stop: threading.Event
    ) -> None:
        self.sim, self.printers, self.speed, self.stop = sim, printers, speed, stop
        self._thread = threading.Thread(target=self._run, name="printers", daemon=True)
        self._printed = dict.fromkeys(printers, 0)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        # The scenario sets ``stop`` when it ends, however it ends.
        self.stop.set()
        self._thread.join()

    def tick(self, elapsed: float) -> None:
        """Print what is due `elapsed` scenario seconds after the start."""
        for printer in self.printers:
            if elapsed < (self._printed[printer] + 1) * printer.every:
                continue
            line = printer.lines[self._printed[printer] % len(printer.lines)]
            self._printed[printer] += 1
            for (agent, workload, iid), (state, _) in self.sim.instances().items():
                if workload == printer.workload and state == "RUNNING":
                    self.sim.print_lines(agent, workload, iid, line)

    def _run(self) -> None:
        elapsed = 0.0
        while not self.stop.wait(_TICK):
            elapsed += _TICK * self.speed
            self.tick(elapsed)
