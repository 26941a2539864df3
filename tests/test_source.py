"""The bridge's own control-interface transport: each SDK 1.0.1 defect reproduced and survived.

tests/test_sdk_defects.py runs the same scenarios through the stock SDK and shows
each defect, so these tests prove the scenarios do reproduce what they guard against.
"""

from __future__ import annotations

import threading

import pytest

from bridge.core.inputs import Changes
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from bridge.simulator import AgentSimulator, instance_id
from tests.support.mqtt import wait_for
from tests.support.scene import NGINX
from tests.support.source import Collector

RUNNING = ExecutionState("RUNNING", "RUNNING_OK")


# An empty simulated agent.
pytestmark = pytest.mark.sim()


def populate(sim: AgentSimulator, count: int) -> dict[InstanceKey, ExecutionState]:
    """Give the simulator `count` running instances over ten agents in one change."""
    expected: dict[InstanceKey, ExecutionState] = {}
    with sim.change():
        for n in range(count):
            key = InstanceKey(f"agent_{n % 10}", f"workload-{n:05d}", instance_id(f"wl-{n}"))
            sim.set_state(key.agent, key.workload, key.instance_id, "RUNNING", "RUNNING_OK")
            expected[key] = RUNNING
    return expected


def test_large_snapshot_in_pipe_sized_pieces_arrives_intact(sim: AgentSimulator) -> None:
    """A 1,000-instance snapshot (92 KB) written in 64 KiB pieces with 50 ms pauses is read whole, on every fresh connection."""
    expected = populate(sim, 1000)
    sim.chunk_size, sim.chunk_pause = 65536, 0.05
    for _ in range(5):
        sim.new_workload_instance()
        with Collector(sim.directory) as collector:
            collector.source.start()
            snapshot = collector.wait_snapshots(1)
            assert snapshot.instances == expected


def test_ten_thousand_instances_in_pieces(sim: AgentSimulator) -> None:
    """A 10,000-instance snapshot (920 KB) in 64 KiB pieces with pauses arrives intact."""
    expected = populate(sim, 10_000)
    sim.chunk_size, sim.chunk_pause = 65536, 0.05
    with Collector(sim.directory) as collector:
        collector.source.start()
        assert collector.wait_snapshots(1, timeout=20).instances == expected


def test_event_right_after_snapshot_is_kept(sim: AgentSimulator) -> None:
    """An event that arrives while the subscription's snapshot is still being handled is delivered, not dropped."""
    gate = threading.Event()
    with Collector(sim.directory, hold=gate) as collector:
        collector.source.start()
        wait_for(lambda: collector.held, 2, "the snapshot held in the sink")
        sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        gate.set()
        wait_for(lambda: bool(collector.changes()), 2, "the event after the snapshot")
    assert collector.snapshots()[0].instances == {}
    assert collector.changes() == [
        Changes({InstanceKey("hpc1", "nginx", NGINX): RUNNING}, frozenset())
    ]


def test_back_to_back_events_are_not_held_back(sim: AgentSimulator) -> None:
    """Two events written in one burst are both delivered without waiting for a third frame."""
    other = instance_id("radio-v1")
    with Collector(sim.directory) as collector:
        collector.source.start()
        collector.wait_snapshots(1)
        with sim.burst():
            sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
            sim.set_state("hpc1", "radio", other, "RUNNING", "RUNNING_OK")
        wait_for(lambda: len(collector.changes()) == 2, 1, "both events")


def test_closed_connection_is_reported_not_waited_on(sim: AgentSimulator) -> None:
    """When the agent closes the connection, the source reports it at once with the reason and what to do."""
    with Collector(sim.directory) as collector:
        collector.source.start()
        collector.wait_snapshots(1)
        sim.close_connection("workload deleted")
        wait_for(lambda: bool(collector.failures()), 2, "the failure")
    message = collector.failures()[0].stop.line()
    assert "closed the control interface: workload deleted" in message
    assert "re-create the workload" in message


def test_sub_state_only_change_is_an_event(sim: AgentSimulator) -> None:
    """With the sub-state mask, Pending(Starting) -> Pending(StartingFailed) reaches the bridge."""
    sim.set_state("hpc1", "nginx", NGINX, "PENDING", "PENDING_STARTING")
    with Collector(sim.directory) as collector:
        collector.source.start()
        collector.wait_snapshots(1)
        sim.set_state("hpc1", "nginx", NGINX, "PENDING", "PENDING_STARTING_FAILED")
        wait_for(lambda: bool(collector.changes()), 2, "the sub-state event")
    failed = ExecutionState("PENDING", "PENDING_STARTING_FAILED")
    assert collector.changes() == [
        Changes({InstanceKey("hpc1", "nginx", NGINX): failed}, frozenset())
    ]
