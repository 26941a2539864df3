"""The stock ankaios-sdk 1.0.1 reader fails the scenarios of tests/test_source.py.

These tests assert the SDK's defects, reproduced through the simulator: they show
that the bridge's own transport is needed, and they fail (telling us to revisit
bridge/ankaios/transport.py) if an SDK release fixes them.
"""

from __future__ import annotations

import queue

import pytest
from ankaios_sdk import Ankaios

from bridge.ankaios.fieldpaths import BRIDGE_MASKS
from bridge.simulator import AgentSimulator, instance_id
from tests.test_source import populate

# An empty simulated agent that the SDK is pointed at.
pytestmark = pytest.mark.sim(sdk=True)


def test_sdk_truncates_a_snapshot_written_in_pieces(sim: AgentSimulator) -> None:
    """The SDK's byte-wise reader breaks a 92 KB snapshot that arrives in 64 KiB pieces with a pause."""
    populate(sim, 1000)
    sim.chunk_size, sim.chunk_pause = 65536, 0.05
    with Ankaios() as ankaios, pytest.raises(TimeoutError):
        ankaios.register_event(list(BRIDGE_MASKS), timeout=1)


def test_sdk_holds_back_the_second_of_two_events(sim: AgentSimulator) -> None:
    """Of two events written in one burst, the SDK delivers only the first until more bytes arrive."""
    with Ankaios() as ankaios:
        events = ankaios.register_event(list(BRIDGE_MASKS), timeout=2)
        events.get(timeout=1)  # the snapshot
        with sim.burst():
            sim.set_state("hpc1", "nginx", instance_id("nginx-v1"), "RUNNING", "RUNNING_OK")
            sim.set_state("hpc1", "radio", instance_id("radio-v1"), "RUNNING", "RUNNING_OK")
        events.get(timeout=1)
        with pytest.raises(queue.Empty):
            events.get(timeout=1)


def test_sdk_stays_silent_after_the_agent_closes_the_connection(sim: AgentSimulator) -> None:
    """After ConnectionClosed the SDK's event queue just stays empty: nothing tells the caller."""
    with Ankaios() as ankaios:
        events = ankaios.register_event(list(BRIDGE_MASKS), timeout=2)
        events.get(timeout=1)
        sim.close_connection("workload deleted")
        with pytest.raises(queue.Empty):
            events.get(timeout=1)
