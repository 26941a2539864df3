"""The simulator's model of the control interface's lifecycle (Ankaios 1.0.1), seen by a raw FIFO client."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import AgentSimulator, instance_id
from bridge.simulator.cli import apply_step, build_parser
from bridge.simulator.faults import parse_fault
from bridge.simulator.scenario import ScenarioError, load_scenario, parse_scenario
from tests.support.simulator import TIMEOUT, RawClient, hello

ID = instance_id("nginx-config-v1")


class Client(RawClient):
    """A raw client that can also look at its descriptors."""

    def __enter__(self) -> Client:
        return self

    def output_error(self) -> bool:
        """True when poll() reports POLLERR on our writer of ``output`` (no agent reads it)."""
        poller = select.poll()
        poller.register(self._output, select.POLLOUT)
        return any(event & select.POLLERR for _, event in poller.poll(0))

    def input_eof(self) -> bool:
        """True when our reader of ``input`` is at EOF (no agent writes it); consumes no frame."""
        ready, _, _ = select.select([self._input], [], [], 0)
        return bool(ready) and not self._bodies and os.read(self._input, 65536) == b""

    def links(self) -> tuple[int, int]:
        """The link counts of the two FIFOs our descriptors lead to."""
        return os.fstat(self._input).st_nlink, os.fstat(self._output).st_nlink


def _state_request(rid: str, *masks: str, subscribe: bool = False) -> _control_api.ToAnkaios:
    content = _ank_base.CompleteStateRequest(fieldMask=list(masks), subscribeForEvents=subscribe)
    return _control_api.ToAnkaios(
        request=_ank_base.Request(requestId=rid, completeStateRequest=content)
    )


def _until(condition: object, timeout: float = TIMEOUT) -> float:
    """Wait until ``condition()`` is true; return when (monotonic)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.002)
    return time.monotonic()


# An empty simulated agent.
pytestmark = pytest.mark.sim()


@pytest.fixture
def client(sim: AgentSimulator) -> Iterator[Client]:
    """A raw client whose handshake is done and that holds one subscription."""
    with Client(sim.directory) as raw:
        raw.send(hello())
        assert raw.receive().WhichOneof("FromAnkaiosEnum") == "controlInterfaceAccepted"
        raw.send(_state_request("s1", "workloadStates", subscribe=True))
        assert raw.receive().response.requestId == "s1"
        yield raw


def _swap(sim: AgentSimulator, overlap: float = 0.0) -> None:
    sim.replace_control_interface(overlap)
    sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)


def _fill_the_channel(sim: AgentSimulator, client: Client) -> None:
    """Cut the server and send r0..r20: the 20 the to-server channel holds and the one the task holds."""
    sim.cut_server()
    # Exactly what the task takes: more could sit either in its read buffer (lost) or
    # in the pipe (read by the next task before any Hello), whichever the scheduler picks.
    for number in range(21):
        client.send(_state_request(f"r{number}", "agents"))
    _until(lambda: len(sim.frames) == 2 + 21)


def _kind(message: _control_api.FromAnkaios) -> str:
    return message.WhichOneof("FromAnkaiosEnum") or ""


@pytest.mark.parametrize("gap", [0.0, 0.3])
def test_agent_death_closes_the_reader_first(
    sim: AgentSimulator, client: Client, gap: float
) -> None:
    """With first="reader" the client's output errors first and input reaches EOF about `gap` later; the FIFOs stay."""
    stopper = threading.Thread(target=sim.stop_agent, kwargs={"first": "reader", "gap": gap})
    stopper.start()
    error_at = _until(client.output_error)
    if gap:
        assert not client.input_eof()
    eof_at = _until(client.input_eof)
    stopper.join()
    assert eof_at - error_at >= gap * 0.8
    assert sim.subscriptions == {}
    assert (sim.directory / "input").exists()
    assert (sim.directory / "output").exists()


@pytest.mark.parametrize("gap", [0.0, 0.3])
def test_agent_death_closes_the_writer_first(
    sim: AgentSimulator, client: Client, gap: float
) -> None:
    """With first="writer" the client sees EOF on input while output still has a reader for about `gap`."""
    stopper = threading.Thread(target=sim.stop_agent, kwargs={"first": "writer", "gap": gap})
    stopper.start()
    eof_at = _until(client.input_eof)
    if gap:
        assert not client.output_error()
        client.send(hello())  # still read (into a dead task), no EPIPE
    error_at = _until(client.output_error)
    stopper.join()
    assert error_at - eof_at >= gap * 0.8
    assert (sim.directory / "output").exists()


