"""Agents over real FIFOs as Ankaios v1.0.1 serves them: tags, load reports, AgentGone, access."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import AgentSimulator, instance_id
from tests.support.simulator import (
    TIMEOUT,
    RawClient,
    handshaken,
    hello,
    next_raw_event,
    state_request,
    subscribe,
)

ID = instance_id("nginx-config-v1")
AGENT_MASKS = ["agents.*", "agents"]
Paths = tuple[list[str], list[str], list[str]]


# An empty simulated agent that allows reading everything.
pytestmark = pytest.mark.sim()


@pytest.fixture
def client(sim: AgentSimulator) -> Iterator[RawClient]:
    """A raw client that has completed the handshake."""
    with handshaken(sim.directory) as raw:
        yield raw


def _agent(state: _ank_base.CompleteState, name: str) -> _ank_base.AgentAttributes:
    assert list(state.agents.agents) == [name]
    return state.agents.agents[name]


@pytest.mark.parametrize("mask", AGENT_MASKS)
def test_connect_without_tags_adds_the_bare_agent(
    client: RawClient, sim: AgentSimulator, mask: str
) -> None:
    """An AgentHello without tags is added as agents.<agent> with neither status nor tags."""
    assert not subscribe(client, "s", mask).agents.agents
    sim.connect_agent("agent_B")
    paths, state = next_raw_event(client, "s")
    assert paths == (["agents.agent_B"], [], [])
    agent = _agent(state, "agent_B")
    assert not agent.HasField("status")
    assert not agent.HasField("tags")
    assert not state.HasField("workloadStates")


@pytest.mark.parametrize("mask", AGENT_MASKS)
def test_connect_with_tags_adds_the_agent_with_its_tags(
    client: RawClient, sim: AgentSimulator, mask: str
) -> None:
    """The AgentHello's tags arrive with the added agent; the first difference is the agent."""
    subscribe(client, "s", mask)
    sim.connect_agent("agent_B", {"zone": "front", "cpu": "arm64"})
    paths, state = next_raw_event(client, "s")
    assert paths == (["agents.agent_B"], [], [])
    agent = _agent(state, "agent_B")
    assert dict(agent.tags.tags) == {"zone": "front", "cpu": "arm64"}
    assert not agent.HasField("status")
    client.send(state_request("g", "agents"))
    snapshot = client.receive().response.completeStateResponse
    assert not snapshot.HasField("alteredFields")
    assert dict(snapshot.completeState.agents.agents["agent_B"].tags.tags) == {
        "zone": "front",
        "cpu": "arm64",
    }


@pytest.mark.parametrize("mask", AGENT_MASKS)
def test_load_reports_carry_exactly_the_changed_fields(
    client: RawClient, sim: AgentSimulator, mask: str
) -> None:
    """The first report adds status; later ones update cpuUsage, freeMemory or both, alone."""
    sim.connect_agent("agent_B")
    subscribe(client, "s", mask)
    status = "agents.agent_B.status"
    expected: list[tuple[tuple[int, int], Paths, tuple[int | None, int | None]]] = [
        ((12, 4096), ([status], [], []), (12, 4096)),
        ((13, 4096), ([], [f"{status}.cpuUsage"], []), (13, None)),
        ((13, 2048), ([], [f"{status}.freeMemory"], []), (None, 2048)),
        ((14, 1024), ([], [f"{status}.cpuUsage", f"{status}.freeMemory"], []), (14, 1024)),
    ]
    for (cpu, memory), paths, (sent_cpu, sent_memory) in expected:
        sim.set_agent_load("agent_B", cpu, memory)
        got, state = next_raw_event(client, "s")
        assert (got[0], sorted(got[1]), got[2]) == paths
        agent = _agent(state, "agent_B")
        assert not agent.HasField("tags")
        sent = agent.status
        assert sent.HasField("cpu_usage") is (sent_cpu is not None)
        assert sent.HasField("free_memory") is (sent_memory is not None)
        assert (sent.cpu_usage.cpu_usage, sent.free_memory.free_memory) == (
            sent_cpu or 0,
            sent_memory or 0,
        )


@pytest.mark.parametrize("mask", AGENT_MASKS)
def test_disconnect_and_reconnect_with_new_tags(
    client: RawClient, sim: AgentSimulator, mask: str
) -> None:
    """AgentGone removes agents.<agent> (empty completeState); the new Hello brings new tags."""
    sim.connect_agent("agent_B", {"build": "2026.11.1"})
    sim.set_agent_load("agent_B", 30, 1 << 30)
    sim.set_state("agent_B", "nginx", ID)
    subscribe(client, "s", mask)
    sim.disconnect_agent("agent_B")
    paths, state = next_raw_event(client, "s")
    assert paths == ([], [], ["agents.agent_B"])
    assert not state.HasField("agents")
    assert not state.HasField("workloadStates")
    sim.connect_agent("agent_B", {"build": "2026.11.2"})
    paths, state = next_raw_event(client, "s")
    assert paths == (["agents.agent_B"], [], [])
    assert dict(_agent(state, "agent_B").tags.tags) == {"build": "2026.11.2"}
    assert not _agent(state, "agent_B").HasField("status")


