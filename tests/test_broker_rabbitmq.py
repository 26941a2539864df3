"""RabbitMQ 3.10: MQTT 3.1.1 only, and no retained messages for wildcard subscriptions.

The bridge connects with no protocol flag, says once what the broker lacks, and
keeps every topic it knows right for subscribers of exact topics. One node serves
the whole run; each test writes under its own prefix.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from bridge.simulator import AgentSimulator, instance_id
from tests.support.bridge import BridgeProcess
from tests.support.dashboard import run_command
from tests.support.expect import expected_tree, matches
from tests.support.logclient import LogRequester
from tests.support.rabbitmq import RabbitMq
from tests.support.retained import publish_as, read_tree, wait_retained
from tests.support.scene import FAST, NGINX, RADIO, MakeSim, reported
from tests.support.watchdog import DELETE, GET, WatchdogProcess, info, stop

LACK = "sends no retained messages to wildcard subscriptions"


def bridge(sim: AgentSimulator, node: RabbitMq, prefix: str) -> BridgeProcess:
    """Return the bridge for the node under `prefix` (not started)."""
    return BridgeProcess(sim.directory, node.port, *FAST, "--topic-prefix", prefix)


def converges(
    sim: AgentSimulator, node: RabbitMq, prefix: str, *extra: str, bridge: str = "online"
) -> dict[str, bytes]:
    """Wait until subscribers of the contract's exact topics (and `extra`) see what Ankaios reports."""
    instances, agents = reported(sim)
    ankaios = None if bridge == "online" else "connected"
    topics = [*expected_tree(instances, prefix, agents=agents), *extra]
    check = matches(instances, prefix, bridge, ankaios, agents)
    return wait_retained(lambda: read_tree(node.host, node.port, topics), check, 10)


def test_exact_subscribers_get_the_states_and_the_lack_is_said_once(
    sim: AgentSimulator, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """The snapshot, a change and a removal reach exact-topic subscribers; one warning; no retry."""
    gone = [
        f"{unique_prefix}/hpc2/radio/{RADIO}/state",
        f"{unique_prefix}/hpc2/radio/{RADIO}/status",
    ]
    with bridge(sim, rabbitmq_broker, unique_prefix) as running:
        converges(sim, rabbitmq_broker, unique_prefix)
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        converges(sim, rabbitmq_broker, unique_prefix)
        sim.remove("hpc2", "radio", RADIO)
        tree = converges(sim, rabbitmq_broker, unique_prefix, *gone)
    info = json.loads(tree[f"{unique_prefix}/$bridge/info"])
    assert (info["protocol"], info["brokerLacks"]) == ("3.1.1", ["retainedOnWildcard"])
    log = running.log()
    assert [line for line in log.splitlines() if "WARNING" in line and LACK in line] == [
        line for line in log.splitlines() if "WARNING" in line
    ]
    assert log.count(LACK) == 1
    assert log.count("connected to the broker") == 1


def test_a_foreign_write_on_an_exact_topic_is_repaired(
    sim: AgentSimulator, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """Live messages still reach the bridge's wildcard subscription: a wrong state is set right."""
    with bridge(sim, rabbitmq_broker, unique_prefix):
        converges(sim, rabbitmq_broker, unique_prefix)
        topic = f"{unique_prefix}/hpc1/nginx/{NGINX}/state"
        publish_as(rabbitmq_broker.host, rabbitmq_broker.port, "3.1.1", topic, b"FAILED")
        publish_as(rabbitmq_broker.host, rabbitmq_broker.port, "3.1.1", topic, b"x", retain=False)
        converges(sim, rabbitmq_broker, unique_prefix)


def test_an_instance_removed_while_down_cannot_be_found(
    sim: AgentSimulator, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """What the warning says: the next bridge cannot see, so cannot clear, a stale instance."""
    ghost = instance_id("ghost")
    stale = f"{unique_prefix}/hpc9/ghost/{ghost}/state"
    publish_as(rabbitmq_broker.host, rabbitmq_broker.port, "3.1.1", stale, b"RUNNING")
    with bridge(sim, rabbitmq_broker, unique_prefix) as running:
        converges(sim, rabbitmq_broker, unique_prefix)
        assert running.signal(signal.SIGTERM) == 0
    tree = read_tree(rabbitmq_broker.host, rabbitmq_broker.port, [stale])
    assert tree == {stale: b"RUNNING"}


def test_the_dashboard_says_why_and_the_health_check_works(
    sim: AgentSimulator, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """The dashboard ends with one line instead of an empty table; the health check reads its exact topic."""
    where = ["--mqtt-host", rabbitmq_broker.host, "--mqtt-port", str(rabbitmq_broker.port)]
    where += ["--topic-prefix", unique_prefix]
    with bridge(sim, rabbitmq_broker, unique_prefix):
        converges(sim, rabbitmq_broker, unique_prefix)
        shown = run_command("ankaios-mqtt-dashboard", "--once", *where)
        health = run_command("ankaios-mqtt-healthcheck", *where)
    assert (shown.returncode, shown.stdout) == (1, "")
    [line] = shown.stderr.splitlines()
    assert LACK in line
    assert f"{unique_prefix}/#" in line
    assert (health.returncode, health.stderr) == (0, "")


def test_the_will_marks_a_killed_bridge_offline(
    sim: AgentSimulator, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """SIGKILL leaves `offline` through the will, for a subscriber of the exact status topic."""
    with bridge(sim, rabbitmq_broker, unique_prefix) as running:
        converges(sim, rabbitmq_broker, unique_prefix)
        running.signal(signal.SIGKILL)
    converges(sim, rabbitmq_broker, unique_prefix, bridge="offline")


def test_a_logs_tail_reaches_the_requester(
    make_sim: MakeSim, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """Under RabbitMQ a logs request is accepted, its lines arrive on the instance's `logs` topic, then it ends."""
    sim = make_sim(log_rules=("nginx",))
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.print_lines("hpc1", "nginx", NGINX, "one", "two", "three")
    node = rabbitmq_broker
    with BridgeProcess(sim.directory, node.port, *FAST, "--topic-prefix", unique_prefix, "--logs"):
        converges(sim, node, unique_prefix)
        with LogRequester(node.host, node.port, "3.1.1", prefix=unique_prefix) as requester:
            requester.ask(workload="nginx", tail=2, correlation="r")
            replies = requester.wait_replies(2, timeout=10)
            assert requester.wait_lines(2) == ["two", "three"]
    assert [(reply["event"], reply["correlation"]) for reply in replies] == [
        ("accepted", "r"),
        ("ended", "r"),
    ]
    assert requester.lines(f"{unique_prefix}/hpc1/nginx/{NGINX}/logs") == ["two", "three"]


def test_the_watchdog_recreates_a_stopped_bridge(
    tmp_path: Path, rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """Under RabbitMQ the watchdog reads the retained status and stop reason on exact topics and re-creates the workload."""
    node = rabbitmq_broker
    with WatchdogProcess(tmp_path, node.host, node.port, "--topic-prefix", unique_prefix) as dog:
        dog.say(b"online", info(), prefix=unique_prefix)
        dog.say(b"offline", info(stop("2026-12-07T17:00:00.000Z")), prefix=unique_prefix)
        assert dog.wait_calls(3, timeout=15) == [DELETE, GET, ["apply", str(dog.manifest)]]
