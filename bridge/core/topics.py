"""The MQTT topic contract: topics, the per-instance leaves and the bridge's own values (pure).

Each instance has one retained topic per leaf of `INSTANCE_LEAVES`, the one table
of the per-instance contract: the mirror publishes and clears exactly its leaves,
`parse_instance_topic` accepts exactly them, and readers decode a leaf through it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from bridge.core.model import decode_state, decode_status, encode_state, encode_status

if TYPE_CHECKING:
    from bridge.core.model import InstanceStatus

DEFAULT_PREFIX = "ankaios"
STATE_LEAF = "state"
STATUS_LEAF = "status"
# `$` cannot occur in Ankaios agent or workload names (ALLOWED_CHAR_SET is
# [a-zA-Z0-9_-]), so the bridge's own topics never collide with an agent level.
BRIDGE_LEVEL = "$bridge"
# `<prefix>/<agent>/$agent/status`: beside the agent's workloads, never one of them.
AGENT_LEVEL = "$agent"
_FORBIDDEN_PREFIX_CHARS = ("+", "#", "\x00")

# `$bridge/status`: the broker link says online at connect and offline as its will.
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


@dataclass(frozen=True, slots=True)
class LeafCodec:
    """How one retained leaf of an instance is written and read.

    `decode` takes a non-empty payload (an empty one clears the leaf) and returns
    None for one that no bridge writes.
    """

    encode: Callable[[InstanceStatus], bytes]
    decode: Callable[[bytes], object | None]


# The per-instance contract, in publish order: a leaf added here is published,
# cleared, parsed and read everywhere.
# (A plain dict: `parse_instance_topic` looks a leaf up for every broker message.)
INSTANCE_LEAVES: Mapping[str, LeafCodec] = {
    STATE_LEAF: LeafCodec(encode_state, decode_state),
    STATUS_LEAF: LeafCodec(encode_status, decode_status),
}


class InstanceKey(NamedTuple):
    """One workload instance as Ankaios names it; `agent` is empty when not scheduled.

    A NamedTuple rather than a frozen dataclass: it keys every dictionary on the
    event path, and tuple hashing and equality run in C.
    """

    agent: str
    workload: str
    instance_id: str


def validate_prefix(prefix: str) -> str | None:
    """Return why `prefix` cannot be a topic prefix, or None when it can."""
    if not prefix:
        return "must not be empty"
    for char in _FORBIDDEN_PREFIX_CHARS:
        if char in prefix:
            return f"must not contain {char!r}"
    if prefix.startswith("/") or prefix.endswith("/"):
        return "must not start or end with '/'"
    return None


def instance_topic(prefix: str, key: InstanceKey, leaf: str) -> str:
    """Return the topic of one of an instance's retained leaves."""
    return f"{prefix}/{key.agent}/{key.workload}/{key.instance_id}/{leaf}"


def bridge_topic(prefix: str, name: str) -> str:
    """Return a topic of the bridge itself, under `<prefix>/$bridge/`."""
    return f"{prefix}/{BRIDGE_LEVEL}/{name}"


def agent_topic(prefix: str, agent: str) -> str:
    """Return the retained topic of an agent's status."""
    return f"{prefix}/{agent}/{AGENT_LEVEL}/{STATUS_LEAF}"


def parse_agent_topic(prefix: str, topic: str) -> str | None:
    """Return the agent whose status topic `topic` is, or None for any other shape."""
    head, tail = prefix + "/", f"/{AGENT_LEVEL}/{STATUS_LEAF}"
    if not topic.startswith(head) or not topic.endswith(tail):
        return None
    agent = topic[len(head) : -len(tail)]
    if not agent or "/" in agent or agent == BRIDGE_LEVEL:
        return None
    return agent


def prefix_filter(prefix: str) -> str:
    """Return the subscription filter that covers every topic under the prefix."""
    return f"{prefix}/#"


def parse_instance_topic(prefix: str, topic: str) -> tuple[InstanceKey, str] | None:
    """Return the instance and leaf a topic belongs to, or None for any other shape.

    The leaf is one of `INSTANCE_LEAVES`. The agent level may be empty (a workload
    that is not scheduled); workload and instance id may not.
    """
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    levels = topic[len(head) :].split("/")
    if len(levels) != 4:  # noqa: PLR2004 - agent/workload/id/leaf
        return None
    agent, workload, instance_id, leaf = levels
    if not workload or not instance_id or leaf not in INSTANCE_LEAVES or agent == BRIDGE_LEVEL:
        return None
    return InstanceKey(agent, workload, instance_id), leaf
