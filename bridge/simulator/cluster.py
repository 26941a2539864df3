"""The simulated cluster state as the server's state tree, and its changes (pure).

Every change returns a new tree; the old one stays untouched so that the caller
can compute the difference the server turns into events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.simulator.statetree import Node, Tree

WORKLOAD_STATES = "workloadStates"
AGENTS = "agents"


@dataclass(frozen=True, slots=True)
class StateKind:
    """How one execution state appears in the state tree and on the wire."""

    variant: str  # the serde tag the server compares: `state: Running`
    field: str  # the oneof member of ank_base.ExecutionState
    substates: Mapping[str, int]  # SDK sub-state name -> wire value (the compared `subState`)


# Wire values from ankaios_api/proto/ank_base.proto (checked against the SDK's
# generated descriptor by the tests).
STATE_KINDS: Mapping[str, StateKind] = {
    "AGENT_DISCONNECTED": StateKind(
        "AgentDisconnected", "agentDisconnected", {"AGENT_DISCONNECTED": 0}
    ),
    "PENDING": StateKind(
        "Pending",
        "pending",
        {
            "PENDING_INITIAL": 0,
            "PENDING_WAITING_TO_START": 1,
            "PENDING_STARTING": 2,
            "PENDING_STARTING_FAILED": 8,
        },
    ),
    "RUNNING": StateKind("Running", "running", {"RUNNING_OK": 0}),
    "STOPPING": StateKind(
        "Stopping",
        "stopping",
        {
            "STOPPING": 0,
            "STOPPING_WAITING_TO_STOP": 1,
            "STOPPING_REQUESTED_AT_RUNTIME": 2,
            "STOPPING_DELETE_FAILED": 8,
        },
    ),
    "SUCCEEDED": StateKind("Succeeded", "succeeded", {"SUCCEEDED_OK": 0}),
    "FAILED": StateKind(
        "Failed", "failed", {"FAILED_EXEC_FAILED": 0, "FAILED_UNKNOWN": 1, "FAILED_LOST": 2}
    ),
    "NOT_SCHEDULED": StateKind("NotScheduled", "notScheduled", {"NOT_SCHEDULED": 0}),
    "REMOVED": StateKind("Removed", "removed", {"REMOVED": 0}),
}
_BY_VARIANT = {kind.variant: (name, kind) for name, kind in STATE_KINDS.items()}


def instance_id(config: str) -> str:
    """Return a deterministic 64-hex instance id, as Ankaios hashes a workload config."""
    return hashlib.sha256(config.encode()).hexdigest()


def empty_state() -> Tree:
    """Return the state of a cluster without agents and workloads."""
    return {WORKLOAD_STATES: {}, AGENTS: {}}


def execution_state(state: str, substate: str | None, additional_info: str | None) -> Tree:
    """Return the tree form of an execution state given by its SDK names.

    Raises ValueError naming what is accepted when the names do not fit.
    """
    kind = STATE_KINDS.get(state)
    if kind is None:
        raise ValueError(f"unknown execution state {state!r}; accepted: {', '.join(STATE_KINDS)}")
    chosen = substate if substate is not None else next(iter(kind.substates))
    if chosen not in kind.substates:
        raise ValueError(
            f"{chosen!r} is no sub-state of {state}; accepted: {', '.join(kind.substates)}"
        )
    # ExecutionStateSpec.additional_info is a plain String (ankaios_api/build/
    # spec_structs.rs spec_mandatory; ank_base/workload_state.rs), converted to
    # Some(..) in the proto: v1.0.1 always sends additionalInfo, "" when there is none.
    return {
        "state": kind.variant,
        "subState": kind.substates[chosen],
        "additionalInfo": additional_info or "",
    }


def names_of(execution: Mapping[str, Node]) -> tuple[str, str] | None:
    """Return the SDK (state, sub-state) names of a tree execution state, if it has one."""
    entry = _BY_VARIANT.get(str(execution.get("state")))
    if entry is None:
        return None
    name, kind = entry
    for substate, value in kind.substates.items():
        if value == execution.get("subState"):
            return name, substate
    return None


def _fresh(tree: Tree, keys: Sequence[str]) -> tuple[Tree, dict[str, Node]]:
    # Path copying: only the dicts on the way to the change are copied, every
    # other subtree is shared with the old tree, which is never mutated. This
    # keeps a change cheap and lets the diff skip shared subtrees.
    root = dict(tree)
    node = root
    for key in keys:
        child = node.get(key)
        fresh = dict(child) if isinstance(child, dict) else {}
        node[key] = fresh
        node = fresh
    return root, node


def _lookup(tree: Tree, *keys: str) -> Node:
    node: Node = tree
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def with_instance(tree: Tree, agent: str, workload: str, iid: str, execution: Tree) -> Tree:
    """Return ``tree`` with one instance's execution state set."""
    new, ids = _fresh(tree, (WORKLOAD_STATES, agent, workload))
    ids[iid] = dict(execution)
    return new