def test_repeated_hello_replaces_tags_and_drops_the_status(
    client: RawClient, sim: AgentSimulator
) -> None:
    """A second AgentHello without AgentGone replaces the attributes, as the server's insert does."""
    sim.connect_agent("agent_B", {"zone": "front"})
    sim.set_agent_load("agent_B", 30, 4096)
    subscribe(client, "s", "agents.*")
    sim.connect_agent("agent_B", {"zone": "rear"})
    paths, state = next_raw_event(client, "s")
    assert paths == ([], ["agents.agent_B.tags.zone"], ["agents.agent_B.status"])
    agent = _agent(state, "agent_B")
    assert dict(agent.tags.tags) == {"zone": "rear"}
    assert not agent.HasField("status")


def test_additional_info_only_change_reaches_the_additional_info_mask(
    client: RawClient, sim: AgentSimulator
) -> None:
    """A retry that changes only additionalInfo is one updated path; the instance has no state."""
    sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING")
    base = f"workloadStates.agent_A.nginx.{ID}"
    subscribe(client, "s", "workloadStates.*.*.*.state", "workloadStates.*.*.*.subState")
    subscribe(
        client,
        "i",
        "workloadStates.*.*.*.state",
        "workloadStates.*.*.*.subState",
        "workloadStates.*.*.*.additionalInfo",
    )
    retry = "Retry 1: Error: manifest unknown"
    sim.set_state("agent_A", "nginx", ID, "PENDING", "PENDING_STARTING", retry)
    paths, state = next_raw_event(client, "i")
    assert paths == ([], [f"{base}.additionalInfo"], [])
    execution = state.workloadStates.agentStateMap["agent_A"].wlNameStateMap["nginx"].idStateMap[ID]
    assert execution.additionalInfo == retry
    assert execution.WhichOneof("ExecutionStateEnum") is None
    # The state + sub-state subscriber "s" heard nothing: its next event is the next state change.
    sim.set_state("agent_A", "nginx", ID, "RUNNING", "RUNNING_OK")
    paths, _ = next_raw_event(client, "s")
    assert sorted(paths[1]) == [f"{base}.state", f"{base}.subState"]
    paths, _ = next_raw_event(client, "i")
    assert sorted(paths[1]) == [f"{base}.additionalInfo", f"{base}.state", f"{base}.subState"]


def test_a_one_megabyte_additional_info_is_served_intact(
    client: RawClient, sim: AgentSimulator
) -> None:
    """A 1 MB additionalInfo arrives byte for byte in the snapshot and in the event frame."""
    info = "".join(chr(0x41 + index % 26) for index in range(1 << 20))
    subscribe(client, "i", "workloadStates.*.*.*.additionalInfo")
    # The agent writes a frame whole, so the change blocks until the client reads it.
    writer = threading.Thread(
        target=sim.set_state,
        args=("agent_A", "nginx", ID, "FAILED", "FAILED_EXEC_FAILED", info),
    )
    writer.start()
    body = client.receive_body(timeout=10)
    writer.join(TIMEOUT)
    assert len(body) > 1 << 20
    content = _control_api.FromAnkaios.FromString(body).response.completeStateResponse
    assert list(content.alteredFields.addedFields) == [
        f"workloadStates.agent_A.nginx.{ID}.additionalInfo"
    ]
    execution = (
        content.completeState.workloadStates.agentStateMap["agent_A"]
        .wlNameStateMap["nginx"]
        .idStateMap[ID]
    )
    assert execution.additionalInfo == info
    client.send(state_request("g", "workloadStates"))
    body = client.receive_body(timeout=10)
    snapshot = _control_api.FromAnkaios.FromString(body).response.completeStateResponse
    got = snapshot.completeState.workloadStates.agentStateMap["agent_A"]
    assert got.wlNameStateMap["nginx"].idStateMap[ID].additionalInfo == info


@pytest.mark.parametrize(
    ("read_rules", "masks", "allowed"),
    [
        (("agents",), ("agents.*",), True),
        (("agents.*",), ("agents.*",), True),
        (("agents.*",), ("agents",), False),
        (("workloadStates",), ("workloadStates.*.*.*.state", "agents.*"), False),
        (("workloadStates", "agents"), ("workloadStates.*.*.*.state", "agents.*"), True),
    ],
)
def test_the_agent_authorizes_a_request_as_a_whole(
    tmp_path: Path, read_rules: tuple[str, ...], masks: tuple[str, ...], allowed: bool
) -> None:
    """Every mask must be allowed: one denied mask refuses the request and subscribes nothing."""
    with (
        AgentSimulator(tmp_path / "ci", read_rules=read_rules) as sim,
        RawClient(sim.directory) as raw,
    ):
        raw.send(hello())
        raw.receive()
        raw.send(state_request("s", *masks, subscribe=True))
        answer = raw.receive().response
        assert answer.requestId == "s"
        if allowed:
            assert answer.WhichOneof("ResponseContent") == "completeStateResponse"
            assert sim.subscriptions == {"s": masks}
        else:
            assert answer.error.message == "Access denied"
            assert sim.subscriptions == {}
