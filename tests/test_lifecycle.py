"""What a real Ankaios agent does to the control interface; the bridge survives it in-process.

Each behaviour is modelled by the simulator after upstream Ankaios 1.0.1 (see
bridge/simulator): agent death with either close order, the swap of the FIFOs on
every reconnect to the server, a server outage, the directory removed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

import pytest

from bridge.ankaios.stops import RECREATE
from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.dashboard import dashboard_once
from tests.support.expect import SUBSCRIBED
from tests.support.mqtt import Watcher, publish, wait_for
from tests.support.scene import FAST, MAPS, NGINX, RADIO, assert_converges, stop_reason
from tests.support.source import Collector

LINK = "ankaios/$bridge/ankaios"
# Quick liveness settings: a silent server is noticed within about 2 s.
QUICK = ("--request-timeout", "1", "--probe-interval", "1")


def link_values(watcher: Watcher) -> list[bytes]:
    """Return every `$bridge/ankaios` payload the watcher received, in order."""
    return [payload for topic, payload, _ in watcher.messages if topic == LINK]


def errors(bridge: BridgeProcess) -> list[str]:
    """Return the bridge's ERROR lines."""
    return [line for line in bridge.log().splitlines() if " ERROR " in line]


def alive(bridge: BridgeProcess) -> bool:
    """Return whether the bridge process still runs."""
    return bridge.process is not None and bridge.process.poll() is None


def subscribes(sim: AgentSimulator) -> int:
    """Return how many subscribing state requests the agent's tasks received."""
    return sum(kind == "completeStateRequest+subscribe" for _, kind in sim.frames)


def in_background(action: Callable[[], None]) -> threading.Thread:
    """Run a blocking simulator fault (it lasts its modelled time) beside the test."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("gap", [0.0, 0.2])
@pytest.mark.parametrize("first", ["reader", "writer"])
def test_agent_death_in_either_close_order(
    sim: AgentSimulator, broker: Mosquitto, first: Literal["reader", "writer"], gap: float
) -> None:
    """An agent that dies (its FIFO ends closing in either order, together or apart) and is back 1 s later leaves the bridge running and the tree converged."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        with Watcher(broker.host, broker.port) as watcher:
            restart = in_background(lambda: sim.restart_agent(1.0, first=first, gap=gap))
            wait_for(lambda: watcher.tree.get(LINK) == b"disconnected", 2, "disconnected")
            sim.remove("hpc1", "nginx", NGINX)
            sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
            restart.join(5)
            assert_converges(sim, broker, timeout=2)
            # The watcher is a subscriber of its own: it may see the last publish later.
            wait_for(lambda: link_values(watcher)[-1:] == [b"connected"], 2, "connected seen")
        assert link_values(watcher) == [b"connected", b"disconnected", b"connected"]
        assert alive(bridge)
        assert "reconnected to the Ankaios agent" in bridge.log()
        assert "Traceback" not in bridge.log()


# The bridge's Ankaios timers (5 s by default) a tenth as long: an outage of 4.5 s then
# outlasts each of them nine times, as 45 s does with the defaults.
TENTH_TIMERS = ("--handshake-timeout", "0.5", "--request-timeout", "0.5", "--probe-interval", "0.5")


def agent_away(sim: AgentSimulator, broker: Mosquitto, away: float, *timers: str) -> None:
    """Take the agent away for `away` s (restarting, its server unreachable) while workloads change, and check the bridge waited."""
    with BridgeProcess(sim.directory, broker.port, *FAST, *timers) as bridge:
        assert_converges(sim, broker)
        with Watcher(broker.host, broker.port) as watcher:
            restart = in_background(lambda: sim.restart_agent(away))
            wait_for(lambda: watcher.tree.get(LINK) == b"disconnected", 2, "disconnected")
            sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
            sim.remove("hpc2", "radio", RADIO)
            restart.join(away + 15)
            assert not restart.is_alive()
            assert alive(bridge)
            assert watcher.tree.get(LINK) == b"disconnected"
            wait_for(lambda: watcher.tree.get(LINK) == b"connected", 2, "connected again")
            assert_converges(sim, broker)
        # One line for the outage, not one per retry.
        assert bridge.log().count("lost the Ankaios agent") == 1
        assert "waiting for the Ankaios agent" not in bridge.log()


def test_agent_away_nine_times_the_bridges_timeouts(sim: AgentSimulator, broker: Mosquitto) -> None:
    """An agent away for nine times every Ankaios timeout of the bridge (4.5 s against 0.5 s timers) is waited for: the bridge stays up, says disconnected, and is connected within 2 s of the agent's return."""
    agent_away(sim, broker, 4.5, *TENTH_TIMERS)


@pytest.mark.slow
def test_agent_away_for_45_seconds(sim: AgentSimulator, broker: Mosquitto) -> None:
    """An agent away for 45 s (restarting, its server unreachable) is waited for with the default timers: the bridge stays up, says disconnected, and is connected within 2 s of the agent's return."""
    agent_away(sim, broker, 45.0)


