"""Run the real `ankaios-mqtt-watchdog` as a child process with the fake `ank` (tests/support/fake_ank.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.child import ChildProcess
from tests.support.mqtt import publish, wait_for

FAKE_ANK = Path(__file__).resolve().parent / "fake_ank.py"
WORKLOAD = "mqtt_bridge"
MANIFEST = f"""apiVersion: v0.1
workloads:
  {WORKLOAD}:
    runtime: podman
    agent: agent_A
    restartPolicy: NEVER
  mosquitto:
    runtime: podman
    agent: agent_A
"""
DELETE = ["delete", "workload", WORKLOAD]
GET = ["get", "workloads"]


def info(stopped: dict[str, object] | None = None) -> bytes:
    """Return a `$bridge/info` document as the bridge publishes it, with `stopped` if given."""
    document: dict[str, object] = {
        "version": "0.1.0",
        "started": "2026-12-07T16:00:00.000Z",
        "prefix": "ankaios",
        "qos": 1,
        "protocol": "5",
        "brokerLacks": [],
        "masks": ["workloadStates.*.*.*.state"],
        "ankaios": "disconnected",
        "instances": 0,
        "agents": 0,
        "counters": {},
        "warnings": [],
    }
    if stopped is not None:
        document["stopped"] = stopped
    return json.dumps(document).encode()


def stop(
    at: str, *, recreate: bool = True, reason: str = "the control interface is gone"
) -> dict[str, object]:
    """Return a `stopped` value."""
    return {"reason": reason, "advice": "re-create the workload", "at": at, "recreate": recreate}


class WatchdogProcess(ChildProcess):
    """The watchdog in its own process, its `ank` the fake one; stderr readable with `log()`."""

    name = "watchdog"

    def __init__(
        self, tmp: Path, host: str, port: int, *args: str, env: dict[str, str] | None = None
    ) -> None:
        self.tmp = tmp
        self.host, self.port = host, port
        self.manifest = tmp / "state.yaml"
        self.calls_file = tmp / "ank-calls.jsonl"
        self.state_file = tmp / "ank-state.json"
        argv = [
            sys.executable, "-m", "bridge.watchdog",
            "--workload", WORKLOAD, "--manifest", str(self.manifest), "--ank", str(FAKE_ANK),
            "--mqtt-host", host, "--mqtt-port", str(port),
            "--backoff", "0.1", "--max-backoff", "0.2", *args,
        ]  # fmt: skip
        calls = {"FAKE_ANK_CALLS": str(self.calls_file), "FAKE_ANK_STATE": str(self.state_file)}
        super().__init__(argv, {**calls, **(env or {})})

    def __enter__(self) -> WatchdogProcess:
        self.manifest.write_text(MANIFEST)
        # Ankaios runs the bridge's workload: `ank apply` made it.
        subprocess.run(
            [str(FAKE_ANK), "apply", str(self.manifest)],
            env={**self.env, "FAKE_ANK_CALLS": "", "FAKE_ANK_FAIL": ""},
            check=True,
        )
        self.start()
        return self

    def start(self) -> None:
        """Start the watchdog and wait until it has subscribed."""
        subscribed = self.log().count("subscribed to ")
        super().start()
        self.wait_log("subscribed to ", count=subscribed + 1)

    def wait_log(self, text: str, timeout: float = 10.0, count: int = 1) -> None:
        """Wait until `text` occurs `count` times in the log."""
        wait_for(
            lambda: self.log().count(text) >= count,
            timeout,
            f"{text!r} in the watchdog's log:\n{self.log()}",
        )

    def calls(self) -> list[list[str]]:
        """Return every call of the fake `ank`, in order."""
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def wait_calls(self, count: int, timeout: float = 10.0) -> list[list[str]]:
        """Wait until `ank` was called `count` times; return the calls."""
        wait_for(
            lambda: len(self.calls()) >= count, timeout, f"{count} ank calls, got {self.calls()}"
        )
        return self.calls()

    def say(
        self, status: bytes | None, info_payload: bytes | None = None, prefix: str = "ankaios"
    ) -> None:
        """Publish, retained, what a bridge says: its info first, then its status."""
        if info_payload is not None:
            publish(self.host, self.port, f"{prefix}/$bridge/info", info_payload)
        if status is not None:
            publish(self.host, self.port, f"{prefix}/$bridge/status", status)