@pytest.mark.usefixtures("client")
def test_start_agent_answers_a_new_hello(sim: AgentSimulator) -> None:
    """After stop_agent and start_agent a fresh task (number 2) accepts a Hello on the kept FIFOs."""
    sim.stop_agent()
    assert not sim.connected
    sim.start_agent()
    with Client(sim.directory) as again:
        again.send(hello())
        assert _kind(again.receive()) == "controlInterfaceAccepted"
    assert sim.frames[0] == (1, "hello")
    assert sim.frames[-1] == (2, "hello")
    assert sim.connected


@pytest.mark.usefixtures("client")
def test_restart_agent_keeps_its_old_positional_form(sim: AgentSimulator) -> None:
    """restart_agent(0.05) blocks for the down time and leaves a task that wants a Hello."""
    started = time.monotonic()
    sim.restart_agent(0.05)
    assert time.monotonic() - started >= 0.05
    with Client(sim.directory) as again:
        again.send(_state_request("r1"))
        assert again.receive().connectionClosed.reason == "Initial Hello missing!"


def test_swap_is_invisible_but_unlinks_everything(sim: AgentSimulator, client: Client) -> None:
    """After the swap the client has st_nlink 0, no EOF, no POLLERR, and the paths and directory are gone."""
    assert client.links() == (1, 1)
    _swap(sim, overlap=0.05)
    assert client.links() == (0, 0)
    assert not client.output_error()
    assert not client.input_eof()
    assert not sim.directory.exists()
    with pytest.raises(FileNotFoundError):
        os.open(sim.directory / "output", os.O_WRONLY | os.O_NONBLOCK)
    assert sim.subscriptions == {}
    sim.set_state("agent_A", "nginx", ID)
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.3)


def test_swap_then_a_request_first_closes_the_new_task(sim: AgentSimulator, client: Client) -> None:
    """A non-Hello first frame after the swap gets ConnectionClosed("Initial Hello missing!"), then EOF."""
    _swap(sim)
    client.send(_state_request("r1"))
    assert client.receive().connectionClosed.reason == "Initial Hello missing!"
    with pytest.raises(EOFError):
        client.receive()
    _until(client.output_error)
    assert sim.frames[-1] == (2, "completeStateRequest")


def test_swap_then_a_hello_is_accepted_on_the_same_descriptors(
    sim: AgentSimulator, client: Client
) -> None:
    """A Hello after the swap is accepted by task 2 on the descriptors the client already holds."""
    _swap(sim)
    client.send(hello())
    assert _kind(client.receive()) == "controlInterfaceAccepted"
    client.send(_state_request("s2", "workloadStates", subscribe=True))
    assert client.receive().response.requestId == "s2"
    sim.set_state("agent_A", "nginx", ID)
    assert client.receive().response.requestId == "s2"
    assert sim.frames[-2:] == [(2, "hello"), (2, "completeStateRequest+subscribe")]


def test_old_task_reads_during_the_overlap(sim: AgentSimulator, client: Client) -> None:
    """During the overlap the swap is in progress; afterwards only the new task reads."""
    sim.replace_control_interface(overlap=0.3)
    assert sim.swap_in_progress
    sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
    client.send(hello())
    assert _kind(client.receive()) == "controlInterfaceAccepted"


def test_second_swap_ends_the_clients_descriptors(sim: AgentSimulator, client: Client) -> None:
    """A second swap closes what the client's descriptors reach (EOF, POLLERR); the paths stay gone."""
    _swap(sim)
    client.send(hello())
    client.receive()
    _swap(sim)
    _until(client.input_eof)
    _until(client.output_error)
    assert not sim.directory.exists()
    with pytest.raises(FileNotFoundError):
        os.open(sim.directory / "input", os.O_RDONLY | os.O_NONBLOCK)


def test_outage_queues_requests_and_answers_them_after_the_next_hello(
    sim: AgentSimulator, client: Client
) -> None:
    """During an outage nothing is answered; after restore and a Hello every answer arrives in order, each subscribe registered."""
    sim.cut_server()
    assert not sim.server_reachable
    assert sim.subscriptions == {}
    client.send(_state_request("a", "workloadStates", subscribe=True))
    client.send(_state_request("b", "agents"))
    client.send(_state_request("c", "workloadStates", subscribe=True))
    sim.set_state("agent_A", "nginx", ID)
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.3)
    sim.restore_server(overlap=0.0)
    sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
    assert sim.server_reachable
    assert sorted(sim.subscriptions) == ["a", "c"]
    client.send(hello())
    kinds = [_kind(client.receive())]
    kinds += [client.receive().response.requestId for _ in range(3)]
    assert kinds == ["controlInterfaceAccepted", "a", "b", "c"]
    sim.set_state("agent_A", "nginx", ID, state="FAILED")
    assert sorted(client.receive().response.requestId for _ in range(2)) == ["a", "c"]
    assert sim.frames[2:] == [
        (1, "completeStateRequest+subscribe"),
        (1, "completeStateRequest"),
        (1, "completeStateRequest+subscribe"),
        (2, "hello"),
    ]


