"""Faults: after each one the retained tree converges to what Ankaios reports, within 2 seconds."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from bridge.ankaios.stops import RECREATE
from bridge.simulator import AgentSimulator, instance_id
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto, free_port
from tests.support.mqtt import Watcher, publish, wait_for
from tests.support.scene import FAST, MAPS, NGINX, RADIO, assert_converges, stop_reason


@pytest.mark.parametrize("persistence", [False, True])
def test_broker_restart(sim: AgentSimulator, persistence: bool) -> None:
    """After a broker restart (with or without persistence) the bridge republishes everything."""
    with (
        Mosquitto(persistence=persistence) as broker,
        BridgeProcess(sim.directory, broker.port, *FAST),
    ):
        assert_converges(sim, broker)
        broker.restart()
        assert_converges(sim, broker, timeout=3)


def test_broker_outage_while_workloads_change(sim: AgentSimulator) -> None:
    """Changes and removals during an outage end as the latest values, with no stale backlog replayed."""
    with Mosquitto(persistence=True) as broker, BridgeProcess(sim.directory, broker.port, *FAST):
        assert_converges(sim, broker)
        broker.stop()
        for substate in ("PENDING_STARTING_FAILED", "PENDING_WAITING_TO_START", "PENDING_STARTING"):
            sim.set_state("hpc2", "radio", RADIO, "PENDING", substate)
        sim.remove("hpc1", "nginx", NGINX)
        sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
        broker.start()
        with Watcher(broker.host, broker.port) as watcher:
            assert_converges(sim, broker, timeout=3)
            radio = [p for t, p, _ in watcher.messages if t.endswith(f"{RADIO}/status")]
    # A subscriber across the reconnect sees at most the stale persisted value and then
    # the latest one: never the intermediate values of the outage.
    assert not [p for p in radio if b"FAILED" in p or b"WAITING" in p]


def test_broker_unreachable_at_start(sim: AgentSimulator) -> None:
    """A bridge started before its broker keeps retrying, logs one line for the outage, and syncs once it is up."""
    port = free_port()
    with BridgeProcess(sim.directory, port, *FAST) as bridge:
        wait_for(lambda: "cannot connect" in bridge.log(), 5, "the outage log line")
        with Mosquitto(port=port) as broker:
            assert_converges(sim, broker, timeout=3)
        assert bridge.log().count("cannot connect") == 1
        assert bridge.process is not None
        assert bridge.process.poll() is None


def test_agent_restart_resubscribes(sim: AgentSimulator, broker: Mosquitto) -> None:
    """After an agent restart the bridge re-subscribes in-process and changes made meanwhile arrive."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        sim.restart_agent(down_time=0.5)
        sim.remove("hpc1", "nginx", NGINX)
        sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
        assert_converges(sim, broker, timeout=3)
        sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
        assert_converges(sim, broker)
        assert "reconnected to the Ankaios agent" in bridge.log()


