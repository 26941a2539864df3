"""End to end: agents, additional info, allow rules and `$bridge/info` on a real broker."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bridge.ankaios.fieldpaths import AGENTS_MASK, INFO_MASK, STATE_MASK, SUBSTATE_MASK
from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.contract import validated_json
from tests.support.expect import INFO_KEYS, AgentLoads, matches
from tests.support.mqtt import Watcher, wait_for
from tests.support.scene import FAST, NGINX, NGINX_RUNNING, RADIO, assert_converges

HPC1 = "ankaios/hpc1/$agent/status"
HPC2 = "ankaios/hpc2/$agent/status"
INFO = "ankaios/$bridge/info"
NGINX_STATE = f"ankaios/hpc1/nginx/{NGINX}/state"
NGINX_STATUS = f"ankaios/hpc1/nginx/{NGINX}/status"


# The simulated agent: hpc1 (tagged zone=front) running nginx.
pytestmark = pytest.mark.sim(NGINX_RUNNING, agents={"hpc1": {"zone": "front"}})


def document(watcher: Watcher, topic: str) -> dict[str, object] | None:
    """Return the retained JSON document of `topic`, or None when it is not there."""
    payload = watcher.snapshot().get(topic)
    return validated_json(topic, payload) if payload else None


def loads(watcher: Watcher, topic: str) -> list[tuple[object, object]]:
    """Return the (cpuUsage, freeMemory) of every retained publish of an agent topic so far."""
    found = []
    for seen, payload, retain in list(watcher.messages):
        if seen == topic and retain and payload:
            agent = validated_json(topic, payload)
            found.append((agent["cpuUsage"], agent["freeMemory"]))
    return found


def subscribes(sim: AgentSimulator) -> int:
    """Return how many subscribing state requests the bridge has sent."""
    return sim.requests.count("completeStateRequest+subscribe")


def test_an_agent_is_published_with_its_tags_and_load(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A connected agent gets `$agent/status` with its tags; its load follows; it is cleared when it disconnects."""
    with BridgeProcess(sim.directory, broker.port, *FAST), Watcher(broker.host, broker.port) as w:
        wait_for(lambda: document(w, HPC1) is not None, 5, "hpc1's status")
        agent = document(w, HPC1)
        assert agent is not None
        assert {k: v for k, v in agent.items() if k != "since"} == {
            "agent": "hpc1",
            "cpuUsage": None,
            "freeMemory": None,
            "tags": {"zone": "front"},
        }
        sim.connect_agent("hpc2")
        wait_for(lambda: document(w, HPC2) is not None, 2, "hpc2 appears at once")
        sim.disconnect_agent("hpc2")
        wait_for(lambda: HPC2 not in w.snapshot(), 2, "hpc2 cleared at once")
        assert_converges(sim, broker)


