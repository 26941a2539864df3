"""The measuring end: `mosquitto_sub` (QoS 0 on `ankaios/#`), stamping every message it receives.

A Python paho subscriber receives only about 5,000 messages per second on the
2-core development VM (20,000 retained messages in 3.3-4.4 s, against 0.4-0.5 s
for mosquitto_sub), less than the bridge and the raw baseline publish, so it
would measure itself. mosquitto_sub stamps each message with CLOCK_REALTIME
(`%U`) right when it handles it; the stamps are moved onto CLOCK_MONOTONIC with
an offset read at start. The same subscriber and the same end condition (the
count of `state` messages given to `expect()`) measure the bridge and the baseline.
It speaks MQTT 5 whichever version the publishers speak: it is a connection of
its own, the broker hands it the same messages either way (none carries a
property), and its stamps are taken the same way.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid
from types import TracebackType
from typing import IO, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks.phases import SETTLE, surplus
from bridge.core.topics import BRIDGE_LEVEL, DEFAULT_PREFIX

MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
_STATE_SUFFIX = b"/state"
_MARKER = f"{DEFAULT_PREFIX}/{BRIDGE_LEVEL}/sync/".encode()
_PROBE_TOPIC = "bench/probe"
_START_TIMEOUT = 10.0
_PROBE_EVERY = 0.05
_SECOND = 1_000_000_000


def clock_offset_ns() -> int:
    """Return CLOCK_REALTIME minus CLOCK_MONOTONIC, read in the narrowest of a few windows."""
    best: tuple[int, int] | None = None
    for _ in range(20):
        before = time.monotonic_ns()
        real = time.time_ns()
        after = time.monotonic_ns()
        if best is None or after - before < best[0]:
            best = (after - before, real - (before + after) // 2)
    assert best is not None
    return best[1]


class Subscriber:
    """Collects the `state` messages since the last `expect()` as (monotonic ns, topic, payload)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.marker_ns = 0  # when the bridge's own sync marker passed: it is subscribed
        self.offset_ns = 0
        self._lines: list[tuple[bytes, bytes, bytes]] = []
        self._target = 0
        self._done = threading.Event()
        self._marker_seen = threading.Event()
        self._probed = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start mosquitto_sub and wait until a probe message comes through."""
        if not shutil.which(MOSQUITTO_SUB):
            msg = f"the benchmark needs {MOSQUITTO_SUB} (Debian package mosquitto-clients)"
            raise FileNotFoundError(msg)
        argv = [MOSQUITTO_SUB, "-h", self.host, "-p", str(self.port), "-V", "5", "-q", "0"]
        argv += ["-t", f"{DEFAULT_PREFIX}/#", "-t", _PROBE_TOPIC, "-F", "%U %t %p"]
        self.offset_ns = clock_offset_ns()
        self._process = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert self._process.stdout is not None
        self._thread = threading.Thread(
            target=self._read, args=(self._process.stdout,), name="bench-sub", daemon=True
        )
        self._thread.start()
        self._probe()

    def stop(self) -> None:
        """Stop mosquitto_sub."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
        if self._thread is not None:
            self._thread.join(5)

    def expect(self, count: int) -> None:
        """Forget what was received and wait for `count` further `state` messages."""
        self._lines = []
        self._target = count
        self._done.clear()

    def wait(self, timeout: float) -> bool:
        """Wait until the expected count arrived; False on timeout."""
        return self._done.wait(timeout)

    def settle(self, phase: str) -> list[str]:
        """Wait for stragglers; return a problem when more arrived than `expect()` was told."""
        time.sleep(SETTLE)
        problem = surplus(phase, len(self._lines), self._target)
        return [problem] if problem else []

    def wait_marker(self, timeout: float) -> bool:
        """Wait until the bridge's sync marker passed (it is connected and subscribed)."""
        return self._marker_seen.wait(timeout)

    def received(self) -> list[tuple[int, str, bytes]]:
        """Return the `state` messages since `expect()`, in arrival order, on CLOCK_MONOTONIC."""
        return [
            (self._monotonic(stamp), topic.decode(), payload)
            for stamp, topic, payload in list(self._lines)
        ]

    def _monotonic(self, stamp: bytes) -> int:
        seconds, _, fraction = stamp.partition(b".")
        return int(seconds) * _SECOND + int(fraction.ljust(9, b"0")) - self.offset_ns

    def _probe(self) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex}")
        client.connect(self.host, self.port)
        client.loop_start()
        try:
            deadline = time.monotonic() + _START_TIMEOUT
            while not self._probed.wait(_PROBE_EVERY):
                if time.monotonic() > deadline:
                    msg = f"mosquitto_sub on {self.host}:{self.port} received nothing"
                    raise TimeoutError(msg)
                client.publish(_PROBE_TOPIC, b"probe")
        finally:
            client.disconnect()
            client.loop_stop()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            stamp, _, rest = line.partition(b" ")
            topic, _, payload = rest.rstrip(b"\n").partition(b" ")
            if topic.endswith(_STATE_SUFFIX):
                lines = self._lines
                lines.append((stamp, topic, payload))
                if len(lines) == self._target:
                    self._done.set()
            elif topic.startswith(_MARKER) and not self._marker_seen.is_set():
                self.marker_ns = self._monotonic(stamp)
                self._marker_seen.set()
            elif topic == _PROBE_TOPIC.encode():
                self._probed.set()
