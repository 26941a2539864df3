"""The edges of Ankaios 1.0.1: a fresh read after a silent gap, stop reasons on MQTT, the warning."""

from __future__ import annotations

import json
import signal

import pytest

from bridge.ankaios import stops
from bridge.core.inputs import Changes, Snapshot
from bridge.simulator import AgentSimulator
from bridge.simulator import session as simulated_session
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.dashboard import dashboard_once, run_command
from tests.support.mqtt import Watcher, read_retained, wait_for
from tests.support.scene import FAST, NGINX, RADIO, assert_converges, stop_reason
from tests.support.source import Collector

LINK = "ankaios/$bridge/ankaios"
STATUS = "ankaios/$bridge/status"
INFO = "ankaios/$bridge/info"
QUICK = ("--request-timeout", "0.5", "--probe-interval", "0.5")
NGINX_STATE = f"ankaios/hpc1/nginx/{NGINX}/state"
RADIO_STATE = f"ankaios/hpc2/radio/{RADIO}/state"


def link_is(watcher: Watcher, value: bytes) -> bool:
    """Return whether the watched `$bridge/ankaios` holds `value`."""
    return watcher.snapshot().get(LINK) == value


def errors(bridge: BridgeProcess) -> list[str]:
    """Return the bridge's ERROR lines."""
    return [line for line in bridge.log().splitlines() if " ERROR " in line]


