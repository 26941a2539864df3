"""The simulator against the real ankaios-sdk 1.0.1 client: handshake, requests, events, faults."""

from __future__ import annotations

import logging
from queue import Empty

import pytest
from ankaios_sdk import (
    Ankaios,
    AnkaiosResponseError,
    ConnectionClosedException,
    ControlInterfaceException,
)
from ankaios_sdk._components import control_interface as sdk_control_interface

from bridge.simulator import AgentSimulator, instance_id
from tests.support.scene import MakeSim
from tests.support.simulator import TIMEOUT, close, connect, fields, next_event, sdk_client

ID = instance_id("nginx-config-v1")
STATE_MASK = "workloadStates.*.*.*.state"


def _path(agent: str, workload: str, iid: str, leaf: str) -> str:
    return f"workloadStates.{agent}.{workload}.{iid}.{leaf}"


# An empty simulated agent whose directory the SDK uses.
pytestmark = pytest.mark.sim(sdk=True)


@pytest.fixture
def short_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let a failing SDK constructor give up after 0.4 s instead of 5 s."""
    monkeypatch.setattr(Ankaios, "DEFAULT_TIMEOUT", 0.4)


def test_fifos_exist_with_mode_0600_before_any_client(sim: AgentSimulator) -> None:
    """Both FIFOs are created owner-only, so that the SDK's existence checks pass."""
    for name in ("input", "output"):
        mode = (sim.directory / name).stat().st_mode
        assert oct(mode & 0o777) == "0o600"
    assert not sim.connected


def test_handshake_is_accepted(sim: AgentSimulator) -> None:
    """The SDK constructor returns connected after one Hello."""
    with sdk_client(sim) as client:
        assert client._control_interface.connected
        assert sim.connected
        assert sim.hello_count == 1


@pytest.mark.usefixtures("short_connect")
def test_second_hello_on_the_same_instance_is_ignored_until_a_restart(sim: AgentSimulator) -> None:
    """A new client in the same workload instance times out; after restart_agent it connects."""
    with sdk_client(sim):
        pass
    hellos = sim.hello_count
    with pytest.raises(ConnectionClosedException, match="timed out"):
        connect(sim)
    assert sim.hello_count > hellos
    sim.restart_agent(0.05)
    with sdk_client(sim) as client:
        assert client._control_interface.connected


