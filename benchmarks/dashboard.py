"""Dashboard figures: redraw time of 1,000 and 10,000 rows, and CPU use while idle.

Redraws are timed in this process on the dashboard's own pure functions: the
view holding N instances, `build_screen` for all rows (what `--once` prints)
and rich rendering it to a 200-column colour terminal. Idle CPU is that of the
real live dashboard in a pseudo-terminal, against a broker holding N instances
that do not change (it still redraws once a second for the SINCE column).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from benchmarks import workload
from benchmarks.procfs import cpu_seconds
from benchmarks.report import Row, spread
from bridge.core.topics import ONLINE
from tests.support.broker import Mosquitto

SIZES = (1_000, 10_000)
COLUMNS, LINES = 200, 50
REDRAW_LIMIT_MS = 200.0
_LOAD_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Figures:
    """The dashboard's rows for the table, a note when something could not be measured."""

    rows: tuple[Row, ...] = ()
    note: str = ""
    details: dict[str, object] = field(default_factory=dict)


def _api() -> dict[str, Any]:
    from bridge.dashboard import events, screen, tree, view  # noqa: PLC0415 - optional, in progress

    return {
        "View": tree.View,
        "apply_all": view.apply_all,
        "build_screen": screen.build_screen,
        "Connected": events.Connected,
        "Received": events.Received,
        "SnapshotEnd": events.SnapshotEnd,
    }


def _view(api: dict[str, Any], count: int) -> object:
    now = datetime.now(UTC)
    since = now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    keys = workload.instance_keys(count)
    received = [
        api["Received"](now, topic, payload, retained=True)
        for topic, payload in workload.sync_messages(keys, since)
    ]
    events = [api["Connected"](now), *received, api["SnapshotEnd"](now)]
    return api["apply_all"](api["View"]("ankaios"), events)


def _redraw_ms(api: dict[str, Any], view: object, height: int | None) -> float:
    from rich.console import Console  # noqa: PLC0415 - rich is the optional dashboard extra

    console = Console(
        file=io.StringIO(), width=COLUMNS, height=LINES, force_terminal=True, highlight=False
    )
    started = time.perf_counter()
    screen = api["build_screen"](view, "127.0.0.1:1883", datetime.now().astimezone(), height)
    console.print(screen, crop=False)
    return (time.perf_counter() - started) * 1000


def _fill_broker(port: int, count: int) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-fill", protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    last = None
    for topic, payload in workload.sync_messages(workload.instance_keys(count), since):
        last = client.publish(topic, payload, qos=1, retain=True)
    client.publish("ankaios/$bridge/status", ONLINE, qos=1, retain=True).wait_for_publish(30)
    if last is not None:
        last.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


def idle_cpu_percent(count: int, seconds: float) -> float:
    """Return the live dashboard's CPU use (% of one core) while N unchanging instances show."""
    # mosquitto drops QoS 0 messages to a subscriber more than max_queued_messages
    # (1000) behind: the 20,001 retained topics would not all reach the dashboard.
    with Mosquitto(extra_config="max_queued_messages 100000") as broker:
        _fill_broker(broker.port, count)
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        loaded = threading.Event()
        marker = f"{count} workloads".encode()

        def drain() -> None:
            tail = b""
            with contextlib.suppress(OSError):
                while chunk := os.read(master, 65536):
                    tail = (tail + chunk)[-4096:]
                    if marker in tail:
                        loaded.set()

        argv = [sys.executable, "-m", "bridge.dashboard", "--mqtt-port", str(broker.port)]
        argv += ["--mqtt-host", "127.0.0.1"]
        env = {**os.environ, "TERM": "xterm-256color"}
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        threading.Thread(target=drain, daemon=True).start()
        try:
            if not loaded.wait(_LOAD_TIMEOUT):
                msg = f"the live dashboard never showed {count} instances"
                raise TimeoutError(msg)
            time.sleep(1.0)  # let the snapshot's first redraws pass
            before, started = cpu_seconds(process.pid), time.monotonic()
            time.sleep(seconds)
            used = cpu_seconds(process.pid) - before
            return 100 * used / (time.monotonic() - started)
        finally:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(master)


def _row(figure: str, unit: str, values: list[float | None], limit: float | None = None) -> Row:
    measured = spread(values)
    met = None if limit is None or measured is None else measured.median < limit
    target = "-" if limit is None else f"< {limit:g} {unit}"
    runs = f"{sum(value is not None for value in values)} of {len(values)}"
    return Row(figure, unit, measured, None, None, target, met, runs)


def measure(repeat: int, *, quick: bool) -> Figures:
    """Return the dashboard rows; a note instead when its API is not (yet) there."""
    try:
        api = _api()
    except (ImportError, AttributeError) as err:
        return Figures(note=f"not measured: the dashboard API is not there ({err})")
    rows: list[Row] = []
    details: dict[str, object] = {}
    timings = max(3, repeat)
    for count in SIZES:
        view = _view(api, count)
        _redraw_ms(api, view, None)  # warm-up: caches, imports
        full: list[float | None] = [_redraw_ms(api, view, None) for _ in range(timings)]
        live: list[float | None] = [_redraw_ms(api, view, LINES) for _ in range(timings)]
        details[f"redraw_all_rows_ms_{count}"] = full
        details[f"redraw_live_{LINES}_lines_ms_{count}"] = live
        limit = REDRAW_LIMIT_MS if count == SIZES[-1] else None
        rows.append(_row(f"dashboard redraw, all {count:,} rows", "ms", full, limit))
        figure = f"dashboard live redraw, {count:,} instances, {LINES}-line terminal"
        rows.append(_row(figure, "ms", live))
    note = ""
    idle: list[float | None] = []
    for _ in range(1 if quick else min(repeat, 3)):
        try:
            idle.append(idle_cpu_percent(SIZES[-1], 2.0 if quick else 5.0))
        except (OSError, TimeoutError) as err:
            note = f"idle CPU: {err}"
            idle.append(None)
    details[f"idle_cpu_percent_{SIZES[-1]}"] = idle
    rows.append(_row(f"dashboard CPU while idle, {SIZES[-1]:,} instances", "% of a core", idle))
    return Figures(tuple(rows), note, details)
