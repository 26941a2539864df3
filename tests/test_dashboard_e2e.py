"""The whole chain: simulator -> bridge -> mosquitto -> `ankaios-mqtt-dashboard --once`."""

from __future__ import annotations

from pathlib import Path

from bridge.simulator import AgentSimulator, instance_id
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.dashboard import dashboard_once
from tests.support.scene import FAST, assert_converges


def test_once_shows_what_the_bridge_mirrors(tmp_path: Path, broker: Mosquitto) -> None:
    """`--once` prints one line per instance the bridge published, with state glyph and sub-state, and a summary."""
    nginx, radio, maps = instance_id("nginx"), instance_id("radio"), instance_id("maps")
    with AgentSimulator(tmp_path / "ci") as sim:
        sim.set_state("hpc1", "nginx", nginx, "RUNNING", "RUNNING_OK")
        sim.set_state("hpc2", "radio", radio, "FAILED", "FAILED_EXEC_FAILED")
        sim.set_state("", "maps", maps, "NOT_SCHEDULED", "NOT_SCHEDULED")
        with BridgeProcess(sim.directory, broker.port, *FAST):
            assert_converges(sim, broker)
            result = dashboard_once(broker.host, broker.port)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The instance table starts after the agent lines (as many as this bridge publishes).
    heading = next(index for index, line in enumerate(lines) if " WORKLOAD " in line)
    rows = [line.split() for line in lines[heading - 1 :]]
    assert ["(not", "scheduled)", "maps", maps[:8], "○", "NotScheduled", "NotScheduled"] == rows[3][
        :7
    ]
    assert ["hpc1", "nginx", nginx[:8], "●", "Running", "Ok"] == rows[4][:6]
    assert ["hpc2", "radio", radio[:8], "✗", "Failed", "ExecFailed"] == rows[5][:6]
    assert "3 workloads · 1 running · 1 failed · 1 not scheduled" in result.stdout
    assert "bridge online" in result.stdout.splitlines()[0]