@pytest.mark.usefixtures("short_connect")
def test_incompatible_version_is_refused_with_the_reason(
    sim: AgentSimulator, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A 0.7 client gets ConnectionClosed naming the version; the SDK only logs the reason."""
    monkeypatch.setattr(sdk_control_interface, "ANKAIOS_VERSION", "0.7.0")
    with caplog.at_level(logging.ERROR), pytest.raises(ConnectionClosedException):
        connect(sim)
    assert "Unsupported protocol version '0.7.0'. Currently supported '1'" in caplog.text
    assert not sim.connected


@pytest.mark.usefixtures("short_connect")
def test_ignore_hello_leaves_the_client_unconnected(sim: AgentSimulator) -> None:
    """With ignore_hello the Hello is counted but never answered."""
    sim.ignore_hello = True
    with pytest.raises(ConnectionClosedException, match="timed out"):
        connect(sim)
    assert sim.hello_count >= 1
    assert not sim.connected


def test_snapshot_has_no_altered_fields_and_the_state(sim: AgentSimulator) -> None:
    """register_event gets the filtered state as an entry with empty field lists."""
    sim.set_state("agent_A", "nginx", ID, state="PENDING", substate="PENDING_STARTING")
    sim.set_state("", "ota", ID, state="NOT_SCHEDULED", substate="NOT_SCHEDULED")
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        entry = next_event(queue)
        assert fields(entry) == ([], [], [])
        states = {
            (s.workload_instance_name.agent_name, s.workload_instance_name.workload_name): (
                str(s.execution_state.state),
                str(s.execution_state.substate),
            )
            for s in entry.complete_state.get_workload_states().get_as_list()
        }
        assert states == {
            ("agent_A", "nginx"): ("PENDING", "PENDING_STARTING"),
            ("", "ota"): ("NOT_SCHEDULED", "NOT_SCHEDULED"),
        }
        assert sim.subscriptions == {queue._request_id: (STATE_MASK,)}
        assert sim.requests == ["completeStateRequest+subscribe"]


def test_state_mask_events_follow_the_reference_table(sim: AgentSimulator) -> None:
    """Added, sub-state-only, updated, info-only and removed changes give the tabled paths."""
    state = _path("agent_A", "nginx", ID, "state")
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_INITIAL")
        added = next_event(queue)
        assert fields(added) == ([state], [], [])
        only = added.complete_state.get_workload_states().get_as_list()
        assert [str(s.execution_state.substate) for s in only] == ["PENDING_INITIAL"]
        # Neither a sub-state-only nor an info-only change raises an event: the next
        # event the client sees is the one of the change after them.
        sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING", "Triggered")
        sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING", "other info")
        sim.set_state("agent_A", "nginx", ID, "RUNNING", "RUNNING_OK")
        running = next_event(queue)
        assert fields(running) == ([], [state], [])
        assert running.complete_state.get_workload_states().get_as_list()[
            0
        ].execution_state.to_dict() == {
            "state": "RUNNING",
            "substate": "RUNNING_OK",
            "additional_info": "",
        }
        sim.set_state("agent_A", "nginx", ID, "STOPPING", "STOPPING_REQUESTED_AT_RUNTIME")
        assert fields(next_event(queue)) == ([], [state], [])
        sim.remove("agent_A", "nginx", ID)
        removed = next_event(queue)
        assert fields(removed) == ([], [], [state])
        assert removed.complete_state.get_workload_states().get_as_list() == []


def test_coarse_mask_lifecycle_matches_the_upstream_system_test(sim: AgentSimulator) -> None:
    """Mask workloadStates gives test_events.robot's field lists over the SDK."""
    sleepy = instance_id("sleepy")
    sim.set_state("agent_A", "controller", ID)

    def leaf(name: str) -> str:
        return _path("agent_A", "sleepy", sleepy, name)

    steps: list[tuple[tuple[str, str, str | None], tuple[list[str], ...]]] = [
        (("PENDING", "PENDING_INITIAL", None), (["workloadStates.agent_A.sleepy"], [], [])),
        (
            ("PENDING", "PENDING_STARTING", "Triggered at runtime."),
            ([], [leaf("additionalInfo"), leaf("subState")], []),
        ),
        (
            ("RUNNING", "RUNNING_OK", None),
            ([], [leaf("additionalInfo"), leaf("state"), leaf("subState")], []),
        ),
        (
            ("STOPPING", "STOPPING_REQUESTED_AT_RUNTIME", None),
            ([], [leaf("state"), leaf("subState")], []),
        ),
    ]
    with sdk_client(sim) as client:
        queue = client.register_event(["workloadStates"])
        next_event(queue)
        for (state, substate, info), expected in steps:
            sim.set_state("agent_A", "sleepy", sleepy, state, substate, info)
            assert fields(next_event(queue)) == expected
        sim.remove("agent_A", "sleepy", sleepy)
        assert fields(next_event(queue)) == ([], [], ["workloadStates.agent_A.sleepy"])


def test_agent_lifecycle_matches_the_upstream_system_test(sim: AgentSimulator) -> None:
    """Mask agents.agent_B: added agent, added status, updated load, removed agent."""
    with sdk_client(sim) as client:
        queue = client.register_event(["agents.agent_B"])
        next_event(queue)
        sim.connect_agent("agent_B")
        assert fields(next_event(queue)) == (["agents.agent_B"], [], [])
        sim.set_agent_load("agent_B", 12, 4096)
        status = next_event(queue)
        assert fields(status) == (["agents.agent_B.status"], [], [])
        assert status.complete_state.get_agents()["agent_B"].status == {
            "cpu_usage": 12,
            "free_memory": 4096,
        }
        sim.set_agent_load("agent_B", 13, 4096)
        assert fields(next_event(queue)) == ([], ["agents.agent_B.status.cpuUsage"], [])
        sim.disconnect_agent("agent_B")
        assert fields(next_event(queue)) == ([], [], ["agents.agent_B"])


def test_twin_rule_sends_both_enum_fields_for_a_substate_event(sim: AgentSimulator) -> None:
    """A sub-state-only change seen through the subState mask carries the state too."""
    sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING")
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK, "workloadStates.*.*.*.subState"])
        next_event(queue)
        sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING_FAILED", "no image")
        event = next_event(queue)
        assert fields(event) == ([], [_path("agent_A", "nginx", ID, "subState")], [])
        execution = event.complete_state.get_workload_states().get_as_list()[0].execution_state
        assert (str(execution.state), str(execution.substate)) == (
            "PENDING",
            "PENDING_STARTING_FAILED",
        )
        assert execution.additional_info == ""  # additionalInfo is not a twin


def test_change_block_is_one_event_for_a_config_update(sim: AgentSimulator) -> None:
    """Several mutations inside change() reach a subscriber as one event."""
    new = instance_id("nginx-config-v2")
    sim.set_state("agent_A", "nginx", ID)
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        with sim.change():
            sim.set_state("agent_A", "nginx", new, "PENDING", "PENDING_INITIAL")
            sim.set_state("agent_A", "nginx", ID, "STOPPING", "STOPPING_REQUESTED_AT_RUNTIME")
        event = next_event(queue)
        assert fields(event) == (
            [_path("agent_A", "nginx", new, "state")],
            [_path("agent_A", "nginx", ID, "state")],
            [],
        )
        assert len(event.complete_state.get_workload_states().get_as_list()) == 2


