"""One measuring session of the raw paho baseline (benchmarks.rawpub in its own process)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import IO, Self

from benchmarks import workload
from benchmarks.phases import (
    Plan,
    SessionResult,
    latencies_ms,
    rate_per_second,
    state_messages,
    sync_seconds,
)
from benchmarks.subscriber import Subscriber
from tests.support.broker import Mosquitto

_START_TIMEOUT = 30.0


class RawProcess:
    """The runner's side of `python -m benchmarks.rawpub`: one JSON command, one JSON answer."""

    def __init__(self, port: int, qos: int, protocol: str) -> None:
        self.argv = [sys.executable, "-m", "benchmarks.rawpub", "--port", str(port)]
        self.argv += ["--qos", str(qos), "--protocol", protocol]
        self._answers: queue.Queue[dict[str, object]] = queue.Queue()
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True).start()
        self.answer(_START_TIMEOUT, "ready")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._process is None:
            return
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def send(self, **command: object) -> None:
        """Send one command."""
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(command) + "\n")
        self._process.stdin.flush()

    def answer(self, timeout: float, key: str) -> object:
        """Return `key` of the next answer holding it; raise TimeoutError when none comes.

        Answers without `key` belong to a phase that failed and are skipped.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"the raw baseline process did not answer {key!r}") from None
            if key in answer:
                return answer[key]

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._answers.put(json.loads(line))


def run_raw(plan: Plan) -> SessionResult:
    """Start mosquitto and the raw publisher; measure the same phases as for the bridge.

    The publisher speaks the plan's protocol, so each ratio compares like with like.
    """
    keys = workload.instance_keys(plan.instances)
    problems: list[str] = []
    with (
        Mosquitto() as broker,
        Subscriber(broker.host, broker.port) as subscriber,
        RawProcess(broker.port, plan.qos, plan.protocol) as raw,
    ):
        subscriber.expect(plan.instances)
        raw.send(op="sync", n=plan.instances)
        if not subscriber.wait(plan.timeout):
            got = len(subscriber.received())
            hang = f"initial sync: hang ({got})"
            return SessionResult("raw", plan.instances, plan.protocol, problems=(hang,))
        sync, problem = sync_seconds(subscriber.received(), keys, _int(raw.answer(5, "t0")))
        problems.extend([problem] if problem else [])
        throughput = None
        phase = "initial sync"
        if plan.burst:
            problems.extend(subscriber.settle(phase))
            phase = "throughput"
            subscriber.expect(plan.burst)
            raw.send(op="burst", n=plan.instances, start=0, k=plan.burst)
            if subscriber.wait(plan.timeout + plan.burst / 1000):
                throughput = rate_per_second(subscriber.received(), _int(raw.answer(5, "t0")))
            else:
                problems.append(f"throughput: loss ({len(subscriber.received())} arrived)")
        latencies: list[float] = []
        if plan.paced and (throughput is not None or not plan.burst):
            problems.extend(subscriber.settle(phase))
            phase = "latency"
            changes = workload.changes(keys, plan.paced, plan.burst)
            subscriber.expect(plan.paced)
            raw.send(op="paced", n=plan.instances, start=plan.burst, k=plan.paced, rate=plan.rate)
            sent = raw.answer(plan.timeout + plan.paced / plan.rate, "sent")
            assert isinstance(sent, list)
            subscriber.wait(plan.timeout)
            latencies, lost = latencies_ms(sent, state_messages(changes), subscriber.received())
            if lost:
                problems.append(f"latency: {lost} of {plan.paced} changes lost")
        problems.extend(subscriber.settle(phase))
        raw.send(op="rss")
        peak = _int(raw.answer(5, "hwm_kib"))
    return SessionResult(
        "raw",
        plan.instances,
        plan.protocol,
        sync_s=sync,
        throughput=throughput,
        latencies_ms=tuple(latencies),
        peak_rss_kib=peak,
        problems=tuple(problems),
    )


def _int(value: object) -> int:
    if not isinstance(value, int):
        msg = f"the raw baseline answered {value!r} where a number belongs"
        raise TypeError(msg)
    return value
