"""The benchmark's synthetic Ankaios system and what the bridge must publish for it (pure).

N instances spread over 10 agents, one instance per workload, names and ids as in
the SDK measurements (``workload-00042``, 64-hex ids). Only the bridge's own pure
modules are imported: the raw baseline process uses this module too, and its
peak RSS must not include protobuf. Every change flips one
instance between two execution states whose state *and* sub-state differ, so the
event carries both field paths and the bridge publishes both topics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bridge.core.model import ExecutionState, InstanceStatus, encode_state, encode_status
from bridge.core.topics import DEFAULT_PREFIX, InstanceKey, instance_topic

AGENTS = 10
BASE = ExecutionState("RUNNING", "RUNNING_OK")
FLIPPED = ExecutionState("PENDING", "PENDING_STARTING")
# Any valid `since` has this length, so the raw baseline's payloads match the bridge's in size.
SINCE = "2026-01-01T00:00:00.000Z"


@dataclass(frozen=True, slots=True)
class Change:
    """Change number `index`: instance `key` enters `execution`."""

    index: int
    key: InstanceKey
    execution: ExecutionState


def instance_keys(count: int) -> list[InstanceKey]:
    """Return the instances of a system of `count`, in the order the snapshot lists them."""
    return [
        # As bridge.simulator.instance_id derives ids, without importing the simulator.
        InstanceKey(f"agent-{index % AGENTS}", name, hashlib.sha256(name.encode()).hexdigest())
        for index in range(count)
        for name in (f"workload-{index:05d}",)
    ]


def changes(keys: list[InstanceKey], count: int, start: int = 0) -> list[Change]:
    """Return changes `start` to `start + count` of an endless cycle over the instances.

    Instance i flips on every pass, so each change is a real change for it when
    the batches are applied in order from change 0.
    """
    result = []
    for index in range(start, start + count):
        key = keys[index % len(keys)]
        flipped = (index // len(keys)) % 2 == 0
        result.append(Change(index, key, FLIPPED if flipped else BASE))
    return result


def messages(key: InstanceKey, execution: ExecutionState, since: str) -> list[tuple[str, bytes]]:
    """Return the two retained publishes the bridge makes for one instance, in its order."""
    status = InstanceStatus(key, execution, since)
    return [
        (instance_topic(DEFAULT_PREFIX, key, "state"), encode_state(status)),
        (instance_topic(DEFAULT_PREFIX, key, "status"), encode_status(status)),
    ]


def sync_messages(keys: list[InstanceKey], since: str = SINCE) -> list[tuple[str, bytes]]:
    """Return what the bridge publishes for a fresh broker and a snapshot of `keys`."""
    return [message for key in keys for message in messages(key, BASE, since)]


def change_messages(batch: list[Change], since: str = SINCE) -> list[list[tuple[str, bytes]]]:
    """Return per change the publishes the bridge makes for it."""
    return [messages(change.key, change.execution, since) for change in batch]
