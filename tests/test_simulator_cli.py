"""The ankaios-simulator command line: the bundled demo, looping, signals and bad scenarios."""

from __future__ import annotations

import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from ankaios_sdk import Ankaios, ControlInterface

from bridge.simulator.cli import main

TIMEOUT = 15.0


class Running:
    """A simulator process whose stdout lines are collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge.simulator", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.process.stdout is not None
        threading.Thread(target=self._pump, args=(self.process.stdout,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def wait_line(self, fragment: str) -> None:
        """Wait until a stdout line contains ``fragment``."""
        while not any(fragment in line for line in self.seen):
            self.seen.append(self.lines.get(timeout=TIMEOUT))

    def stop(self, sig: signal.Signals) -> int:
        """Send ``sig`` and return the exit code."""
        self.process.send_signal(sig)
        code = self.process.wait(timeout=TIMEOUT)
        assert self.process.stdout is not None
        assert self.process.stderr is not None
        self.process.stdout.close()
        self.process.stderr.close()
        return code


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Started simulator processes, killed if a test leaves one behind."""
    started: list[Running] = []
    yield started
    for proc in started:
        if proc.process.poll() is None:
            proc.process.kill()
            proc.process.wait(timeout=TIMEOUT)
        for stream in (proc.process.stdout, proc.process.stderr):
            if stream is not None:
                stream.close()


def test_demo_runs_and_serves_its_final_state_until_sigterm(
    tmp_path: Path, running: list[Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo plays fast, an SDK client reads the final state, SIGTERM removes the FIFOs."""
    directory = tmp_path / "ci"
    proc = Running("--control-interface", str(directory), "--scenario", "demo", "--speed", "200")
    running.append(proc)
    proc.wait_line("scenario finished")
    assert stat.S_ISFIFO((directory / "output").stat().st_mode)
    assert sum(line.startswith("[") for line in proc.seen) == 52
    monkeypatch.setattr(ControlInterface, "ANKAIOS_CONTROL_INTERFACE_BASE_PATH", str(directory))
    with Ankaios() as client:
        states = client.get_state(["workloadStates"]).get_workload_states().get_as_dict()
    assert sorted(states) == ["", "hpc1", "hpc2", "infotainment"]
    assert sorted(states["hpc2"]) == ["map_updater", "navigation"]
    assert "telemetry_uploader" in states["hpc1"]  # still retrying its create
    assert len(states["hpc2"]["navigation"]) == 1  # the old config's instance is gone
    assert "voice_assistant" not in states["infotainment"]
    assert proc.stop(signal.SIGTERM) == 0
    assert list(directory.iterdir()) == []


def test_loop_repeats_until_sigint(tmp_path: Path, running: list[Running]) -> None:
    """With --loop a second pass starts; SIGINT ends the program cleanly."""
    directory = tmp_path / "ci"
    proc = Running("--control-interface", str(directory), "--loop", "--speed", "100")
    running.append(proc)
    proc.wait_line("--- pass 2")
    assert proc.stop(signal.SIGINT) == 0
    assert list(directory.iterdir()) == []


def test_bad_scenario_file_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    """A scenario with an unknown action fails with exit 2 and a single explanatory line."""
    bad = tmp_path / "bad.toml"
    bad.write_text("[[step]]\nat = 0\naction = 'explode'\nagent = 'hpc1'\n")
    command = [sys.executable, "-m", "bridge.simulator", "--control-interface"]
    command += [str(tmp_path / "ci"), "--scenario", str(bad)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    expected = f"ankaios-simulator: {bad}: step 1: unknown action 'explode'; accepted actions: "
    assert result.stderr.splitlines() == [
        expected
        + "connect, disconnect, set, remove, load, restart-agent, reconnect-server, server-outage, hang-server"
    ]
    assert not (tmp_path / "ci").exists()


def test_missing_scenario_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A scenario path that does not exist is reported in one line with exit code 2."""
    missing = tmp_path / "nope.toml"
    assert main(["--control-interface", str(tmp_path / "ci"), "--scenario", str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"ankaios-simulator: {missing}: cannot read scenario: No such file or directory\n"
    )


def test_fault_flag_runs_next_to_the_scenario(tmp_path: Path, running: list[Running]) -> None:
    """--fault reconnect-server@1 replaces the control interface while the lifecycle scenario plays."""
    directory = tmp_path / "ci"
    proc = Running(
        "--control-interface",
        str(directory),
        "--scenario",
        "lifecycle",
        # A pass of the 100 s scenario in 2 s: the wait for pass 2 is what takes long.
        "--speed",
        "50",
        "--loop",
        "--fault",
        "reconnect-server@1",
    )
    running.append(proc)
    proc.wait_line("[fault    1.0s] agent reconnects to the server")
    proc.wait_line("server reachable again")
    proc.wait_line("--- pass 2")
    assert proc.stop(signal.SIGTERM) == 0


def test_sigusr1_recreates_the_workload_for_a_new_client(
    tmp_path: Path, running: list[Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGUSR1 (the demo's fake `ank apply`) gives the next client a fresh control interface that accepts its handshake."""
    directory = tmp_path / "ci"
    proc = Running("--control-interface", str(directory), "--scenario", "demo", "--speed", "200")
    running.append(proc)
    proc.wait_line("scenario finished")
    monkeypatch.setattr(ControlInterface, "ANKAIOS_CONTROL_INTERFACE_BASE_PATH", str(directory))
    with Ankaios() as client:
        assert "hpc2" in client.get_state(["workloadStates"]).get_workload_states().get_as_dict()
    proc.process.send_signal(signal.SIGUSR1)
    proc.wait_line("workload re-created (SIGUSR1): a fresh control interface wants a Hello")
    with Ankaios() as client:
        assert "hpc2" in client.get_state(["workloadStates"]).get_workload_states().get_as_dict()
    assert proc.stop(signal.SIGTERM) == 0
