"""The simulator's wire behaviour seen by a raw FIFO client: handshake rules, framing, faults."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import AgentSimulator, instance_id, protoconv
from bridge.simulator.fifo import FifoLink
from bridge.simulator.fifodir import create_fifos
from tests.support.simulator import RawClient, handshaken, hello

ID = instance_id("nginx-config-v1")


def _request(rid: str, **content: object) -> _control_api.ToAnkaios:
    return _control_api.ToAnkaios(request=_ank_base.Request(requestId=rid, **content))


def _state_request(rid: str, *masks: str, subscribe: bool = False) -> _control_api.ToAnkaios:
    request = _ank_base.CompleteStateRequest(fieldMask=list(masks), subscribeForEvents=subscribe)
    return _request(rid, completeStateRequest=request)


# An empty simulated agent that allows writing the desired state.
pytestmark = pytest.mark.sim(write_rules=("desiredState",))


@pytest.fixture
def client(sim: AgentSimulator) -> Iterator[RawClient]:
    """A raw client that has completed the handshake."""
    with handshaken(sim.directory) as raw:
        yield raw


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        (protoconv.frame(_state_request("r1")), "Initial Hello missing!"),
        (b"\x04\x0a\x05ab", "Could not decode protobuf data"),
        (
            protoconv.frame(hello("0.7.0")),
            "Unsupported protocol version '0.7.0'. Currently supported '1'",
        ),
        (
            protoconv.frame(hello("2.1.0")),
            "Unsupported protocol version '2.1.0'. Currently supported '1'",
        ),
    ],
)
def test_bad_first_frame_closes_the_connection(
    sim: AgentSimulator, first: bytes, reason: str
) -> None:
    """The first frame must be a compatible Hello; otherwise ConnectionClosed ends the task and its ends close."""
    with RawClient(sim.directory) as raw:
        raw.send_bytes(first)
        assert raw.receive().connectionClosed.reason == reason
        with pytest.raises(EOFError):
            raw.receive()
        sim.wait_for(lambda s: not s._link.reader_open, 3.0)
        with pytest.raises(BrokenPipeError):
            raw.send(hello())
    assert not sim.connected
    assert (sim.directory / "output").exists()


def test_later_hello_is_ignored_unless_incompatible(client: RawClient, sim: AgentSimulator) -> None:
    """A compatible Hello on a connected instance gets no answer, an incompatible one closes it."""
    client.send(hello("1.2.0"))
    client.send(_state_request("r1", "agents"))
    answer = client.receive()
    assert answer.response.requestId == "r1"
    assert answer.response.WhichOneof("ResponseContent") == "completeStateResponse"
    client.send(hello("0.1.0"))
    assert client.receive().connectionClosed.reason.startswith("Unsupported protocol version")
    assert not sim.connected


def test_client_eof_keeps_the_connection_state(sim: AgentSimulator) -> None:
    """When the client closes output the agent reopens it; the instance stays connected."""
    with RawClient(sim.directory) as first:
        first.send(hello())
        first.receive()
    with RawClient(sim.directory) as again:
        again.send(_state_request("r1"))
        assert again.receive().response.requestId == "r1"
    assert sim.connected
    assert sim.hello_count == 1


def test_requests_are_answered_with_the_request_id(client: RawClient, sim: AgentSimulator) -> None:
    """Update, logs and cancel requests get their kind of answer, echoing the id."""
    update = _ank_base.UpdateStateRequest(updateMask=["desiredState.workloads.nginx"])
    client.send(_request("u1", updateStateRequest=update))
    answer = client.receive().response
    assert (answer.requestId, answer.WhichOneof("ResponseContent")) == ("u1", "UpdateStateSuccess")
    name = _ank_base.WorkloadInstanceName(workloadName="nginx", agentName="agent_A", id=ID)
    client.send(_request("l1", logsRequest=_ank_base.LogsRequest(workloadNames=[name])))
    assert client.receive().response.error.message == "Access denied"
    client.send(_request("c1", logsCancelRequest=_ank_base.LogsCancelRequest()))
    assert client.receive().response.WhichOneof("ResponseContent") == "logsCancelAccepted"
    assert sim.requests == ["updateStateRequest", "logsRequest", "logsCancelRequest"]


def test_burst_writes_several_frames_with_one_write(client: RawClient, sim: AgentSimulator) -> None:
    """Frames produced inside burst() arrive together, as one read()."""
    client.send(_state_request("s1", "workloadStates", subscribe=True))
    client.send(_state_request("s2", "workloadStates.*.*.*.state", subscribe=True))
    client.receive()
    client.receive()
    with sim.burst():
        sim.set_state("agent_A", "nginx", ID)
        sim.write_raw(b"\x02\x0a\x00")
    chunk = client.read_chunk()
    bodies = protoconv.FrameSplitter().feed(chunk)
    assert len(bodies) == 3
    events = [_control_api.FromAnkaios.FromString(body).response for body in bodies[:2]]
    assert sorted(event.requestId for event in events) == ["s1", "s2"]
    assert all(event.completeStateResponse.HasField("alteredFields") for event in events)


def test_chunked_frames_arrive_whole_after_the_pauses(
    client: RawClient, sim: AgentSimulator
) -> None:
    """With chunk_size set a frame is written in pieces with chunk_pause between them."""
    sim.chunk_size, sim.chunk_pause = 16, 0.1
    response = _ank_base.Response(requestId="x" * 40, error=_ank_base.Error(message="y" * 10))
    expected = protoconv.frame(_control_api.FromAnkaios(response=response))
    pieces = -(-len(expected) // 16)
    started = time.monotonic()
    writer = threading.Thread(target=sim.send_response, args=(response,))
    writer.start()
    body = client.receive_body()
    writer.join()
    assert protoconv.encode_varint(len(body)) + body == expected
    assert time.monotonic() - started >= 0.09 * (pieces - 1)


def test_stop_reading_breaks_the_client_pipe_but_keeps_writing(
    client: RawClient, sim: AgentSimulator
) -> None:
    """After stop_reading a client write fails with EPIPE while events still reach it."""
    client.send(_state_request("s1", "workloadStates", subscribe=True))
    client.receive()
    sim.stop_reading()
    with pytest.raises(BrokenPipeError):
        client.send(_state_request("r2"))
    sim.set_state("agent_A", "nginx", ID)
    assert client.receive().response.requestId == "s1"


def test_large_snapshot_is_written_in_one_frame(client: RawClient, sim: AgentSimulator) -> None:
    """A snapshot larger than the pipe buffer arrives complete."""
    with sim.change():
        for index in range(1500):
            sim.set_state(f"agent_{index % 10}", f"workload-{index:05d}", instance_id(str(index)))
    client.send(_state_request("big", "workloadStates.*.*.*.state"))
    body = client.receive_body(timeout=10)
    assert len(body) > 65536
    states = _control_api.FromAnkaios.FromString(body).response.completeStateResponse.completeState
    assert (
        sum(
            len(w.idStateMap)
            for a in states.workloadStates.agentStateMap.values()
            for w in a.wlNameStateMap.values()
        )
        == 1500
    )


def test_stop_removes_the_fifos(tmp_path: Path) -> None:
    """stop() removes both FIFOs; an existing non-FIFO file is refused at start."""
    sim = AgentSimulator(tmp_path / "ci")
    with sim:
        assert sorted(path.name for path in sim.directory.iterdir()) == ["input", "output"]
    assert list(sim.directory.iterdir()) == []
    (sim.directory / "input").write_text("not a fifo")
    with pytest.raises(FileExistsError, match="not a FIFO"):
        AgentSimulator(sim.directory).start()


def test_an_aborted_task_drops_a_reply_that_waits_for_a_reader(tmp_path: Path) -> None:
    """A reply waiting out output_pipe.rs's retries (0.5 s) for a reader ends at once when its task is aborted."""
    create_fifos(tmp_path)
    link = FifoLink(tmp_path, lambda _: None)
    link.start(eager_writer=False)
    written: list[bool] = []
    writer = threading.Thread(target=lambda: written.append(link.write(b"\x00")))
    try:
        writer.start()  # nobody reads `input`: the write retries
        link.abort()  # control_interface.rs: dropping the ControlInterface aborts its task
        writer.join(0.4)
        assert not writer.is_alive()
        assert written == [False]
    finally:
        writer.join()
        link.stop()
