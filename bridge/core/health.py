"""The bridge's own word beside the link's `status`: `$bridge/ankaios` and `$bridge/info` (pure).

`$bridge/ankaios` says whether the retained tree is what Ankaios reports now;
`$bridge/info` what the bridge is, may read and has done, its warnings and, at a
fatal stop, why it stopped. `$bridge/status` belongs to the broker link
(bridge.mqtt.status).
"""

from __future__ import annotations

from datetime import datetime

from bridge.core.info import BridgeFacts, Counters, InfoFields, InfoTopic, StopReason
from bridge.core.inputs import AnkaiosLink
from bridge.core.model import format_since
from bridge.core.topics import ANKAIOS_CONNECTED, ANKAIOS_DISCONNECTED, Publish, bridge_topic
from bridge.mqtt.version import MQTT5


class Health:
    """What the bridge says of itself; the mirror hands in the counts and the retained view."""

    def __init__(self, facts: BridgeFacts, info_interval: float) -> None:
        self.ankaios = ANKAIOS_DISCONNECTED
        self.ankaios_topic = bridge_topic(facts.prefix, "ankaios")
        self.info = InfoTopic(facts, info_interval)
        self.masks: tuple[str, ...] = ()
        self.version = MQTT5
        self.lacks: tuple[str, ...] = ()
        self.warnings: tuple[str, ...] = ()

    def link(self, item: AnkaiosLink) -> None:
        """Take note of the reader's word on its link to Ankaios."""
        self.ankaios = ANKAIOS_CONNECTED if item.connected else ANKAIOS_DISCONNECTED
        self.warnings = item.warnings

    def ankaios_plan(self, retained: dict[str, bytes]) -> list[Publish]:
        """Return `$bridge/ankaios` when the broker does not hold it yet."""
        if retained.get(self.ankaios_topic) == self.ankaios:
            return []
        return [Publish(self.ankaios_topic, self.ankaios)]

    def fields(self, instances: int, agents: int) -> InfoFields:
        """Return the fields of `$bridge/info` that go out at once when they change."""
        return InfoFields(
            self.masks,
            self.ankaios.decode(),
            instances,
            agents,
            self.version,
            self.lacks,
            self.warnings,
        )

    def farewell(
        self, stop: StopReason | None, fields: InfoFields, counters: Counters, now: datetime
    ) -> list[Publish]:
        """Return the last word before `offline`: no Ankaios any more and, if fatal, why.

        Only a fatal stop says `stopped`, so that subscribers (and a watchdog) learn why
        before `offline`. A clean stop leaves this run's document; one that stops before
        it went out replaces a previous run's, which may hold a `stopped` of its own.
        """
        self.ankaios = ANKAIOS_DISCONNECTED
        plan = [Publish(self.ankaios_topic, ANKAIOS_DISCONNECTED)]
        final = fields._replace(ankaios=ANKAIOS_DISCONNECTED.decode())
        if stop is not None:
            plan.append(self.info.final(final, counters, (stop, format_since(now))))
        elif self.info.published is None:
            plan.append(self.info.final(final, counters, None))
        return plan

    def observed(self, topic: str, payload: bytes, retained: dict[str, bytes]) -> list[Publish]:
        """Correct someone else's retained `$bridge/ankaios`; note someone else's info."""
        if topic == self.ankaios_topic:
            return self.ankaios_plan(retained)
        if topic == self.info.topic:
            self.info.observed(payload)
        return []
