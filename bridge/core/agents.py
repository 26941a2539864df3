"""Agents as the bridge publishes them: load and tags merged from events, and the payload (pure).

An event's state is filtered by the paths it reports (upstream `server_state.rs`
`get_complete_state_by_field_mask`): a load update carries only the value that
changed, so what an answer says of an agent is merged into what is known, path by path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bridge.core.model import MAX_PAYLOAD_BYTES, is_since
from bridge.core.topics import agent_topic

_STATUS = "status"
_TAGS = "tags"
_CPU = "cpuUsage"
_MEMORY = "freeMemory"


@dataclass(frozen=True, slots=True)
class AgentReport:
    """What one answer holds of one agent; None where the (filtered) state left it out."""

    cpu_usage: int | None = None
    free_memory: int | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """What the bridge publishes for one agent: its load, its tags and since when it is seen."""

    name: str
    cpu_usage: int | None
    free_memory: int | None
    tags: tuple[tuple[str, str], ...]
    since: str


def from_report(name: str, report: AgentReport, since: str) -> AgentStatus:
    """Return the status of an agent that an answer reports whole."""
    tags = tuple(sorted((report.tags or {}).items()))
    return AgentStatus(name, report.cpu_usage, report.free_memory, tags, since)


def merge(known: AgentStatus, fields: tuple[str, ...], report: AgentReport) -> AgentStatus | None:
    """Return `known` with the field an added or updated path names taken from `report`.

    None when the path names nothing the bridge keeps (a field a newer Ankaios added).
    """
    if not fields:
        return from_report(known.name, report, known.since)
    head, rest = fields[0], fields[1:]
    if head == _STATUS:
        cpu = report.cpu_usage if not rest or rest[0] == _CPU else known.cpu_usage
        memory = report.free_memory if not rest or rest[0] == _MEMORY else known.free_memory
        return replace(known, cpu_usage=cpu, free_memory=memory)
    if head == _TAGS:
        given = report.tags or {}
        if not rest:
            return replace(known, tags=tuple(sorted(given.items())))
        # A tag key may hold dots: everything below `tags` is the key.
        key = ".".join(rest)
        tags = dict(known.tags)
        if key in given:
            tags[key] = given[key]
        return replace(known, tags=tuple(sorted(tags.items())))
    return None


def unset(known: AgentStatus, fields: tuple[str, ...]) -> AgentStatus | None:
    """Return `known` without the field a removed path names; None when the agent is gone."""
    if not fields:
        return None
    head, rest = fields[0], fields[1:]
    if head == _STATUS:
        cpu = None if not rest or rest[0] == _CPU else known.cpu_usage
        memory = None if not rest or rest[0] == _MEMORY else known.free_memory
        return replace(known, cpu_usage=cpu, free_memory=memory)
    if head == _TAGS:
        key = ".".join(rest)
        return replace(known, tags=tuple(item for item in known.tags if rest and item[0] != key))
    return known


def load_only(before: AgentStatus, after: AgentStatus) -> bool:
    """Whether only the load changed (such changes are published at most once per interval)."""
    return before.tags == after.tags


def encode_agent(status: AgentStatus) -> bytes:
    """Return the payload of `<prefix>/<agent>/$agent/status`: a compact JSON document."""
    document = {
        "agent": status.name,
        "cpuUsage": status.cpu_usage,
        "freeMemory": status.free_memory,
        "tags": dict(status.tags),
        "since": status.since,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def retained_agent_since(prefix: str, name: str, retained: Mapping[str, bytes]) -> str | None:
    """Return the `since` of a retained agent document, else None (a restarted bridge keeps it)."""
    payload = retained.get(agent_topic(prefix, name))
    if not payload or len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        return None
    since = document.get("since") if isinstance(document, dict) else None
    return since if isinstance(since, str) and is_since(since) else None