def test_hung_server_answers_late_and_delays_events_in_arrival_order(
    sim: AgentSimulator, client: Client
) -> None:
    """A hung server answers nothing and sends no event; resumed, it answers and delivers in arrival order, on the same task."""
    sim.hang_server()
    client.send(_state_request("a", "workloadStates"))
    _until(lambda: sim.requests[-1:] == ["completeStateRequest"])
    sim.set_state("agent_A", "nginx", ID)
    client.send(_state_request("b", "workloadStates"))
    _until(lambda: len(sim.requests) == 3)
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.3)
    sim.resume_server()
    late = [client.receive() for _ in range(3)]
    assert [message.response.requestId for message in late] == ["a", "s1", "b"]
    # Each answer holds the state as its request found it; the event came between them.
    assert [
        len(message.response.completeStateResponse.completeState.workloadStates.agentStateMap)
        for message in late
    ] == [0, 1, 1]
    assert late[1].response.completeStateResponse.HasField("alteredFields")
    assert sim.subscriptions == {"s1": ("workloadStates",)}
    assert [frame for frame in sim.frames if frame[1] == "hello"] == [(1, "hello")]


def test_outage_answers_are_lost_without_a_hello(sim: AgentSimulator, client: Client) -> None:
    """After an outage a request as the first frame closes the new task; the queued answers never arrive."""
    sim.cut_server()
    client.send(_state_request("a", "agents"))
    _until(lambda: sim.requests[-1:] == ["completeStateRequest"])
    sim.restore_server(overlap=0.0)
    sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
    client.send(_state_request("b", "agents"))
    assert client.receive().connectionClosed.reason == "Initial Hello missing!"
    with pytest.raises(EOFError):
        client.receive()


def test_full_to_server_channel_stops_reading(sim: AgentSimulator, client: Client) -> None:
    """With 20 requests queued the task takes one more and stops reading; later frames wait in the pipe and reach the new task first."""
    _fill_the_channel(sim, client)
    client.send(_state_request("late", "agents"))
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.3)
    assert len(sim.frames) == 2 + 21
    sim.restore_server(overlap=0.0)
    assert client.receive().connectionClosed.reason == "Initial Hello missing!"
    assert sim.frames[-1] == (2, "completeStateRequest")


def test_full_channel_answers_twenty_after_the_hello(sim: AgentSimulator, client: Client) -> None:
    """After restore and a Hello exactly the 20 queued requests are answered, in order; the one the blocked task held is lost."""
    _fill_the_channel(sim, client)
    sim.restore_server(overlap=0.0)
    sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
    client.send(hello())
    assert _kind(client.receive()) == "controlInterfaceAccepted"
    answered = [client.receive().response.requestId for _ in range(20)]
    assert answered == [f"r{number}" for number in range(20)]
    with pytest.raises(TimeoutError):
        client.receive(timeout=0.3)


def test_owner_agent_goes_through_cut_and_restore(tmp_path: Path) -> None:
    """disconnect_agent/connect_agent of the owner agent cut and restore the server (with the swap)."""
    with (
        AgentSimulator(tmp_path / "ci", owner_agent="agent_A") as sim,
        Client(sim.directory) as raw,
    ):
        raw.send(hello())
        raw.receive()
        sim.disconnect_agent("agent_A")
        assert not sim.server_reachable
        sim.connect_agent("agent_A")
        assert sim.server_reachable
        sim.wait_for(lambda s: not s.swap_in_progress, TIMEOUT)
        assert raw.links() == (0, 0)
        sim.connect_agent("agent_B")  # another agent: no swap
        assert not sim.swap_in_progress


def test_close_connection_closes_both_ends(sim: AgentSimulator, client: Client) -> None:
    """close_connection writes ConnectionClosed, then the client sees EOF and POLLERR; the FIFOs stay."""
    sim.close_connection("bye")
    assert client.receive().connectionClosed.reason == "bye"
    with pytest.raises(EOFError):
        client.receive()
    _until(client.output_error)
    assert not sim.connected
    assert (sim.directory / "output").exists()


def test_client_eof_discards_a_partial_frame(sim: AgentSimulator, client: Client) -> None:
    """When the client closes output mid-frame the agent reopens it, drops the partial frame and keeps the session."""
    partial = _state_request("lost", "agents")
    client.send_bytes(bytes([partial.ByteSize()]) + partial.SerializeToString()[:3])

    def held(agent: AgentSimulator) -> bool:
        return bool(agent._task.splitter._buffer)

    sim.wait_for(held, TIMEOUT)
    os.close(client._output)
    sim.wait_for(lambda s: not held(s), TIMEOUT)
    client._output = os.open(sim.directory / "output", os.O_WRONLY)
    client.send(hello())  # yet another Hello: only logged
    client.send(_state_request("r1", "agents"))
    assert client.receive().response.requestId == "r1"
    assert sim.hello_count == 2


