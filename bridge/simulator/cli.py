"""``ankaios-simulator``: play a scenario of workload changes on a simulated agent.

A bridge (or any ankaios-sdk client) pointed at the same control-interface
directory sees the changes as it would from a real Ankaios 1.0 agent. SIGUSR1 says
the workload was re-created: the next client gets a fresh control interface.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TextIO

from bridge.simulator.agent import AgentSimulator
from bridge.simulator.faults import Faults, parse_fault
from bridge.simulator.load import LoadTicker
from bridge.simulator.printers import LOG_RULE_HELP, PrintTicker, load_printers
from bridge.simulator.scenario import FAULTS, Scenario, ScenarioError, Step, describe, load_scenario

PROG = "ankaios-simulator"
_FAULT_HELP = (
    "a control-interface fault SECONDS after the start, independent of the scenario "
    "(repeatable; times scale with --speed): restart-agent@SECONDS[:DOWN] (the agent process "
    "dies, reader of output closed first, and is back after DOWN s, default 1), "
    "reconnect-server@SECONDS (the agent reconnects to the server: the control interface is "
    "replaced and its FIFOs and directory unlinked), server-outage@SECONDS:DURATION (requests "
    "go unanswered until the server is back, then the control interface is replaced), "
    "hang-server@SECONDS:DURATION (the server hangs without a reconnect: answers come late and "
    "events are delayed, not lost)"
)


def _say(text: str, stream: TextIO) -> None:
    stream.write(text + "\n")
    stream.flush()


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0 (a time factor), got {text!r}")
    return value


def _every(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _fault(text: str) -> Step:
    try:
        return parse_fault(text)
    except ScenarioError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument(
        "--control-interface",
        required=True,
        type=Path,
        metavar="DIR",
        help="directory for the FIFOs 'input' and 'output' (created if missing)",
    )
    parser.add_argument(
        "--scenario",
        default="demo",
        metavar="demo|PATH",
        help="a bundled scenario name or a scenario TOML file (default: demo)",
    )
    parser.add_argument("--loop", action="store_true", help="repeat the scenario until stopped")
    parser.add_argument(
        "--speed", type=_speed, default=1.0, metavar="X", help="play X times faster (default 1)"
    )
    parser.add_argument(
        "--load-every",
        type=_every,
        default=None,
        metavar="SECONDS",
        help="every connected agent reports a new load (CPU, free memory) every SECONDS, as a "
        "real agent does every 2 s (scaled by --speed; 0: off; default: the scenario's "
        "[load] every, else off)",
    )
    parser.add_argument("--log-rule", action="append", default=[], help=LOG_RULE_HELP)
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="ACTION@SECONDS[:VALUE]",
        help=_FAULT_HELP,
    )
    return parser


def apply_step(sim: AgentSimulator, step: Step, faults: Faults | None = None) -> None:
    """Carry out one scenario step on the simulator (fault steps run in the background)."""
    if step.action in FAULTS:
        (faults or Faults(sim, threading.Event(), 1.0, sys.stdout)).apply(step)
    elif step.action == "connect":
        sim.connect_agent(step.agent, dict(step.tags))
    elif step.action == "disconnect":
        sim.disconnect_agent(step.agent)
    elif step.action == "load":
        sim.set_agent_load(step.agent, step.cpu_usage, step.free_memory)
    elif step.action == "remove":
        sim.remove(step.agent, step.workload, step.instance_id)
    else:
        sim.set_state(
            step.agent, step.workload, step.instance_id, step.state, step.substate, step.info
        )


def play(
    scenario: Scenario,
    sim: AgentSimulator,
    *,
    speed: float,
    loop: bool,
    stop: threading.Event,
    out: TextIO,
    faults: Sequence[Step] = (),
    load_every: float | None = None,
) -> None:
    """Play the scenario (repeatedly with ``loop``) until it ends or ``stop`` is set.

    ``faults`` (from ``--fault``) run once, timed from the start. A scenario's own
    faults end before the next pass begins, so that every pass starts restored.
    ``load_every`` seconds (None or 0: off) runs a load ticker beside the scenario.
    """
    independent, own = Faults(sim, stop, speed, out), Faults(sim, stop, speed, out)
    independent.schedule(faults)
    ticker = LoadTicker(sim, load_every / speed, stop) if load_every else None
    if ticker is not None:
        ticker.start()
    try:
        _play(scenario, sim, speed=speed, loop=loop, stop=stop, out=out, faults=own)
    finally:
        stop.set()
        own.join()
        independent.join()
        if ticker is not None:
            ticker.join()


def _play(
    scenario: Scenario,
    sim: AgentSimulator,
    *,
    speed: float,
    loop: bool,
    stop: threading.Event,
    out: TextIO,
    faults: Faults,
) -> None:
    passes = 0
    while not stop.is_set():
        passes += 1
        start = time.monotonic()
        for step in scenario.steps:
            if stop.wait(max(0.0, start + step.at / speed - time.monotonic())):
                return
            apply_step(sim, step, faults)
            _say(f"[{step.at:6.1f}s] {describe(step)}", out)
        if not loop:
            print(
                "scenario finished; serving the final state until interrupted", file=out, flush=True
            )
            stop.wait()
            return
        if stop.wait(max(0.0, start + scenario.duration / speed - time.monotonic())):
            return
        faults.join()
        _say(f"--- pass {passes + 1} of {scenario.name}", out)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulator; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        scenario, printers = load_scenario(args.scenario), load_printers(args.scenario)
    except (ScenarioError, ValueError, TypeError) as err:
        _say(f"{PROG}: {err}", sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(_signum: int, _frame: FrameType | None) -> None:
        # Not stop.set() here: the handler runs on the main thread, which may be
        # inside stop.wait() holding the event's lock, and would deadlock.
        threading.Thread(target=stop.set, name="stop", daemon=True).start()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sim = AgentSimulator(args.control_interface, log_rules=args.log_rule)

    def _recreated() -> None:
        sim.new_workload_instance()
        _say("workload re-created (SIGUSR1): a fresh control interface wants a Hello", sys.stdout)

    def _on_recreated(_signum: int, _frame: FrameType | None) -> None:
        # A new workload instance gets a new ControlInterface (agent runtime_manager.rs
        # add_workload; workload.rs exchange_control_interface); off the main thread, as above.
        threading.Thread(target=_recreated, name="recreated", daemon=True).start()

    previous[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, _on_recreated)
    try:
        sim.start()
    except OSError as err:
        _say(f"{PROG}: cannot serve {args.control_interface}: {err}", sys.stderr)
        return 1
    every = scenario.load_every if args.load_every is None else args.load_every
    try:
        _say(
            f"serving {args.control_interface} (FIFOs input/output); scenario {scenario.name}: "
            f"{len(scenario.steps)} steps over {scenario.duration:g} s at {args.speed:g}x"
            + (f"; every agent reports its load every {every:g} s" if every else ""),
            sys.stdout,
        )
        with PrintTicker(sim, printers, args.speed, stop):
            play(
                scenario,
                sim,
                speed=args.speed,
                loop=args.loop,
                stop=stop,
                out=sys.stdout,
                faults=args.fault,
                load_every=every,
            )
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _say("stopped; FIFOs removed", sys.stdout)
    return 0
