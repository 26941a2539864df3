"""One measuring session of the real bridge process against the instrumented simulator."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from benchmarks import workload
from benchmarks.agent import TimedAgent
from benchmarks.frames import EventFrames, state_tree
from benchmarks.phases import (
    Background,
    Plan,
    SessionResult,
    latencies_ms,
    rate_per_second,
    state_messages,
    sync_seconds,
)
from benchmarks.procfs import peak_rss_kib
from benchmarks.subscriber import Subscriber
from bridge.core.topics import InstanceKey
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto

_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 5.0


def run_bridge(plan: Plan, workdir: Path) -> SessionResult:
    """Start mosquitto, the simulator and the bridge; measure the plan's phases.

    The bridge is forced to the plan's protocol (`--mqtt-protocol`), not `auto`.
    """
    keys = workload.instance_keys(plan.instances)
    agent = TimedAgent(workdir / "control_interface")
    agent.load(state_tree(keys))
    with Mosquitto() as broker, Subscriber(broker.host, broker.port) as subscriber, agent:
        subscriber.expect(plan.instances)
        args = ["--mqtt-qos", str(plan.qos), "--mqtt-protocol", plan.protocol]
        args += ["--resync-interval", "3600", "--log-level", "INFO"]
        popen_ns = time.monotonic_ns()
        with BridgeProcess(agent.directory, broker.port, *args) as bridge:
            assert bridge.process is not None
            try:
                return _measure(plan, keys, agent, subscriber, bridge.process.pid, popen_ns)
            finally:
                _stop(bridge)


def _stop(bridge: BridgeProcess) -> None:
    try:
        bridge.signal(signal.SIGTERM, _STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        if bridge.process is not None:
            bridge.process.kill()
            bridge.process.wait()


def _measure(
    plan: Plan,
    keys: list[InstanceKey],
    agent: TimedAgent,
    subscriber: Subscriber,
    pid: int,
    popen_ns: int,
) -> SessionResult:
    problems: list[str] = []
    if not (agent.wait_snapshot(_START_TIMEOUT) and subscriber.wait_marker(_START_TIMEOUT)):
        return SessionResult("bridge", plan.instances, plan.protocol, problems=("start-up: hang",))
    startup = (max(agent.request_ns, subscriber.marker_ns) - popen_ns) / 1e9
    started = agent.release_snapshot()
    if not subscriber.wait(plan.timeout):
        got = len(subscriber.received())
        problems.append(f"initial sync: hang ({got} of {plan.instances} state topics)")
        return SessionResult(
            "bridge", plan.instances, plan.protocol, startup_s=startup, problems=tuple(problems)
        )
    sync, problem = sync_seconds(subscriber.received(), keys, started)
    problems.extend([problem] if problem else [])
    peak = peak_rss_kib(pid)
    (request_id, masks), *_ = agent.subscriptions.items()
    frames = EventFrames(request_id, masks)
    throughput = None
    phase = "initial sync"
    if plan.burst:
        problems.extend(subscriber.settle(phase))
        phase = "throughput"
        batch = frames.frames(workload.changes(keys, plan.burst))
        subscriber.expect(plan.burst)
        writer = Background(lambda: agent.write_frames(batch)).start()
        budget = plan.timeout + plan.burst / 1000
        if writer.join(budget) and subscriber.wait(budget):
            assert isinstance(writer.result, int)
            throughput = rate_per_second(subscriber.received(), writer.result)
        else:
            got = len(subscriber.received())
            problems.append(f"throughput: hang or loss ({got} of {plan.burst} changes arrived)")
    latencies: list[float] = []
    if (plan.paced and throughput is not None) or (plan.paced and not plan.burst):
        problems.extend(subscriber.settle(phase))
        phase = "latency"
        changes = workload.changes(keys, plan.paced, plan.burst)
        batch = frames.frames(changes)
        subscriber.expect(plan.paced)
        writer = Background(lambda: agent.write_paced(batch, plan.rate)).start()
        budget = plan.timeout + plan.paced / plan.rate
        finished = writer.join(budget)
        subscriber.wait(plan.timeout if finished else 0)
        sent = writer.result if isinstance(writer.result, list) else []
        latencies, lost = latencies_ms(
            sent, state_messages(changes)[: len(sent)], subscriber.received()
        )
        if not finished or lost:
            problems.append(
                f"latency: {lost + plan.paced - len(sent)} of {plan.paced} changes lost"
            )
    problems.extend(subscriber.settle(phase))
    return SessionResult(
        "bridge",
        plan.instances,
        plan.protocol,
        sync_s=sync,
        startup_s=startup,
        throughput=throughput,
        latencies_ms=tuple(latencies),
        peak_rss_kib=max(peak, peak_rss_kib(pid)),
        problems=tuple(problems),
    )
