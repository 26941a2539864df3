"""End to end: the real bridge process, the simulator over real FIFOs and a real mosquitto."""

from __future__ import annotations

import signal
import time

import pytest

from bridge.simulator import AgentSimulator, instance_id
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.contract import validated_json
from tests.support.expect import Instances, matches
from tests.support.mqtt import Watcher, read_retained
from tests.support.scene import MAPS, NGINX, RADIO

# The simulated agent starts empty: each test sets its own instances.
pytestmark = pytest.mark.sim()


def test_initial_snapshot_is_published(sim: AgentSimulator, broker: Mosquitto) -> None:
    """Every instance Ankaios reports at start-up gets its two retained topics, and the bridge is online."""
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.set_state("hpc2", "radio", RADIO, "PENDING", "PENDING_STARTING")
    want: Instances = {
        ("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK"),
        ("hpc2", "radio", RADIO): ("PENDING", "PENDING_STARTING"),
    }
    with BridgeProcess(sim.directory, broker.port), Watcher(broker.host, broker.port) as watcher:
        watcher.wait_tree(matches(want))


def test_changes_follow_ankaios(sim: AgentSimulator, broker: Mosquitto) -> None:
    """An added instance, a state change and a sub-state-only change all reach the retained topics."""
    sim.set_state("hpc1", "nginx", NGINX, "PENDING", "PENDING_INITIAL")
    with BridgeProcess(sim.directory, broker.port), Watcher(broker.host, broker.port) as watcher:
        watcher.wait_tree(matches({("hpc1", "nginx", NGINX): ("PENDING", "PENDING_INITIAL")}))
        sim.set_state("hpc1", "nginx", NGINX, "PENDING", "PENDING_STARTING")
        watcher.wait_tree(matches({("hpc1", "nginx", NGINX): ("PENDING", "PENDING_STARTING")}), 1)
        sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        sim.set_state("hpc2", "radio", RADIO, "PENDING", "PENDING_INITIAL")
        want: Instances = {
            ("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK"),
            ("hpc2", "radio", RADIO): ("PENDING", "PENDING_INITIAL"),
        }
        tree = watcher.wait_tree(matches(want), 1)
    assert tree[f"ankaios/hpc1/nginx/{NGINX}/state"] == b"RUNNING"


def test_removal_clears_every_topic(sim: AgentSimulator, broker: Mosquitto) -> None:
    """Removing an instance clears its state and status topics with zero-length retained messages."""
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
    with BridgeProcess(sim.directory, broker.port), Watcher(broker.host, broker.port) as watcher:
        watcher.wait_tree(
            matches(
                {
                    ("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK"),
                    ("hpc2", "radio", RADIO): ("RUNNING", "RUNNING_OK"),
                }
            )
        )
        sim.remove("hpc2", "radio", RADIO)
        watcher.wait_tree(matches({("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK")}), 1)
        clears = [m for m in watcher.messages if m[0].startswith(f"ankaios/hpc2/radio/{RADIO}/")]
    assert sorted((topic, payload) for topic, payload, _ in clears[-2:]) == [
        (f"ankaios/hpc2/radio/{RADIO}/state", b""),
        (f"ankaios/hpc2/radio/{RADIO}/status", b""),
    ]
    fresh = read_retained(broker.host, broker.port)
    assert not [topic for topic in fresh if "/radio/" in topic]


def test_not_scheduled_workload_has_empty_agent_level(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A workload without an agent is published under an empty agent level."""
    sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
    with BridgeProcess(sim.directory, broker.port), Watcher(broker.host, broker.port) as watcher:
        tree = watcher.wait_tree(matches({("", "maps", MAPS): ("NOT_SCHEDULED", "NOT_SCHEDULED")}))
    assert tree[f"ankaios//maps/{MAPS}/state"] == b"NOT_SCHEDULED"


def test_burst_of_changes_arrives_promptly(sim: AgentSimulator, broker: Mosquitto) -> None:
    """Several event frames written in one burst are all published without waiting for more input."""
    ids = [instance_id(f"app-{n}") for n in range(5)]
    for n, iid in enumerate(ids):
        sim.set_state("hpc1", f"app{n}", iid, "PENDING", "PENDING_STARTING")
    with BridgeProcess(sim.directory, broker.port), Watcher(broker.host, broker.port) as watcher:
        watcher.wait_tree(
            matches(
                {
                    ("hpc1", f"app{n}", iid): ("PENDING", "PENDING_STARTING")
                    for n, iid in enumerate(ids)
                }
            )
        )
        with sim.burst():
            for n, iid in enumerate(ids):
                sim.set_state("hpc1", f"app{n}", iid, "RUNNING", "RUNNING_OK")
        want = {("hpc1", f"app{n}", iid): ("RUNNING", "RUNNING_OK") for n, iid in enumerate(ids)}
        watcher.wait_tree(matches(want), 1)


def test_instances_removed_while_down_are_cleared_at_start(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A restarted bridge clears the topics of instances removed while it was not running, and keeps `since`."""
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
    both: Instances = {
        ("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK"),
        ("hpc2", "radio", RADIO): ("RUNNING", "RUNNING_OK"),
    }
    with Watcher(broker.host, broker.port) as watcher:
        with BridgeProcess(sim.directory, broker.port) as bridge:
            first = watcher.wait_tree(matches(both))
            assert bridge.signal(signal.SIGTERM) == 0
        sim.remove("hpc2", "radio", RADIO)
        sim.new_workload_instance()
        with BridgeProcess(sim.directory, broker.port):
            second = watcher.wait_tree(
                matches({("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK")})
            )
    status = f"ankaios/hpc1/nginx/{NGINX}/status"
    assert (
        validated_json(status, second[status])["since"]
        == validated_json(status, first[status])["since"]
    )


def test_sigterm_publishes_offline_and_exits_zero(sim: AgentSimulator, broker: Mosquitto) -> None:
    """SIGTERM leaves `disconnected` then `offline` retained, in that order, and ends the process with 0 within 2 s."""
    with (
        BridgeProcess(sim.directory, broker.port) as bridge,
        Watcher(broker.host, broker.port) as watcher,
    ):
        watcher.wait_tree(matches({}, ankaios="connected"))
        started = time.monotonic()
        assert bridge.signal(signal.SIGTERM) == 0
        assert time.monotonic() - started < 2
        watcher.wait_tree(matches({}, bridge="offline", ankaios="disconnected"), 1)
        said = [
            (topic, payload)
            for topic, payload, _ in watcher.messages
            if topic in ("ankaios/$bridge/status", "ankaios/$bridge/ankaios")
        ]
    assert said[-2:] == [
        ("ankaios/$bridge/ankaios", b"disconnected"),
        ("ankaios/$bridge/status", b"offline"),
    ]


def test_event_without_the_instance_state_leads_to_a_fresh_read(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A not-scheduled workload added later (upstream's event omits its state) is read afresh, not dropped."""
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    with (
        BridgeProcess(sim.directory, broker.port) as bridge,
        Watcher(broker.host, broker.port) as watcher,
    ):
        watcher.wait_tree(matches({("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK")}))
        sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
        watcher.wait_tree(
            matches(
                {
                    ("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK"),
                    ("", "maps", MAPS): ("NOT_SCHEDULED", "NOT_SCHEDULED"),
                }
            ),
            1,
        )
        assert "re-reading the state" in bridge.log()
