"""Helpers for the simulator tests: a raw FIFO client and a fast-closing SDK client (no tests)."""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Queue
from typing import Any

from ankaios_sdk import Ankaios, ControlInterface
from ankaios_sdk._protos import _ank_base, _control_api

from bridge.simulator import AgentSimulator
from bridge.simulator.protoconv import FrameSplitter, frame

TIMEOUT = 3.0


class RawClient:
    """A minimal workload side: writes ``output`` and reads ``input`` frame by frame."""

    def __init__(self, directory: Path) -> None:
        # Reader first, so that the agent's lazy writer finds a reader.
        self._input = os.open(directory / "input", os.O_RDONLY | os.O_NONBLOCK)
        self._output = os.open(directory / "output", os.O_WRONLY)
        self._splitter = FrameSplitter()
        self._bodies: list[bytes] = []

    def close(self) -> None:
        """Close both ends."""
        os.close(self._output)
        os.close(self._input)

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def send(self, message: _control_api.ToAnkaios) -> None:
        """Write one framed message."""
        os.write(self._output, frame(message))

    def send_bytes(self, data: bytes) -> None:
        """Write raw bytes."""
        os.write(self._output, data)

    def read_chunk(self, timeout: float = TIMEOUT) -> bytes:
        """Return the bytes one read() gets once data is there."""
        ready, _, _ = select.select([self._input], [], [], timeout)
        if not ready:
            raise TimeoutError("nothing to read from the agent")
        return os.read(self._input, 65536)

    def receive_body(self, timeout: float = TIMEOUT) -> bytes:
        """Return the body of the next complete frame."""
        deadline = time.monotonic() + timeout
        while not self._bodies:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no complete frame from the agent")
            chunk = self.read_chunk(remaining)
            if not chunk:
                raise EOFError("the agent closed input")
            self._bodies.extend(self._splitter.feed(chunk))
        return self._bodies.pop(0)

    def receive(self, timeout: float = TIMEOUT) -> _control_api.FromAnkaios:
        """Return the next FromAnkaios message."""
        return _control_api.FromAnkaios.FromString(self.receive_body(timeout))


def hello(version: str = "1.0.0") -> _control_api.ToAnkaios:
    """Return a Hello message."""
    return _control_api.ToAnkaios(hello=_control_api.Hello(protocolVersion=version))


@contextlib.contextmanager
def handshaken(directory: Path) -> Iterator[RawClient]:
    """Yield a raw client whose Hello the simulator accepted."""
    with RawClient(directory) as raw:
        raw.send(hello())
        assert raw.receive().WhichOneof("FromAnkaiosEnum") == "controlInterfaceAccepted"
        yield raw


def connect(sim: AgentSimulator) -> Any:
    """Construct an SDK client against the simulator's directory (make_sim's `sdk=True`)."""
    assert str(sim.directory) == ControlInterface.ANKAIOS_CONTROL_INTERFACE_BASE_PATH, (
        "point the SDK at the simulator with make_sim(..., sdk=True)"
    )
    return Ankaios()


def close(client: Any, sim: AgentSimulator) -> None:
    """Leave the SDK client without waiting for its reader's 1 s select timeout."""
    interface = client._control_interface
    reader = interface._read_thread
    interface._disconnect_event.set()
    if reader is not None and reader.is_alive() and sim.connected:
        # Any byte wakes the reader, which then sees the stop flag and cleans up.
        # Wait for it: disconnect() while it passes through AGENT_DISCONNECTED
        # would return early and leave it retrying Hellos forever.
        sim.write_raw(b"\x00")
        reader.join(TIMEOUT)
    client.__exit__(None, None, None)


@contextlib.contextmanager
def sdk_client(sim: AgentSimulator) -> Iterator[Any]:
    """An SDK client connected to ``sim`` for the duration of the block."""
    client = connect(sim)
    try:
        yield client
    finally:
        close(client, sim)


def next_event(queue: Queue[Any], timeout: float = TIMEOUT) -> Any:
    """Return the next entry of an SDK EventQueue."""
    return queue.get(timeout=timeout)


def fields(entry: Any) -> tuple[list[str], list[str], list[str]]:
    """Return an EventEntry's added, updated and removed paths, each sorted."""
    return sorted(entry.added_fields), sorted(entry.updated_fields), sorted(entry.removed_fields)


def state_request(rid: str, *masks: str, subscribe: bool = False) -> _control_api.ToAnkaios:
    """Return a CompleteStateRequest for ``masks`` (with ``subscribe``: also for events)."""
    request = _ank_base.CompleteStateRequest(fieldMask=list(masks), subscribeForEvents=subscribe)
    return _control_api.ToAnkaios(
        request=_ank_base.Request(requestId=rid, completeStateRequest=request)
    )


def subscribe(raw: RawClient, rid: str, *masks: str) -> _ank_base.CompleteState:
    """Subscribe a handshaken raw client to ``masks``; return the initial state it answers."""
    raw.send(state_request(rid, *masks, subscribe=True))
    answer = raw.receive().response
    assert answer.requestId == rid, answer
    return answer.completeStateResponse.completeState


def next_raw_event(raw: RawClient, rid: str) -> tuple[tuple[list[str], list[str], list[str]], Any]:
    """Return the next event's (added, updated, removed) paths, as sent, and its completeState."""
    answer = raw.receive().response
    assert answer.requestId == rid, answer
    content = answer.completeStateResponse
    assert content.HasField("alteredFields"), "a snapshot, not an event"
    altered = content.alteredFields
    paths = (list(altered.addedFields), list(altered.updatedFields), list(altered.removedFields))
    return paths, content.completeState