def without_instance(tree: Tree, agent: str, workload: str, iid: str) -> Tree:
    """Return ``tree`` without the instance, dropping parents left empty (WorkloadStatesMap)."""
    ids = _lookup(tree, WORKLOAD_STATES, agent, workload)
    if not isinstance(ids, dict) or iid not in ids:
        return tree
    new, workloads = _fresh(tree, (WORKLOAD_STATES, agent))
    remaining = {key: value for key, value in ids.items() if key != iid}
    if remaining:
        workloads[workload] = remaining
    else:
        del workloads[workload]
    states = new[WORKLOAD_STATES]
    if not workloads and isinstance(states, dict):
        del states[agent]
    return new


def with_agent(tree: Tree, agent: str, tags: Mapping[str, str] | None = None) -> Tree:
    """Return ``tree`` after the agent's AgentHello carrying its ``tags`` (``--tag key=value``).

    server/src/ankaios_server.rs (AgentHello) *inserts* fresh attributes: a
    repeated Hello replaces the tags and drops the load status until the next
    report. In the serde tree the server compares, Tags is flattened into
    ``agents.<agent>.tags.<key>`` and an empty tag map is omitted
    (ankaios_api/build/proto_annotations.rs: ``Tags.tags`` skip_serializing_if
    is_empty), so an agent without tags is ``agents.<agent>: {}``.
    """
    new, agents = _fresh(tree, (AGENTS,))
    agents[agent] = {"tags": dict(tags)} if tags else {}
    return new


def with_agent_load(tree: Tree, agent: str, cpu_usage: int, free_memory: int) -> Tree:
    """Return ``tree`` with a connected agent's load status (AgentLoadStatus).

    The server only modifies a known agent (``entry().and_modify``) and always sets
    both fields, flattened to ``agents.<agent>.status.cpuUsage`` / ``.freeMemory``
    (server/src/ankaios_server.rs; proto_annotations.rs ``annotate_agent``).
    """
    if not isinstance(_lookup(tree, AGENTS, agent), dict):
        return tree
    new, attributes = _fresh(tree, (AGENTS, agent))
    attributes["status"] = {"cpuUsage": cpu_usage, "freeMemory": free_memory}
    return new


def without_agent(tree: Tree, agent: str) -> Tree:
    """Return ``tree`` after AgentGone: the agent is removed, its instances are disconnected.

    server/src/ankaios_server.rs (AgentGone): ``agent_map.agents.remove`` and
    ``workload_states_map.agent_disconnected`` in one comparison, so one event.
    """
    new, agents = _fresh(tree, (AGENTS,))
    agents.pop(agent, None)
    workloads = _lookup(tree, WORKLOAD_STATES, agent)
    if not isinstance(workloads, dict):
        return new
    disconnected = execution_state("AGENT_DISCONNECTED", None, None)
    new, states = _fresh(new, (WORKLOAD_STATES,))
    states[agent] = {
        workload: {iid: dict(disconnected) for iid in ids}
        for workload, ids in workloads.items()
        if isinstance(ids, dict)
    }
    return new


def instances(tree: Tree) -> dict[tuple[str, str, str], tuple[str, str]]:
    """Return (agent, workload, id) -> (state, sub-state) SDK names of every instance."""
    found: dict[tuple[str, str, str], tuple[str, str]] = {}
    states = tree.get(WORKLOAD_STATES)
    if not isinstance(states, dict):
        return found
    for agent, workloads in states.items():
        for workload, ids in workloads.items() if isinstance(workloads, dict) else ():
            for iid, execution in ids.items() if isinstance(ids, dict) else ():
                names = names_of(execution) if isinstance(execution, dict) else None
                if names is not None:
                    found[agent, workload, iid] = names
    return found


def connected_agents(tree: Tree) -> tuple[str, ...]:
    """Return the names of the connected agents."""
    agents = tree.get(AGENTS)
    return tuple(agents) if isinstance(agents, dict) else ()


def agent_load(tree: Tree, agent: str) -> tuple[int, int] | None:
    """Return the agent's last reported (CPU usage, free memory), None before its first report."""
    status = _lookup(tree, AGENTS, agent, "status")
    if not isinstance(status, dict):
        return None
    cpu, memory = status.get("cpuUsage"), status.get("freeMemory")
    return (cpu, memory) if isinstance(cpu, int) and isinstance(memory, int) else None


def agent_tags(tree: Tree, agent: str) -> dict[str, str]:
    """Return the tags the agent sent in its AgentHello (empty when it sent none)."""
    tags = _lookup(tree, AGENTS, agent, "tags")
    return {key: str(value) for key, value in tags.items()} if isinstance(tags, dict) else {}
