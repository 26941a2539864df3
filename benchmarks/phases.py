"""What a measuring session is asked to do, what it found, and helpers both subjects share."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks import workload
from bridge.core.topics import InstanceKey
from bridge.mqtt.version import MQTT5

SETTLE = 0.3  # pause between phases, so the trailing `status` publishes do not overlap


@dataclass(frozen=True, slots=True)
class Plan:
    """One session: initial sync of `instances`, then `burst` changes, then `paced` changes.

    `protocol` is the MQTT version both subjects speak (bridge.mqtt.version).
    """

    instances: int
    burst: int = 0
    paced: int = 0
    rate: float = 200.0
    qos: int = 1
    protocol: str = MQTT5
    timeout: float = 60.0  # per phase, on top of the time the phase needs by design


@dataclass(frozen=True, slots=True)
class SessionResult:
    """The figures of one session of one subject (`bridge` or `raw`); None: not measured."""

    subject: str
    instances: int
    protocol: str = MQTT5
    sync_s: float | None = None
    startup_s: float | None = None
    throughput: float | None = None  # changes per second that reached the subscriber
    latencies_ms: tuple[float, ...] = ()
    peak_rss_kib: int | None = None
    problems: tuple[str, ...] = field(default=())


def state_messages(batch: list[workload.Change]) -> list[tuple[str, bytes]]:
    """Return the (topic, payload) of the `state` publish each change causes."""
    return [group[0] for group in workload.change_messages(batch)]


def sync_seconds(
    received: list[tuple[int, str, bytes]], keys: list[InstanceKey], started_ns: int
) -> tuple[float | None, str | None]:
    """Return the initial-sync time and a problem, if the `state` topics are not all there."""
    wanted = dict(workload.sync_messages(keys)[::2])
    got = {topic: payload for _, topic, payload in received}
    if got != wanted:
        missing = len(wanted.keys() - got.keys())
        wrong = sum(1 for topic, payload in got.items() if wanted.get(topic) != payload)
        return None, f"initial sync: {missing} state topics missing, {wrong} wrong or foreign"
    return (received[-1][0] - started_ns) / 1e9, None


def surplus(phase: str, arrived: int, expected: int) -> str | None:
    """Return a problem when a phase brought more `state` messages than it causes.

    A repeated `state` counts towards the end condition, so the phase may have
    ended before all its changes arrived. Under MQTT 3.1.1 an echo the bridge
    failed to recognise would make it publish again (a repair).
    """
    if arrived <= expected:
        return None
    return f"{phase}: {arrived - expected} state messages more than the {expected} expected"


def rate_per_second(received: list[tuple[int, str, bytes]], started_ns: int) -> float:
    """Return changes per second from the first write to the last `state` received."""
    return len(received) / ((received[-1][0] - started_ns) / 1e9)


def latencies_ms(
    sent: list[int], expected: list[tuple[str, bytes]], received: list[tuple[int, str, bytes]]
) -> tuple[list[float], int]:
    """Pair each change's send stamp with the arrival of its `state`; return latencies, losses."""
    pending: dict[tuple[str, bytes], deque[int]] = defaultdict(deque)
    for stamp, message in zip(sent, expected, strict=True):
        pending[message].append(stamp)
    result: list[float] = []
    for arrived, topic, payload in received:
        queue = pending.get((topic, payload))
        if queue:
            result.append((arrived - queue.popleft()) / 1e6)
    return result, len(sent) - len(result)


class Background:
    """Runs a blocking write loop in a thread, so a hung bridge cannot hang the benchmark."""

    def __init__(self, work: Callable[[], object]) -> None:
        self.work = work
        self.result: object = None
        self._thread = threading.Thread(target=self._run, name="bench-writer", daemon=True)

    def start(self) -> Background:
        """Start the work; return self."""
        self._thread.start()
        return self

    def join(self, timeout: float) -> bool:
        """Wait for the work to end; False when it is still blocked."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        self.result = self.work()
