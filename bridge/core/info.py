"""`<prefix>/$bridge/info`: what the bridge is, what it may read and what it has done (pure).

Published on every broker connect and at once when a field changes; a change of
the counters alone at most once per interval, so a busy vehicle does not turn
the info topic into a second event stream.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from bridge.core.topics import Publish, bridge_topic

# What `brokerLacks` may name: the broker sends no retained messages to wildcard
# subscriptions, keeps none at all, or refused the subscription to `<prefix>/#`.
RETAINED_ON_WILDCARD = "retainedOnWildcard"
RETAINED = "retained"
SUBSCRIPTION = "subscription"


@dataclass(frozen=True, slots=True)
class BridgeFacts:
    """What does not change while the bridge runs."""

    version: str
    started: str
    prefix: str
    qos: int


@dataclass(frozen=True, slots=True)
class StopReason:
    """Why the bridge had to stop: what happened, what to do, whether re-creating it helps."""

    reason: str
    advice: str
    recreate: bool

    def line(self) -> str:
        """Return the one log line: the reason, then the advice."""
        return f"{self.reason}; {self.advice}"


@dataclass(slots=True)
class Counters:
    """Totals since the bridge started, as `$bridge/info` names them."""

    events: int = 0
    publishes: int = 0
    clears: int = 0
    brokerReconnects: int = 0  # noqa: N815 - the JSON key
    agentReconnects: int = 0  # noqa: N815 - the JSON key
    repairs: int = 0

    def values(self) -> tuple[int, ...]:
        """Return the counters as a tuple, cheap to compare after every input."""
        return (
            self.events,
            self.publishes,
            self.clears,
            self.brokerReconnects,
            self.agentReconnects,
            self.repairs,
        )


class InfoFields(NamedTuple):
    """The fields of the document that are published at once when they change.

    A NamedTuple: made and compared after every input (creation and equality in C).
    """

    masks: tuple[str, ...] = ()
    ankaios: str = "disconnected"
    instances: int = 0
    agents: int = 0
    # The MQTT version spoken to the broker, and what the broker lacks (bridge.mqtt.sync).
    protocol: str = "5"
    lacks: tuple[str, ...] = ()
    # What a subscriber should know while the bridge runs (bridge.ankaios.stops.warnings).
    warnings: tuple[str, ...] = ()


def encode_info(
    facts: BridgeFacts,
    fields: InfoFields,
    counters: Counters,
    stopped: tuple[StopReason, str] | None = None,
) -> bytes:
    """Return the JSON payload of `$bridge/info`; at a fatal stop `stopped` (reason, when)."""
    document: dict[str, object] = {
        "version": facts.version,
        "started": facts.started,
        "prefix": facts.prefix,
        "qos": facts.qos,
        "protocol": fields.protocol,
        "brokerLacks": list(fields.lacks),
        "masks": list(fields.masks),
        "ankaios": fields.ankaios,
        "instances": fields.instances,
        "agents": fields.agents,
        "counters": asdict(counters),
        "warnings": list(fields.warnings),
    }
    if stopped is not None:
        stop, at = stopped
        document["stopped"] = {
            "reason": stop.reason,
            "advice": stop.advice,
            "at": at,
            "recreate": stop.recreate,
        }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


class InfoTopic:
    """`$bridge/info` as sent: what went out last and when.

    A counters-only change waits `interval` seconds (0: none).
    """

    def __init__(self, facts: BridgeFacts, interval: float) -> None:
        self.facts = facts
        self.topic = bridge_topic(facts.prefix, "info")
        self.interval = timedelta(seconds=interval)
        self.payload = b""
        self.published: InfoFields | None = None
        self.counters: tuple[int, ...] = ()
        self.published_at: datetime | None = None
        # published_at + interval, made once per publish rather than after every input.
        self.until: datetime | None = None

    def held_until(self, counters: Counters) -> datetime | None:
        """When held-back counters may go out; None when nothing is held back."""
        if self.until is None or counters.values() == self.counters:
            return None
        return self.until

    def plan(
        self, fields: InfoFields, counters: Counters, now: datetime, retained: dict[str, bytes]
    ) -> list[Publish]:
        """Return the document's publish when it must go out at `now` (`retained` counts it)."""
        if not self._due(fields, counters, now):
            return []
        self.published, self.published_at, self.counters = fields, now, counters.values()
        self.until = now + self.interval
        self.payload = encode_info(self.facts, fields, counters)
        if retained.get(self.topic) == self.payload:
            return []
        retained[self.topic] = self.payload
        return [Publish(self.topic, self.payload)]

    def _due(self, fields: InfoFields, counters: Counters, now: datetime) -> bool:
        if self.published is None or self.published_at is None or fields != self.published:
            return True
        until = self.held_until(counters)
        # A wall clock set back (NTP on a vehicle that booted without time) must not
        # hold the counters back for as long as it jumped.
        return until is not None and (now >= until or now < self.published_at)

    def final(
        self, fields: InfoFields, counters: Counters, stopped: tuple[StopReason, str] | None
    ) -> Publish:
        """Return the document at a stop (with the reason and time if fatal), before `offline`."""
        self.payload = encode_info(self.facts, fields, counters, stopped)
        return Publish(self.topic, self.payload)

    def observed(self, payload: bytes) -> None:
        """Take note of the topic as the broker holds it: someone else's is replaced."""
        if payload != self.payload:
            self.forget()

    def forget(self) -> None:
        """Publish at the next chance: the broker may hold none of it (a new connection)."""
        self.published = None