def test_access_denied_for_masks_outside_the_rules(make_sim: MakeSim) -> None:
    """A mask no allow rule covers, or a deny rule hits, gets 'Access denied'."""
    sim = make_sim(read_rules=("workloadStates",), deny_rules=("workloadStates.agent_B",), sdk=True)
    with sdk_client(sim) as client:
        with pytest.raises(AnkaiosResponseError, match="Access denied"):
            client.register_event(["agents"])
        with pytest.raises(AnkaiosResponseError, match="Access denied"):
            client.get_state(["workloadStates.agent_B"])
        with pytest.raises(AnkaiosResponseError, match="Access denied"):
            client.set_agent_tags("agent_A", {"k": "v"})
        client.register_event([STATE_MASK])
        assert list(sim.subscriptions.values()) == [(STATE_MASK,)]


def test_events_cancel_is_accepted_and_ends_the_subscription(sim: AgentSimulator) -> None:
    """unregister_event gets eventsCancelAccepted and no more events flow."""
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        client.unregister_event(queue)
        assert sim.subscriptions == {}
        assert sim.requests == ["completeStateRequest+subscribe", "eventsCancelRequest"]


def test_dropped_subscriptions_fall_silent(sim: AgentSimulator) -> None:
    """After drop_subscriptions the client gets no event and nothing tells it."""
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        sim.drop_subscriptions()
        sim.set_state("agent_A", "nginx", ID)
        with pytest.raises(Empty):
            next_event(queue, timeout=0.3)
        assert client.get_state([STATE_MASK]).get_workload_states().get_as_list() != []


def test_owner_agent_loss_drops_subscriptions_and_stalls_requests(make_sim: MakeSim) -> None:
    """While the client's own agent is gone its subscriptions vanish and requests stall; its return swaps the task, which the SDK never re-handshakes."""
    sim = make_sim(owner_agent="agent_A", sdk=True)
    with sdk_client(sim) as client:
        sim.connect_agent("agent_A")
        queue = client.register_event(["agents"])
        next_event(queue)
        sim.disconnect_agent("agent_A")
        assert sim.subscriptions == {}
        assert not sim.server_reachable
        with pytest.raises(TimeoutError):
            client.get_state(["agents"], timeout=0.3)
        sim.connect_agent("agent_A")
        sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
        assert sim.server_reachable
        assert sim.subscriptions == {}  # the stalled request had no subscription
        assert not (sim.directory / "output").exists()
        # No EOF reaches the SDK, so it sends no Hello: its next request is the
        # new task's first frame, and the stalled answer stays queued for ever.
        with pytest.raises(ConnectionClosedException, match="Initial Hello missing!"):
            client.get_state(["agents"], timeout=TIMEOUT)
        assert sim.frames[-1] == (2, "completeStateRequest")
        with pytest.raises(Empty):
            queue.get_nowait()


def test_connection_closed_is_terminal_for_the_client(sim: AgentSimulator) -> None:
    """close_connection ends the instance; the SDK refuses further requests."""
    client = connect(sim)
    try:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        sim.close_connection("bye")
        sim.wait_for(
            lambda _: str(client._control_interface._state) == "CONNECTION_CLOSED", TIMEOUT
        )
        with pytest.raises(ConnectionClosedException, match="connection closed"):
            client.get_state([STATE_MASK], timeout=0.5)
        assert not sim.connected
    finally:
        close(client, sim)


def test_agent_restart_reconnects_but_old_subscriptions_are_dead(sim: AgentSimulator) -> None:
    """After restart_agent the SDK handshakes again by itself; the client must re-subscribe."""
    with sdk_client(sim) as client:
        queue = client.register_event([STATE_MASK])
        next_event(queue)
        sim.restart_agent(0.05)
        assert sim.subscriptions == {}
        sim.wait_for(lambda s: s.connected, TIMEOUT)
        sim.wait_for(lambda _: client._control_interface.connected, TIMEOUT)
        sim.set_state("agent_A", "nginx", ID)
        fresh = client.register_event([STATE_MASK])
        assert len(next_event(fresh).complete_state.get_workload_states().get_as_list()) == 1
        with pytest.raises(Empty):
            queue.get_nowait()


def test_requests_while_not_connected_raise_in_the_sdk(sim: AgentSimulator) -> None:
    """During an agent restart the SDK reports 'not connected' instead of writing."""
    with sdk_client(sim) as client:
        sim.restart_agent(0.05)
        sim.wait_for(lambda _: not client._control_interface.connected, TIMEOUT)
        with pytest.raises((ControlInterfaceException, TimeoutError)):
            client.get_state([STATE_MASK], timeout=0.2)
        sim.wait_for(lambda _: client._control_interface.connected, TIMEOUT)
