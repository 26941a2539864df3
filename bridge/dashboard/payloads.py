"""Decoders of the agent and info payloads the dashboard reads: None for garbage (pure).

An instance's leaves are decoded through the per-instance contract,
bridge.core.topics.INSTANCE_LEAVES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from bridge.core.model import parse_since

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """The decoded `<agent>/$agent/status` topic: the agent's load as its last report gave it."""

    cpu_usage: int | None
    free_memory: int | None
    tags: tuple[tuple[str, str], ...]
    since: datetime


def decode_agent(payload: bytes) -> AgentStatus | Literal[""] | None:
    """Return the agent's status, "" for a clear, or None for garbage."""
    if not payload:
        return ""
    document = _object(payload)
    if document is None:
        return None
    cpu, memory = document.get("cpuUsage"), document.get("freeMemory")
    tags = document.get("tags", {})
    since = parse_since(document.get("since"))
    if since is None or not (_count(cpu) and _count(memory) and isinstance(tags, dict)):
        return None
    pairs = tuple(sorted(tags.items()))
    if not all(isinstance(value, str) for _, value in pairs):
        return None
    return AgentStatus(cpu, memory, pairs, since)  # type: ignore[arg-type]


def decode_info(payload: bytes) -> Mapping[str, object] | Literal[""] | None:
    """Return the bridge's `info` document as sent, "" for a clear, or None for garbage."""
    if not payload:
        return ""
    document = _object(payload)
    return None if document is None else MappingProxyType(document)


def _count(value: object) -> bool:
    """Tell whether `value` is null or a non-negative integer (bool is no number here)."""
    return value is None or (type(value) is int and value >= 0)


def _object(payload: bytes) -> dict[str, object] | None:
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        # Anyone who may write under the prefix can publish deeply nested JSON or
        # numbers too long to convert: not a document, never a crash.
        return None
    return document if isinstance(document, dict) else None
