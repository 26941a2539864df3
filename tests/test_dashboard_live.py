"""The live dashboard in a real pseudo-terminal: it redraws one table in place."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bridge.core.topics import InstanceKey
from tests.support.broker import Mosquitto
from tests.support.mqtt import publish
from tests.test_dashboard_once import agent_status, publish_many, retained

ROWS, COLUMNS = 30, 120
_CONTROL = re.compile(rb"\x1b\[([?0-9;]*)([A-Za-z])|\r|\n|\x1b")


class Screen:
    """Just enough of a terminal to replay what rich's Live writes: text, CR, LF, cursor up, erase line."""

    def __init__(self) -> None:
        self.lines: list[list[str]] = [[]]
        self.row = 0
        self.column = 0
        self.raw = b""

    def feed(self, data: bytes) -> None:
        """Apply terminal output to the screen."""
        self.raw += data
        position = 0
        for match in _CONTROL.finditer(data):
            self._write(data[position : match.start()].decode(errors="replace"))
            position = match.end()
            self._control(match)
        self._write(data[position:].decode(errors="replace"))

    def _control(self, match: re.Match[bytes]) -> None:
        token = match.group(0)
        if token == b"\r":
            self.column = 0
        elif token == b"\n":
            self.row += 1
            while len(self.lines) <= self.row:
                self.lines.append([])
        elif match.group(2) == b"A":
            self.row = max(0, self.row - int(match.group(1) or b"1"))
        elif match.group(2) == b"K":
            self.lines[self.row] = []

    def _write(self, text: str) -> None:
        line = self.lines[self.row]
        for char in text:
            if self.column >= len(line):
                line.extend(" " * (self.column - len(line) + 1))
            line[self.column] = char
            self.column += 1

    def text(self) -> list[str]:
        """Return what the terminal shows, one string per line, without blank lines at the end."""
        lines = ["".join(line).rstrip() for line in self.lines]
        while lines and not lines[-1]:
            lines.pop()
        return lines


class Terminal:
    """The dashboard running in a pseudo-terminal of ROWS x COLUMNS."""

    def __init__(self, broker: Mosquitto) -> None:
        self.broker = broker
        self.screen = Screen()
        self.master = -1
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str) -> None:
        """Start `python -m bridge.dashboard` on a new pty, with `extra` options."""
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm-256color"}
        argv = [sys.executable, "-m", "bridge.dashboard", "--mqtt-host", self.broker.host]
        argv += ["--mqtt-port", str(self.broker.port), "--mqtt-reconnect-max-delay", "0.2", *extra]
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)

    def stop(self) -> None:
        """Kill the dashboard if it still runs and close the pty."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def wait(
        self, condition: Callable[[list[str]], bool], what: str, timeout: float = 10
    ) -> list[str]:
        """Read until a whole frame is on the screen and satisfies `condition`; fail after `timeout` s."""
        deadline = time.monotonic() + timeout
        while not (_complete(self.screen.text()) and condition(self.screen.text())):
            left = deadline - time.monotonic()
            if left <= 0:
                shown = "\n".join(self.screen.text())
                pytest.fail(f"timed out waiting for {what}; the screen shows:\n{shown}")
            readable, _, _ = select.select([self.master], [], [], left)
            if readable:
                try:
                    self.screen.feed(os.read(self.master, 65536))
                except OSError:  # EIO: the dashboard has closed the terminal
                    pytest.fail(f"the dashboard ended while waiting for {what}")
        return self.screen.text()

    def drain_until_exit(self, timeout: float = 10) -> int:
        """Read the rest of the output until the dashboard exits; return its status."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            readable, _, _ = select.select([self.master], [], [], 0.1)
            if readable:
                try:
                    self.screen.feed(os.read(self.master, 65536))
                except OSError:
                    break
        return self.process.wait(max(0.1, deadline - time.monotonic()))


def _complete(lines: list[str]) -> bool:
    """Tell whether the screen holds a whole frame: a read can end in the middle of one."""
    return bool(lines) and re.fullmatch(r"\d+ workloads?( · .*)?", lines[-1]) is not None


@pytest.fixture
def terminal(broker: Mosquitto) -> Iterator[Terminal]:
    """Yield the dashboard started in a pty against the test broker."""
    running = Terminal(broker)
    try:
        yield running
    finally:
        running.stop()


NGINX = InstanceKey("hpc1", "nginx", "a1" * 32)
DB = InstanceKey("hpc2", "db", "b2" * 32)
AGO = timedelta(days=2)


def row(lines: list[str], short_id: str) -> str:
    """Return the one line of the instance with `short_id`, or "" when it is not shown."""
    found = [line for line in lines if f" {short_id} " in line]
    assert len(found) <= 1, lines
    return found[0] if found else ""


