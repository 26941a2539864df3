"""The README's demo command: the whole system in a terminal, and Ctrl-C stops all of it."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def plain(screen: bytes) -> bytes:
    """Return terminal output without its colour and cursor sequences."""
    return re.sub(rb"\x1b\[[0-9;]*[A-Za-z]", b"", screen)


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmdline:
                found.append(int(entry.name))
    return found


# NATS speaks MQTT 3.1.1 only: the demo relies on the bridge and dashboard falling back.
@pytest.mark.parametrize("broker", ["mosquitto", "nats"])
def test_demo_shows_the_live_dashboard_and_ctrl_c_stops_everything(broker: str) -> None:
    """scripts/demo (DEMO_BROKER mosquitto or nats) shows the scenario's agents and workloads live; Ctrl-C ends it and leaves no process behind."""
    controller, terminal = pty.openpty()
    env = {
        **os.environ,
        "DEMO_BROKER": broker,
        "DEMO_SPEED": "4",
        # The bridge's --agent-status-interval (10 s): the load lines the test waits for show
        # within 1 s even when the bridge published the agent before its first load report.
        "AGENT_STATUS_INTERVAL": "1",
        "TERM": "xterm-256color",
        "COLUMNS": "140",
        "LINES": "40",
    }
    demo = subprocess.Popen(
        [str(ROOT / "scripts" / "demo")],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        start_new_session=True,
    )
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 30
    try:
        # The first frames may show the header before the bridge's first publishes.
        while not (
            b"bridge online" in plain(screen)
            and re.search(rb"[1-9]\d* workloads", screen)
            and b"hpc1" in screen
            and re.search(rb"hpc1 +\d+ +\d+%", plain(screen))  # the agent lines above the table
        ):
            assert time.monotonic() < deadline, (
                f"the dashboard never showed the scenario: {plain(screen)[-3000:]!r}"
            )
            if select.select([controller], [], [], 0.5)[0]:
                try:
                    screen += os.read(controller, 65536)
                except OSError:
                    # EIO: every process of the demo closed the terminal, so it ended.
                    msg = f"the demo ended early ({demo.wait(10)}): {plain(screen)[-3000:]!r}"
                    raise AssertionError(msg) from None
        work = re.search(rb"logs in (/tmp/ankaios-demo\.\w+)", screen)
        assert work is not None
        # Ctrl-C in a terminal signals the foreground process group.
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(10)
        assert _processes_mentioning(work.group(1).decode()) == []
        assert not Path(work.group(1).decode()).exists()
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            # Reaped here: a Popen still running when collected warns in a later test.
            demo.wait(10)
        os.close(controller)