def test_bridge_started_while_the_agent_is_away_waits_for_it(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A bridge that starts while the agent is away waits for it and then syncs."""
    sim.stop_agent()
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        wait_for(lambda: "waiting for the Ankaios agent" in bridge.log(), 5, "the waiting line")
        sim.start_agent()
        assert_converges(sim, broker, timeout=3)
        assert alive(bridge)


@pytest.mark.parametrize("overlap", [0.05, 0.6])
def test_server_reconnect_swaps_the_control_interface(
    sim: AgentSimulator, broker: Mosquitto, overlap: float
) -> None:
    """When the agent reconnects to its server and swaps the FIFOs, the bridge handshakes again on the same descriptors before any request, and a change arrives within 1 s (2 s when the old task swallowed the first Hello)."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        sim.replace_control_interface(overlap=overlap)
        assert not sim.directory.exists()
        sim.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        assert_converges(sim, broker, timeout=1.0 if overlap < 0.1 else 2.0)
        new_task = max(task for task, _ in sim.frames)
        kinds = [kind for task, kind in sim.frames if task == new_task]
        # No request reached the new task before a Hello (it would have closed).
        assert kinds[0] == "hello"
        sim.wait_for(lambda s: sorted(s.subscriptions.values()) == SUBSCRIBED, 2)
        assert alive(bridge)
        assert "replaced the control interface" in bridge.log()


def test_requests_unanswered_while_the_server_is_away(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """While the agent cannot reach its server for five resync intervals (ten probe intervals) the bridge says disconnected within the timeout plus a probe interval; when it is back, one subscription per topic is left, it says connected and the tree converges."""
    # QUICK's timers halved: 0.5 s request timeout and probe interval, a resync every second.
    halved = ("--request-timeout", "0.5", "--probe-interval", "0.5", "--resync-interval", "1")
    with BridgeProcess(sim.directory, broker.port, *FAST, *halved):
        assert_converges(sim, broker)
        with Watcher(broker.host, broker.port) as watcher:
            sim.cut_server()
            cut = time.monotonic()
            # Within the timeout plus a probe interval (1 s), with 1 s to spare for a busy machine.
            wait_for(lambda: watcher.tree.get(LINK) == b"disconnected", 2, "disconnected")
            shown = dashboard_once(broker.host, broker.port)
            assert "STALE since" in shown.stdout
            assert "bridge disconnected from Ankaios" in shown.stdout
            sim.set_state("hpc2", "radio", RADIO, "FAILED", "FAILED_EXEC_FAILED")
            sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
            # The outage lasts 5 s: its length is the fault, not a wait for a condition.
            threading.Event().wait(max(0.0, cut + 5 - time.monotonic()))
            assert watcher.tree.get(LINK) == b"disconnected"
            sim.restore_server()
            wait_for(lambda: watcher.tree.get(LINK) == b"connected", 2, "connected again")
            assert_converges(sim, broker)
        sim.wait_for(lambda s: sorted(s.subscriptions.values()) == SUBSCRIBED, 2)


def test_subscription_held_back_by_a_server_outage_is_cancelled(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A bridge that subscribed while the agent's server was away cancels that subscription when the agent answers it late, after the swap: one subscription per topic is left."""
    sim.cut_server()
    with BridgeProcess(sim.directory, broker.port, *FAST, *QUICK) as bridge:
        wait_for(
            lambda: subscribes(sim) == len(SUBSCRIBED), 5, "the first subscriptions, held back"
        )
        sim.restore_server()
        assert_converges(sim, broker, timeout=3)
        sim.wait_for(lambda s: sorted(s.subscriptions.values()) == SUBSCRIBED, 2)
        assert [kind for _, kind in sim.frames].count("eventsCancelRequest") == len(SUBSCRIBED)
        assert alive(bridge)


def test_removed_directory_ends_the_bridge_with_one_line(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A second server reconnect leaves the FIFO paths gone: the bridge says why on MQTT (re-create the workload), then offline, and exits 1 within 2 s."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        sim.replace_control_interface()
        assert_converges(sim, broker)
        sim.replace_control_interface()
        assert bridge.wait(2) == 1
        assert_converges(sim, broker, bridge="offline", stopped=True)
        lines = errors(bridge)
    assert len(lines) == 1
    assert "is gone" in lines[0]
    assert "ank delete workload" in lines[0]
    stopped = stop_reason(broker)
    assert str(stopped["reason"]).startswith(
        f"the Ankaios control interface at {sim.directory} is gone"
    )
    assert (stopped["advice"], stopped["recreate"]) == (RECREATE, True)


def test_connection_closed_read_with_the_agent_gone_keeps_its_reason(
    sim: AgentSimulator,
) -> None:
    """A ConnectionClosed that arrives in the same wake-up as the closed FIFO ends is reported with its reason."""
    gate = threading.Event()
    with Collector(sim.directory, hold=gate) as collector:
        collector.source.start()
        wait_for(lambda: collector.held, 2, "the snapshot held in the sink")
        # While the reader thread is busy, the frame and the closed ends both land.
        sim.close_connection("workload deleted")
        gate.set()
        wait_for(lambda: bool(collector.failures()), 2, "the failure")
    assert "workload deleted" in collector.failures()[0].stop.line()


def test_stale_connected_of_a_killed_bridge_is_corrected_before_the_agent_answers(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A `connected` left by a killed bridge (its will covers only `status`) is turned to `disconnected` while the new bridge waits for the agent."""
    publish(broker.host, broker.port, LINK, b"connected")
    sim.stop_agent()
    with (
        BridgeProcess(sim.directory, broker.port, *FAST),
        Watcher(broker.host, broker.port) as watcher,
    ):
        wait_for(lambda: watcher.tree.get(LINK) == b"disconnected", 3, "disconnected")
        sim.start_agent()
        assert_converges(sim, broker, timeout=3)


def test_fifos_replaced_by_regular_files_end_the_bridge(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """Regular files where the FIFOs were end the bridge with one line instead of a spin."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        sim.stop_agent()
        for name in ("input", "output"):
            (sim.directory / name).unlink()
            (sim.directory / name).write_bytes(b"")
        assert bridge.wait(3) == 1
        lines = errors(bridge)
    assert len(lines) == 1
    assert "not a FIFO" in lines[0]
