"""Pre-built control-interface data: the simulator's state tree and event frames."""

from __future__ import annotations

from benchmarks.workload import BASE, FLIPPED, Change
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from bridge.simulator import cluster
from bridge.simulator.authorizer import Authorizer
from bridge.simulator.protoconv import frame
from bridge.simulator.session import Phase, Session
from bridge.simulator.statetree import Tree


def state_tree(keys: list[InstanceKey]) -> Tree:
    """Return the simulator's state tree with every instance RUNNING."""
    running = cluster.execution_state(BASE.state, BASE.substate, None)
    states: Tree = {}
    for key in keys:
        workloads = states.setdefault(key.agent, {})
        assert isinstance(workloads, dict)
        ids = workloads.setdefault(key.workload, {})
        assert isinstance(ids, dict)
        ids[key.instance_id] = dict(running)
    agents: Tree = {agent: {} for agent in states}
    return {cluster.WORKLOAD_STATES: states, cluster.AGENTS: agents}


class EventFrames:
    """Builds event frames with the simulator's own diff-and-mask algorithm.

    Each distinct (instance, target state) is computed once on a one-instance
    tree, which yields the same bytes as the simulator's full diff path (the mask
    walk selects only the changed instance); the run then writes them pre-built.
    """

    def __init__(self, request_id: str, masks: tuple[str, ...]) -> None:
        self.request_id = request_id
        self.masks = masks
        self._cache: dict[tuple[InstanceKey, ExecutionState], bytes] = {}

    def frame_for(self, change: Change) -> bytes:
        """Return the framed event the agent writes for `change`."""
        cache_key = (change.key, change.execution)
        cached = self._cache.get(cache_key)
        if cached is None:
            before = BASE if change.execution == FLIPPED else FLIPPED
            session = Session(Authorizer(("*",), (), (), ()))
            session.phase = Phase.CONNECTED
            session.subscriptions[self.request_id] = self.masks
            old = _one_instance(change.key, before)
            new = _one_instance(change.key, change.execution)
            (message,) = session.events(old, new)
            cached = self._cache[cache_key] = frame(message)
        return cached

    def frames(self, batch: list[Change]) -> list[bytes]:
        """Return the frames of `batch`, in order."""
        return [self.frame_for(change) for change in batch]


def _one_instance(key: InstanceKey, execution: ExecutionState) -> Tree:
    leaf = cluster.execution_state(execution.state, execution.substate, None)
    return {
        cluster.WORKLOAD_STATES: {key.agent: {key.workload: {key.instance_id: leaf}}},
        cluster.AGENTS: {key.agent: {}},
    }
