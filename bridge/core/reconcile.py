"""Reconciliation decisions: which retained topics to publish or clear (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.core.model import (
    ExecutionState,
    InstanceStatus,
    decode_status,
    encode_state,
    encode_status,
    is_since,
)
from bridge.core.topics import InstanceKey, instance_topic, parse_instance_topic

ONLINE = b"online"
OFFLINE = b"offline"
# `$bridge/ankaios`: whether the bridge holds a live Ankaios subscription.
ANKAIOS_CONNECTED = b"connected"
ANKAIOS_DISCONNECTED = b"disconnected"


@dataclass(frozen=True, slots=True)
class Publish:
    """One retained publish; an empty payload clears the topic."""

    topic: str
    payload: bytes


def plan_instance(
    prefix: str, key: InstanceKey, status: InstanceStatus | None, retained: Mapping[str, bytes]
) -> list[Publish]:
    """Return the publishes that make the broker hold `status` for `key` (or nothing when None)."""
    state_topic = instance_topic(prefix, key, "state")
    status_topic = instance_topic(prefix, key, "status")
    if status is None:
        wanted = ((state_topic, b""), (status_topic, b""))
    else:
        wanted = ((state_topic, encode_state(status)), (status_topic, encode_status(status)))
    return [
        Publish(topic, payload) for topic, payload in wanted if retained.get(topic, b"") != payload
    ]


def plan_full(
    prefix: str,
    truth: Mapping[InstanceKey, InstanceStatus],
    retained: Mapping[str, bytes],
) -> list[Publish]:
    """Return the publishes that make the broker's retained tree equal `truth`.

    Retained `state`/`status` topics of instances not in `truth` are cleared;
    topics of any other shape are left alone.
    """
    plan: list[Publish] = []
    for key, status in truth.items():
        plan.extend(plan_instance(prefix, key, status, retained))
    for topic, payload in retained.items():
        parsed = parse_instance_topic(prefix, topic)
        if parsed is not None and parsed[0] not in truth and payload:
            plan.append(Publish(topic, b""))
    return plan


def retained_since(
    prefix: str, key: InstanceKey, execution: ExecutionState, retained: Mapping[str, bytes]
) -> str | None:
    """Return the `since` of a retained status that still shows `execution`, else None.

    A restarted bridge keeps the time the state was first seen, not its own start.
    """
    payload = retained.get(instance_topic(prefix, key, "status"))
    if not payload:
        return None
    decoded = decode_status(payload)
    if decoded is None or not is_since(decoded.since):
        return None
    if (decoded.state, decoded.substate) != (execution.state, execution.substate):
        return None
    return decoded.since
