"""The agents' half of the mirror: agents as the bridge publishes them, and when (pure).

An event's state is filtered by the paths it reports (upstream `server_state.rs`
`get_complete_state_by_field_mask`): a load update carries only the value that
changed, so what an answer says of an agent is merged into what is known, path by path.

Ankaios refreshes every agent's load every 2 s (upstream `agent_manager.rs`
RESOURCE_MEASUREMENT_INTERVAL_TICK); a load-only change is published at most once
per interval, always with the latest values. An agent appearing, going or
changing its tags is published at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bridge.core.inputs import AgentReport, Agents
from bridge.core.model import format_since, retained_since
from bridge.core.topics import Publish, agent_topic, parse_agent_topic

_STATUS = "status"
_TAGS = "tags"
_CPU = "cpuUsage"
_MEMORY = "freeMemory"


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


class AgentMirror:
    """Agents as Ankaios lists them (None until the first answer) and their held-back loads."""

    def __init__(self, prefix: str, interval: float) -> None:
        self.prefix = prefix
        self.interval = timedelta(seconds=interval)
        self.truth: dict[str, AgentStatus] | None = None
        self._published_at: dict[str, datetime] = {}
        self._held: set[str] = set()
        self._since_settled = False

    def apply(self, item: Agents, now: datetime) -> list[str]:
        """Apply an answer or event; return the agents whose topic must be published now."""
        if item.complete:
            return self._replace(item, now)
        return self._apply_event(item, now) if self.truth is not None else []

    def _apply_event(self, item: Agents, now: datetime) -> list[str]:
        truth = self.truth
        assert truth is not None  # noqa: S101 - checked by apply()
        urgent: list[str] = []
        for name, fields in item.removed:
            known = truth.get(name)
            if known is None:
                continue
            changed = unset(known, fields)
            if changed is None:
                del truth[name]
                urgent.append(name)
            elif changed != known:
                self._update(name, known, changed, now, urgent)
        for name, fields in item.altered:
            report = item.reports.get(name)
            if report is None:
                continue
            known = truth.get(name)
            if known is None:
                truth[name] = from_report(name, report, format_since(now))
                urgent.append(name)
                continue
            changed = merge(known, fields, report)
            if changed is not None and changed != known:
                self._update(name, known, changed, now, urgent)
        return urgent

    def _replace(self, item: Agents, now: datetime) -> list[str]:
        old = self.truth or {}
        since = format_since(now)
        self.truth = {
            name: from_report(name, report, old[name].since if name in old else since)
            for name, report in item.reports.items()
        }
        return sorted(old.keys() | self.truth.keys())

    def _update(
        self, name: str, known: AgentStatus, changed: AgentStatus, now: datetime, urgent: list[str]
    ) -> None:
        assert self.truth is not None  # noqa: S101 - only with a known truth
        self.truth[name] = changed
        last = self._published_at.get(name)
        if load_only(known, changed) and last is not None and not self._elapsed(last, now):
            self._held.add(name)
        else:
            urgent.append(name)

    def _elapsed(self, last: datetime, now: datetime) -> bool:
        # A wall clock set back must not hold the load back for as long as it jumped.
        return now - last >= self.interval or now < last

    def due(self, now: datetime) -> list[str]:
        """Return the agents whose held-back load may go out at `now`."""
        ready = sorted(name for name in self._held if self._elapsed(self._published_at[name], now))
        self._held.difference_update(ready)
        return ready

    def next_due(self) -> datetime | None:
        """Return the earliest time a held-back load may go out, if any is held."""
        return min((self._published_at[name] + self.interval for name in self._held), default=None)

    def plan(
        self, names: Iterable[str], retained: Mapping[str, bytes], now: datetime
    ) -> list[Publish]:
        """Return the publishes that make the broker hold the truth for `names`."""
        truth = self.truth or {}
        plan: list[Publish] = []
        for name in names:
            status = truth.get(name)
            payload = encode_agent(status) if status is not None else b""
            self._held.discard(name)
            if status is not None:
                self._published_at[name] = now
            else:
                self._published_at.pop(name, None)
            topic = agent_topic(self.prefix, name)
            if retained.get(topic, b"") != payload:
                plan.append(Publish(topic, payload))
        return plan

    def plan_full(self, retained: Mapping[str, bytes], now: datetime) -> list[Publish]:
        """Return the publishes that make the broker's agent topics equal the truth.

        Before the first answer (or when Ankaios denies reading agents) the truth is
        unknown and the agent topics are left as they are.
        """
        if self.truth is None:
            return []
        if not self._since_settled:
            self._since_settled = True
            for name, status in self.truth.items():
                since = retained_since(retained.get(agent_topic(self.prefix, name)))
                if since is not None:
                    self.truth[name] = replace(status, since=since)
        plan = self.plan(sorted(self.truth), retained, now)
        for topic, payload in retained.items():
            agent = parse_agent_topic(self.prefix, topic)
            if agent is not None and agent not in self.truth and payload:
                plan.append(Publish(topic, b""))
        return plan
