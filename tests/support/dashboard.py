"""Run the real `ankaios-mqtt-dashboard --once` as a user would, against a test broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DASHBOARD = Path(sys.executable).parent / "ankaios-mqtt-dashboard"


def dashboard_once(host: str, port: int) -> subprocess.CompletedProcess[str]:
    """Return the finished `--once` run: plain text (NO_COLOR), a clean environment."""
    return subprocess.run(
        [str(DASHBOARD), "--once", "--mqtt-host", host, "--mqtt-port", str(port)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        timeout=30,
    )


def run_command(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Return the finished run of one of the project's console scripts, as a user starts it."""
    return subprocess.run(
        [str(Path(sys.executable).parent / command), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