def test_late_answers_after_a_silent_gap_converge_before_connected(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """After a hung server answers late, `connected` comes only after the changes made during the gap are published."""
    with (
        BridgeProcess(sim.directory, broker.port, *FAST, *QUICK) as bridge,
        Watcher(broker.host, broker.port) as watcher,
    ):
        assert_converges(sim, broker)
        sim.hang_server()
        wait_for(lambda: link_is(watcher, b"disconnected"), 3, "disconnected during the gap")
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        sim.remove("hpc2", "radio", RADIO)
        start = len(watcher.messages)
        # The late answers trickle in (the agent writes each message on its own): the bridge
        # reads the first before the delayed events behind it.
        sim.chunk_size, sim.chunk_pause = 16, 0.02
        sim.resume_server()
        wait_for(lambda: link_is(watcher, b"connected"), 3, "connected after the gap")
        after = [(topic, payload) for topic, payload, _ in watcher.messages[start:]]
        connected = after.index((LINK, b"connected"))
        assert (NGINX_STATE, b"FAILED") in after[:connected]
        assert (RADIO_STATE, b"") in after[:connected]
        assert_converges(sim, broker, timeout=0.5)
    assert "reading the full state before 'connected'" in bridge.log()


def test_a_refused_handshake_says_why_and_a_clean_start_clears_it(
    sim: AgentSimulator, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handshake the agent refuses (another protocol version) leaves `stopped` with recreate false; the next clean start removes it."""
    monkeypatch.setattr(simulated_session, "SUPPORTED_MAJOR", 2)
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert bridge.wait(5) == 1
    # Nothing was read: only the bridge's own topics, in their final words.
    tree = read_retained(broker.host, broker.port)
    assert (tree.pop(STATUS), tree.pop(LINK), set(tree)) == (b"offline", b"disconnected", {INFO})
    (line,) = errors(bridge)
    assert "refused the connection: Unsupported protocol version" in line
    stopped = stop_reason(broker)
    assert str(stopped["reason"]).startswith(
        "the Ankaios agent refused the connection: Unsupported protocol version"
    )
    assert "ankaios-sdk" in str(stopped["advice"])
    assert stopped["recreate"] is False
    shown = run_command(
        "ankaios-mqtt-dashboard", "--once", "--format", "json", "--mqtt-port", str(broker.port)
    )
    assert json.loads(shown.stdout)["bridge"]["info"]["stopped"] == stopped
    text = dashboard_once(broker.host, broker.port).stdout.splitlines()
    assert f"STOPPED at {stopped['at']}: {stopped['reason']}; {stopped['advice']}" in text
    monkeypatch.setattr(simulated_session, "SUPPORTED_MAJOR", 1)
    sim.new_workload_instance()
    with BridgeProcess(sim.directory, broker.port, *FAST):
        assert_converges(sim, broker)
        assert stop_reason(broker) == {}


def test_one_replacement_warns_once_in_the_log_and_for_as_long_as_it_runs_in_info(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """After the first server reconnect the bridge says once in its log, and in `warnings`, that the next one ends its control interface."""
    with (
        BridgeProcess(sim.directory, broker.port, *FAST) as bridge,
        Watcher(broker.host, broker.port) as watcher,
    ):
        assert_converges(sim, broker)
        assert json.loads(watcher.snapshot()[INFO])["warnings"] == []
        sim.replace_control_interface()
        wait_for(
            lambda: (
                json.loads(watcher.snapshot().get(INFO, b"{}")).get("warnings")
                == [stops.ONE_RECONNECT_LEFT]
            ),
            3,
            "the warning in $bridge/info",
        )
        assert_converges(sim, broker)
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        assert_converges(sim, broker)
        document = json.loads(watcher.snapshot()[INFO])
        assert document["warnings"] == [stops.ONE_RECONNECT_LEFT]
    assert bridge.log().count(stops.ONE_RECONNECT_LEFT) == 1
    assert "ank delete workload <name>, then ank apply <manifest>" in stops.ONE_RECONNECT_LEFT


def test_a_restart_by_policy_is_never_accepted_and_says_so_on_mqtt(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A bridge re-run by its restart policy keeps the old task, whose Hello goes unanswered: it stops with recreate true."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as first:
        assert_converges(sim, broker)
        first.signal(signal.SIGKILL)
    assert sim.restart_by_policy()
    with BridgeProcess(sim.directory, broker.port, *FAST, "--handshake-timeout", "0.5") as rerun:
        assert rerun.wait(5) == 1
        assert_converges(sim, broker, bridge="offline", stopped=True)
    stopped = stop_reason(broker)
    assert "did not answer the handshake within 0.5 s" in str(stopped["reason"])
    assert (stopped["advice"], stopped["recreate"]) == (stops.RECREATE, True)


def test_a_restart_by_policy_after_a_resume_has_no_mount_and_says_so(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """After a server reconnect a container re-run by its policy gets no control interface: the bridge says so with recreate true."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as first:
        assert_converges(sim, broker)
        sim.replace_control_interface()
        assert_converges(sim, broker)
        first.signal(signal.SIGKILL)
    assert not sim.restart_by_policy()
    assert sim.restart_by_policy(failed=False)  # `podman start` keeps the mount
    unmounted = sim.directory.parent / "not-mounted"
    with BridgeProcess(unmounted, broker.port, *FAST) as rerun:
        assert rerun.wait(5) == 1
    stopped = stop_reason(broker)
    assert str(stopped["reason"]).startswith(f"no Ankaios control interface at {unmounted}")
    assert "restart policy" in str(stopped["reason"])
    assert stopped["recreate"] is True


def failed_seen(items: list[object]) -> bool:
    """Return whether any state input among `items` says nginx FAILED."""
    for item in items:
        if isinstance(item, Changes) and any(v.state == "FAILED" for v in item.upserts.values()):
            return True
        if isinstance(item, Snapshot) and any(v.state == "FAILED" for v in item.instances.values()):
            return True
    return False


def test_a_subscription_queued_in_a_hung_server_gets_the_later_changes(
    sim: AgentSimulator,
) -> None:
    """A resync the hung server answers late still gets the events of changes made after it (arrival order)."""
    with Collector(
        sim.directory, resync_interval=1.0, request_timeout=30.0, probe_interval=100.0
    ) as collector:
        collector.source.start()
        collector.wait_snapshots(1)
        sim.hang_server()
        # The resync (a subscribing request) goes into the hung server's backlog.
        wait_for(lambda: sum(k.endswith("+subscribe") for k in sim.requests) >= 6, 3, "resync")
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        start = len(collector.items)
        sim.resume_server()
        wait_for(lambda: failed_seen(collector.items[start:]), 0.8, "FAILED before the next resync")
