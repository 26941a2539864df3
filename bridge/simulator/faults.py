"""Control-interface faults played next to a scenario: restarts, reconnects, outages.

Each fault runs in its own thread, so that a restart's down time or an outage's
duration never holds up the scenario's clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from bridge.simulator.agent import AgentSimulator
from bridge.simulator.scenario import FAULTS, ScenarioError, Step, describe, parse_step


def say(text: str, stream: TextIO) -> None:
    """Write one line and flush it."""
    stream.write(text + "\n")
    stream.flush()


class Faults:
    """Runs fault steps in the background so that they never hold up the scenario's clock."""

    def __init__(
        self, sim: AgentSimulator, stop: threading.Event, speed: float, out: TextIO
    ) -> None:
        self.sim, self.stop, self.speed, self.out = sim, stop, speed, out
        self._threads: list[threading.Thread] = []

    def _spawn(self, target: Callable[[], None]) -> None:
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        thread = threading.Thread(target=target, name="ankaios-simulator-fault", daemon=True)
        self._threads.append(thread)
        thread.start()

    def apply(self, step: Step) -> None:
        """Start a restart-agent, reconnect-server, server-outage or hang-server step."""
        sim, pause = self.sim, (step.down if step.action == "restart-agent" else step.duration)

        def run() -> None:
            if step.action == "reconnect-server":
                sim.replace_control_interface()
                return
            if step.action == "restart-agent":
                sim.stop_agent("writer" if step.first == "writer" else "reader", step.gap)
            elif step.action == "hang-server":
                sim.hang_server()
            else:
                sim.cut_server()
            if self.stop.wait(pause / self.speed):
                return
            if step.action == "restart-agent":
                sim.start_agent()
                say("           agent back: a fresh control interface wants a Hello", self.out)
            elif step.action == "hang-server":
                sim.resume_server()
                say("           server runs again: late answers and delayed events", self.out)
            else:
                sim.restore_server()
                say("           server reachable again: control interface replaced", self.out)

        self._spawn(run)

    def schedule(self, steps: Sequence[Step]) -> None:
        """Apply ``steps`` at their ``at`` seconds from now (scaled by the speed)."""
        start = time.monotonic()

        def run() -> None:
            for step in sorted(steps, key=lambda step: step.at):
                if self.stop.wait(max(0.0, start + step.at / self.speed - time.monotonic())):
                    return
                self.apply(step)
                say(f"[fault {step.at:6.1f}s] {describe(step)}", self.out)

        if steps:
            self._spawn(run)

    def join(self) -> None:
        """Wait until every started fault has finished (an outage has ended)."""
        for thread in list(self._threads):
            thread.join()


def parse_fault(text: str) -> Step:
    """Parse ``ACTION@SECONDS[:VALUE]`` (``restart-agent@10:2``, ``server-outage@30:60``)."""
    action, _, when = text.partition("@")
    at_text, colon, value = when.partition(":")
    usage = (
        "restart-agent@SECONDS[:DOWN], reconnect-server@SECONDS, server-outage@SECONDS:DURATION, "
        "hang-server@SECONDS:DURATION"
    )
    if action not in FAULTS:
        raise ScenarioError(f"fault {text!r}: unknown action {action!r}; expected {usage}")
    key = {"restart-agent": "down", "server-outage": "duration", "hang-server": "duration"}.get(
        action
    )
    try:
        table: dict[str, object] = {"action": action, "at": float(at_text)}
        if colon and key is not None:
            table[key] = float(value)
    except ValueError:
        raise ScenarioError(f"fault {text!r}: expected {usage}") from None
    if colon and key is None:
        raise ScenarioError(f"fault {text!r}: {action} takes no value; expected {usage}")
    try:
        return parse_step(table)
    except (ValueError, TypeError) as err:
        raise ScenarioError(f"fault {text!r}: {err}") from None