def test_silently_dropped_subscription_is_repaired_by_resync(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A subscription that stops delivering is repaired by the periodic resync."""
    with BridgeProcess(sim.directory, broker.port, *FAST, "--resync-interval", "1"):
        assert_converges(sim, broker)
        sim.drop_subscriptions()
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        assert_converges(sim, broker, timeout=2.5)


def test_closed_connection_ends_with_offline(sim: AgentSimulator, broker: Mosquitto) -> None:
    """When the agent closes the connection the bridge says why in `$bridge/info` and its log, publishes offline and exits 1."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        sim.close_connection("workload deleted")
        assert bridge.wait(5) == 1
        assert_converges(sim, broker, bridge="offline", stopped=True)
        errors = [line for line in bridge.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "workload deleted" in errors[0]
    assert "re-create the workload" in errors[0]
    stopped = stop_reason(broker)
    assert "closed the control interface: workload deleted" in str(stopped["reason"])
    assert stopped["advice"] == RECREATE
    assert stopped["recreate"] is True


def test_unanswered_handshake_is_reported(sim: AgentSimulator, broker: Mosquitto) -> None:
    """A Hello that is never answered (a restarted process) ends the bridge with one line instead of a hang."""
    sim.ignore_hello = True
    with BridgeProcess(sim.directory, broker.port, *FAST, "--handshake-timeout", "0.5") as bridge:
        assert bridge.wait(5) == 1
        errors = [line for line in bridge.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "did not answer the handshake within 0.5 s" in errors[0]
    assert "Traceback" not in bridge.log()


def test_agent_that_stops_reading_is_reported(sim: AgentSimulator, broker: Mosquitto) -> None:
    """A control interface whose agent no longer reads it ends the bridge with one line, not a hang."""
    with BridgeProcess(
        sim.directory, broker.port, *FAST, "--agent-reconnect-timeout", "0.5"
    ) as bridge:
        assert_converges(sim, broker)
        sim.stop_reading()
        assert bridge.wait(5) == 1
        assert_converges(sim, broker, bridge="offline", stopped=True)
        errors = [line for line in bridge.log().splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert "does not read the control interface" in errors[0]
    assert "does not read the control interface" in str(stop_reason(broker)["reason"])


def test_sigkill_leaves_offline_and_next_start_reconciles(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A killed bridge is marked offline by its will; the next instance reconciles and is online."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        bridge.signal(signal.SIGKILL)
    # A killed bridge says nothing more: its will marks it offline, `$bridge/ankaios`
    # keeps the last value it published.
    assert_converges(sim, broker, bridge="offline", ankaios="connected")
    sim.remove("hpc2", "radio", RADIO)
    sim.new_workload_instance()
    with BridgeProcess(sim.directory, broker.port, *FAST):
        assert_converges(sim, broker)


def test_late_will_of_a_hung_instance_does_not_win(tmp_path: Path, broker: Mosquitto) -> None:
    """The late will of a frozen old bridge instance does not leave the new instance marked offline."""
    with AgentSimulator(tmp_path / "old") as old_sim, AgentSimulator(tmp_path / "new") as new_sim:
        for each in (old_sim, new_sim):
            each.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        old = BridgeProcess(
            old_sim.directory, broker.port, "--mqtt-keepalive", "1", "--mqtt-client-id", "old"
        )
        with old:
            assert_converges(new_sim, broker)
            assert old.process is not None
            os.kill(old.process.pid, signal.SIGSTOP)
            with BridgeProcess(
                new_sim.directory, broker.port, *FAST, "--mqtt-client-id", "new"
            ) as new:
                with Watcher(broker.host, broker.port) as watcher:
                    # mosquitto fires the will 1.5 keepalives after the last packet, on its
                    # next periodic check: a few seconds.
                    wait_for(
                        lambda: any(
                            p == b"offline"
                            for t, p, _ in watcher.messages
                            if t.endswith("$bridge/status")
                        ),
                        15,
                        "the late will",
                    )
                    assert_converges(new_sim, broker)
                assert "restoring online" in new.log()
            os.kill(old.process.pid, signal.SIGCONT)


def test_sigint_publishes_offline_and_exits_zero(sim: AgentSimulator, broker: Mosquitto) -> None:
    """SIGINT, like SIGTERM, publishes offline and exits 0 within 2 seconds."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        started = time.monotonic()
        assert bridge.signal(signal.SIGINT) == 0
        assert time.monotonic() - started < 2
    assert_converges(sim, broker, bridge="offline")


def test_foreign_publishes_are_corrected(sim: AgentSimulator, broker: Mosquitto) -> None:
    """A wrong retained state, a stray offline or disconnected, a hostile status and topics of a non-existent instance are corrected within 2 s."""
    with BridgeProcess(sim.directory, broker.port, *FAST):
        assert_converges(sim, broker)
        publish(broker.host, broker.port, f"ankaios/hpc1/nginx/{NGINX}/state", b"FAILED")
        publish(broker.host, broker.port, "ankaios/$bridge/status", b"offline")
        publish(broker.host, broker.port, "ankaios/$bridge/ankaios", b"disconnected")
        nested = b"[" * 100_000 + b"]" * 100_000
        publish(broker.host, broker.port, f"ankaios/hpc2/radio/{RADIO}/status", nested)
        ghost = instance_id("ghost")
        publish(broker.host, broker.port, f"ankaios/hpc9/ghost/{ghost}/state", b"RUNNING")
        publish(broker.host, broker.port, f"ankaios/hpc9/ghost/{ghost}/status", b"{}")
        assert_converges(sim, broker)