def test_live_table_redraws_in_place(broker: Mosquitto, terminal: Terminal) -> None:
    """A change rewrites the same table (cursor up, erase line), it is not appended below."""
    publish_many(
        broker,
        [
            *retained(NGINX, "RUNNING", "RUNNING_OK", AGO),
            *retained(DB, "RUNNING", "RUNNING_OK", AGO),
            ("ankaios/$bridge/status", b"online"),
            ("ankaios/$bridge/ankaios", b"connected"),
        ],
    )
    terminal.start()
    terminal.wait(lambda s: "● Running" in row(s, "a1a1a1a1"), "nginx running")
    before = len(terminal.screen.raw)
    publish_many(broker, retained(NGINX, "FAILED", "FAILED_EXEC_FAILED", timedelta(0)))
    lines = terminal.wait(lambda s: "✗ Failed" in row(s, "a1a1a1a1"), "nginx failed")
    assert sum(line.split()[:2] == ["AGENT", "WORKLOAD"] for line in lines) == 1
    assert lines[0].endswith("· connected · bridge online · ankaios connected")
    assert lines[-1] == "2 workloads · 1 running · 1 failed"
    redraws = terminal.screen.raw[before:]
    assert b"\x1b[1A\x1b[2K" in redraws  # rich Live moves up over the old frame and erases it

    assert terminal.process is not None
    terminal.process.terminate()
    assert terminal.drain_until_exit() == 0
    assert b"\x1b[?25h" in terminal.screen.raw[-64:]  # SIGTERM, too, gives the cursor back


def test_live_view_follows_clears_outages_and_reconnects(
    broker: Mosquitto, terminal: Terminal
) -> None:
    """Cleared rows vanish, a lost broker marks the table stale, a reconnect reloads it."""
    publish_many(
        broker,
        [
            *retained(NGINX, "RUNNING", "RUNNING_OK", AGO),
            *retained(DB, "PENDING", "PENDING_STARTING", AGO),
        ],
    )
    terminal.start()
    terminal.wait(lambda s: bool(row(s, "b2b2b2b2")), "the db row")
    for leaf in ("state", "status"):
        publish(broker.host, broker.port, f"ankaios/hpc2/db/{'b2' * 32}/{leaf}", b"")
    terminal.wait(lambda s: not row(s, "b2b2b2b2") and s[-1] == "1 workload · 1 running", "db gone")

    broker.kill()
    lines = terminal.wait(lambda s: len(s) > 1 and s[1].startswith("STALE"), "the stale mark")
    assert "· reconnecting (" in lines[0]
    assert lines[1].endswith("ago): broker unreachable")
    assert "● Running" in row(lines, "a1a1a1a1")  # the last known state stays visible

    broker.start()  # same port, no persistence: the retained topics are gone
    lines = terminal.wait(lambda s: s[-1] == "0 workloads", "the reloaded, empty snapshot")
    assert lines[0].endswith("· connected · bridge unknown · ankaios unknown")
    assert not any(line.startswith("STALE") for line in lines)

    assert terminal.process is not None
    terminal.process.send_signal(signal.SIGINT)
    assert terminal.drain_until_exit() == 0
    assert "Traceback" not in "\n".join(terminal.screen.text())


def test_live_filters_and_agents_follow_the_broker(broker: Mosquitto, terminal: Terminal) -> None:
    """With `--agent`, only that agent's line and instances show; long info ends at the edge; a cleared agent is gone."""
    info = "exec failed: " + "no such image; " * 20
    publish_many(
        broker,
        [
            *retained(NGINX, "RUNNING", "RUNNING_OK", AGO),
            *retained(DB, "FAILED", "FAILED_EXEC_FAILED", AGO, info),
            ("ankaios/hpc1/$agent/status", agent_status("hpc1", 3, 2048, {})),
            ("ankaios/hpc2/$agent/status", agent_status("hpc2", 40, 3 * 1024**3, {"zone": "rear"})),
        ],
    )
    terminal.start("--agent", "hpc2")
    lines = terminal.wait(lambda s: bool(row(s, "b2b2b2b2")), "the db row")
    assert lines[1:4] == [
        "AGENT   WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
        "hpc2    1           40%         3.0 GiB       zone=rear",
        "",
    ]
    assert not row(lines, "a1a1a1a1")
    db = row(lines, "b2b2b2b2")
    assert (len(db), db[-16:]) == (COLUMNS, "uch image; no s…")
    assert lines[-1] == "1 workload · 1 failed"

    publish(broker.host, broker.port, "ankaios/hpc2/$agent/status", b"")
    lines = terminal.wait(lambda s: "hpc2 (gone)" in s[2], "hpc2 gone")
    assert lines[2] == "hpc2 (gone)   1           -           -             -"