def test_new_workload_instance_is_a_new_task(sim: AgentSimulator, client: Client) -> None:
    """new_workload_instance closes the old task's ends and numbers a fresh one that wants a Hello."""
    sim.new_workload_instance()
    _until(client.input_eof)
    with Client(sim.directory) as again:
        again.send(hello())
        assert _kind(again.receive()) == "controlInterfaceAccepted"
    assert sim.frames[-1] == (2, "hello")


def test_stop_after_swaps_leaks_nothing(tmp_path: Path) -> None:
    """stop() after two swaps and an outage closes every descriptor and ends every reader thread."""
    fds = len(list(Path("/proc/self/fd").iterdir()))
    sim = AgentSimulator(tmp_path / "ci")
    with sim, Client(sim.directory) as raw:
        raw.send(hello())
        raw.receive()
        sim.replace_control_interface(overlap=1.0)
        sim.cut_server()
        sim.restore_server(overlap=1.0)
    assert not any(t.name.startswith("ankaios-simulator") for t in threading.enumerate())
    assert len(list(Path("/proc/self/fd").iterdir())) == fds


def test_scenario_fault_actions_parse() -> None:
    """restart-agent, reconnect-server and server-outage parse with their defaults and values."""
    text = """
[[step]]
at = 1
action = "restart-agent"
[[step]]
at = 2
action = "restart-agent"
down = 0.5
first = "writer"
gap = 0.2
[[step]]
at = 3
action = "reconnect-server"
[[step]]
at = 4
action = "server-outage"
duration = 60
"""
    steps = parse_scenario(text, "s.toml").steps
    assert [(s.action, s.down, s.first, s.gap) for s in steps[:2]] == [
        ("restart-agent", 1.0, "reader", 0.0),
        ("restart-agent", 0.5, "writer", 0.2),
    ]
    assert steps[2].action == "reconnect-server"
    assert (steps[3].action, steps[3].duration) == ("server-outage", 60.0)
    assert len(load_scenario("lifecycle").steps) > 10


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('action = "restart-agent"\nfirst = "both"', '\'first\' must be "reader" or "writer"'),
        ('action = "restart-agent"\ndown = -1', "'down' must be a number of seconds >= 0"),
        ('action = "restart-agent"\ngap = "x"', "'gap' must be a number of seconds >= 0"),
        ('action = "server-outage"', "'duration' (seconds the server is away or hung) is required"),
        ('action = "hang-server"', "'duration' (seconds the server is away or hung) is required"),
        ('action = "server-outage"\nduration = 0', "'duration' must be a number of seconds > 0"),
        ('action = "reconnect-server"\nagent = "a"', "unknown key(s) agent for 'reconnect-server'"),
    ],
)
def test_scenario_fault_actions_reject_bad_values(extra: str, message: str) -> None:
    """Each bad value of a fault step is one ScenarioError line naming the step."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(f"[[step]]\nat = 1\n{extra}\n", "s.toml")
    assert str(info.value).startswith("s.toml: step 1: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_fault_flag_parsing() -> None:
    """--fault ACTION@SECONDS[:VALUE] is repeatable; bad forms are refused."""
    faults = [
        "restart-agent@10",
        "reconnect-server@20",
        "server-outage@30:60",
        "restart-agent@5:2.5",
        "hang-server@40:14",
    ]
    argv = ["--control-interface", "ci"]
    for fault in faults:
        argv += ["--fault", fault]
    args = build_parser().parse_args(argv)
    assert [(f.action, f.at) for f in args.fault] == [
        ("restart-agent", 10.0),
        ("reconnect-server", 20.0),
        ("server-outage", 30.0),
        ("restart-agent", 5.0),
        ("hang-server", 40.0),
    ]
    assert (args.fault[2].duration, args.fault[3].down, args.fault[4].duration) == (60.0, 2.5, 14.0)
    for bad in ("explode@1", "server-outage@30", "hang-server@3", "reconnect-server@1:2"):
        with pytest.raises(ScenarioError, match="fault"):
            parse_fault(bad)


def test_restart_step_does_not_block_the_scenario(sim: AgentSimulator, client: Client) -> None:
    """A restart-agent step returns at once; the agent comes back after `down` in the background."""
    started = time.monotonic()
    apply_step(sim, parse_fault("restart-agent@0:0.3"))
    assert time.monotonic() - started < 0.2
    _until(client.input_eof)
    with Client(sim.directory) as again:
        again.send(hello())
        assert _kind(again.receive()) == "controlInterfaceAccepted"