def test_load_only_changes_go_out_once_per_interval_with_the_latest_values(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """Load changes within the interval are held back and published once, with the last values."""
    args = (*FAST, "--agent-status-interval", "3")
    with BridgeProcess(sim.directory, broker.port, *args), Watcher(broker.host, broker.port) as w:
        wait_for(lambda: document(w, HPC1) is not None, 5, "hpc1's status")
        for cpu in (10, 20, 30):
            sim.set_agent_load("hpc1", cpu, cpu * 1000)
        wait_for(lambda: loads(w, HPC1)[-1:] == [(30, 30_000)], 6, "the latest load")
        assert loads(w, HPC1)[1:] == [(30, 30_000)]


def test_with_interval_zero_every_load_change_is_published(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """With --agent-status-interval 0 each load report is published."""
    args = (*FAST, "--agent-status-interval", "0")
    with BridgeProcess(sim.directory, broker.port, *args), Watcher(broker.host, broker.port) as w:
        wait_for(lambda: document(w, HPC1) is not None, 5, "hpc1's status")
        for cpu in (10, 20, 30):
            sim.set_agent_load("hpc1", cpu, 1000)
            latest = [(cpu, 1000)]
            wait_for(lambda: loads(w, HPC1)[-1:] == latest, 2, f"cpu {cpu}")  # noqa: B023
        assert loads(w, HPC1)[1:] == [(10, 1000), (20, 1000), (30, 1000)]


def test_new_tags_are_published_at_once(sim: AgentSimulator, broker: Mosquitto) -> None:
    """An agent that comes back with other tags is published at once, whatever the interval."""
    args = (*FAST, "--agent-status-interval", "600")
    with BridgeProcess(sim.directory, broker.port, *args), Watcher(broker.host, broker.port) as w:
        wait_for(lambda: document(w, HPC1) is not None, 5, "hpc1's status")
        sim.set_agent_load("hpc1", 5, 5000)
        sim.connect_agent("hpc1", {"zone": "rear"})  # a second AgentHello replaces the tags

        def rear() -> bool:
            agent = document(w, HPC1)
            return agent is not None and agent["tags"] == {"zone": "rear"}

        wait_for(rear, 2, "the new tags")


def test_agents_gone_while_the_bridge_was_down_are_cleared_at_start(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A bridge that starts after an agent disconnected clears that agent's retained topic."""
    sim.connect_agent("hpc2", {"zone": "rear"})
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        assert bridge.signal(signal.SIGTERM) == 0
    sim.disconnect_agent("hpc2")
    sim.new_workload_instance()
    with BridgeProcess(sim.directory, broker.port, *FAST), Watcher(broker.host, broker.port) as w:
        wait_for(lambda: HPC2 not in w.snapshot(), 5, "hpc2 cleared")
        assert_converges(sim, broker)


def test_an_info_only_change_republishes_status_not_state_without_a_re_read(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A new additional info with the same state republishes `status` alone and asks Ankaios nothing."""
    sim.set_state("hpc1", "radio", RADIO, "PENDING", "PENDING_STARTING_FAILED", "Retry 1: exit 1")
    with BridgeProcess(sim.directory, broker.port, *FAST), Watcher(broker.host, broker.port) as w:
        assert_converges(sim, broker)
        before = subscribes(sim)
        start = len(w.messages)
        sim.set_state(
            "hpc1", "radio", RADIO, "PENDING", "PENDING_STARTING_FAILED", "Retry 2: exit 1"
        )
        assert_converges(sim, broker)
        radio = [topic for topic, _, _ in w.messages[start:] if "/radio/" in topic]
        assert radio == [f"ankaios/hpc1/radio/{RADIO}/status"]
        assert subscribes(sim) == before


RULES = [STATE_MASK, SUBSTATE_MASK, INFO_MASK, AGENTS_MASK]


@pytest.mark.parametrize(
    "granted",
    [
        RULES,
        [STATE_MASK, SUBSTATE_MASK],
        [STATE_MASK, SUBSTATE_MASK, INFO_MASK],
        [STATE_MASK, AGENTS_MASK],
        [STATE_MASK, INFO_MASK],
        [STATE_MASK],
    ],
)
def test_every_subset_of_allow_rules_gives_what_it_allows(
    tmp_path: Path, broker: Mosquitto, granted: list[str]
) -> None:
    """What the rules allow is published, each denied mask is named in one warning, and `masks` lists the granted ones."""
    with AgentSimulator(tmp_path / "ci", read_rules=tuple(granted)) as sim:
        sim.connect_agent("hpc1", {"zone": "front"})
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED", "exit 1")
        info = "exit 1" if INFO_MASK in granted else ""
        agents: AgentLoads = (
            {"hpc1": (None, None, {"zone": "front"})} if AGENTS_MASK in granted else {}
        )
        want = matches(
            {("hpc1", "nginx", NGINX): ("FAILED", "FAILED_EXEC_FAILED", info)}, agents=agents
        )
        with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
            with Watcher(broker.host, broker.port) as watcher:
                watcher.wait_tree(want)
                wait_for(lambda: document(watcher, INFO) is not None, 2, "the info")
                shown = document(watcher, INFO)
                assert shown is not None
                assert shown["masks"] == [mask for mask in RULES if mask in granted]
            log = bridge.log()
        for mask in RULES:
            warned = [line for line in log.splitlines() if "denied" in line and repr(mask) in line]
            assert len(warned) == (0 if mask in granted else 1), mask
        assert "Traceback" not in log


def test_info_counts_reconnects_and_repairs_after_a_broker_restart(sim: AgentSimulator) -> None:
    """After a broker that kept nothing, `$bridge/info` says one broker reconnect and counts the republished topics as repairs."""
    with Mosquitto(persistence=False) as broker:
        with BridgeProcess(sim.directory, broker.port, *FAST):
            with Watcher(broker.host, broker.port) as watcher:
                watcher.wait_tree(lambda tree: INFO in tree and HPC1 in tree)
                first = document(watcher, INFO)
            assert first is not None
            counters = first["counters"]
            assert isinstance(counters, dict)
            # nginx's state and status and hpc1's status filled the empty broker.
            assert (counters["repairs"], counters["brokerReconnects"]) == (3, 0)
            broker.restart()

            def counted() -> bool:
                with Watcher(broker.host, broker.port) as again:
                    shown = document(again, INFO)
                return shown is not None and shown["counters"]["brokerReconnects"] == 1  # type: ignore[index]

            wait_for(counted, 10, "brokerReconnects 1")
            with Watcher(broker.host, broker.port) as again:
                shown = document(again, INFO)
        assert shown is not None
        assert set(shown) == INFO_KEYS
        assert (shown["prefix"], shown["qos"], shown["instances"], shown["agents"]) == (
            "ankaios",
            1,
            1,
            1,
        )
        assert shown["started"] == first["started"]
        assert shown["counters"]["repairs"] == 6  # type: ignore[index]
