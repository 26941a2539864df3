"""The MQTT topic contract: pure mapping between workload instances and topics."""

from __future__ import annotations

from typing import Literal, NamedTuple

DEFAULT_PREFIX = "ankaios"
STATE_LEAF = "state"
STATUS_LEAF = "status"
# `$` cannot occur in Ankaios agent or workload names (ALLOWED_CHAR_SET is
# [a-zA-Z0-9_-]), so the bridge's own topics never collide with an agent level.
BRIDGE_LEVEL = "$bridge"
# `<prefix>/<agent>/$agent/status`: beside the agent's workloads, never one of them.
AGENT_LEVEL = "$agent"

Leaf = Literal["state", "status"]
_LEAVES: frozenset[str] = frozenset((STATE_LEAF, STATUS_LEAF))
_FORBIDDEN_PREFIX_CHARS = ("+", "#", "\x00")


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


def instance_topic(prefix: str, key: InstanceKey, leaf: Leaf) -> str:
    """Return the topic of one of an instance's two retained leaves."""
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


def parse_instance_topic(prefix: str, topic: str) -> tuple[InstanceKey, Leaf] | None:
    """Return the instance and leaf a topic belongs to, or None for any other shape.

    The agent level may be empty (a workload that is not scheduled); workload and
    instance id may not.
    """
    head = prefix + "/"
    if not topic.startswith(head):
        return None
    levels = topic[len(head) :].split("/")
    if len(levels) != 4:  # noqa: PLR2004 - agent/workload/id/leaf
        return None
    agent, workload, instance_id, leaf = levels
    if not workload or not instance_id or leaf not in _LEAVES or agent == BRIDGE_LEVEL:
        return None
    return InstanceKey(agent, workload, instance_id), leaf  # type: ignore[return-value]
