"""The mirror: which retained publishes keep the broker equal to what Ankaios reports (pure).

It holds the truth (every instance and since when it is in its state, every
agent), the broker's retained view under the prefix, the broker connection's
generation and whether its retained burst is complete. No thread, lock, clock or
I/O: the time comes with each input and the publishes go back to the caller,
which reports a publish that could not be handed to the broker as SendFailed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import assert_never

from bridge.core.agents import AgentMirror
from bridge.core.echoes import Echoes
from bridge.core.health import Health
from bridge.core.info import (
    SUBSCRIPTION,
    BridgeFacts,
    Counters,
    InfoFields,
    StopReason,
)
from bridge.core.inputs import (
    Agents,
    AnkaiosLink,
    BrokerConnected,
    BrokerDisconnected,
    BrokerMessage,
    BrokerSynced,
    Changes,
    Granted,
    Infos,
    MirrorInput,
    SendFailed,
    Snapshot,
    Tick,
)
from bridge.core.instances import InstanceMirror
from bridge.core.topics import (
    INSTANCE_LEAVES,
    Publish,
    bridge_topic,
    parse_agent_topic,
    parse_instance_topic,
)
from bridge.mqtt.version import MQTT311
from bridge.settings.commands import MirrorSettings

LOG = logging.getLogger(__name__)
_MAX_LOGGED = 1000


class Mirror:
    """The bridge's decisions: `handle(input, now)` returns the publishes to make, in order."""

    def __init__(self, facts: BridgeFacts, settings: MirrorSettings) -> None:
        prefix = facts.prefix
        self.prefix = prefix
        self.instances = InstanceMirror(prefix)
        self.agents = AgentMirror(prefix, settings.agent_status_interval)
        self.retained: dict[str, bytes] = {}
        self.synced = False
        self.counters = Counters()
        self._generation = 0
        self._bridge_root = bridge_topic(prefix, "")
        self.health = Health(facts, settings.info_interval)
        self._logged_foreign: set[str] = set()
        self.echoes = Echoes()

    def handle(  # noqa: C901, PLR0912 - one case per kind of input
        self, item: MirrorInput, now: datetime
    ) -> list[Publish]:
        """Apply one input; return the publishes (the retained view already counts them)."""
        instances, agents, echoes = self.instances, self.agents, self.echoes
        match item:
            case BrokerMessage(topic=topic, payload=payload, retain=False) if (
                not echoes.expected or echoes.returned(topic, payload)
            ):
                # Under MQTT 5 (Retain As Published) a live publish changes nothing a new
                # subscriber sees. Under 3.1.1 a foreign retained publish also arrives live,
                # so anything but the bridge's own echo is checked against the truth (which
                # republishes the truth after a foreign live publish: harmless). Echoes are
                # half of all input under 3.1.1: they leave here, before any other work.
                return []
            case BrokerMessage():
                plan = self._observe(item, now)
            case Changes():
                self.counters.events += 1
                keys = instances.changes(item, now)
                plan = instances.plan(keys, self.retained) if self.synced else []
            case Snapshot():
                instances.snapshot(item, now)
                plan = self._reconcile(now) if self.synced else []
            case Infos():
                self.counters.events += not item.complete
                keys = instances.apply_infos(item, now)
                plan = instances.plan(keys, self.retained) if self.synced else []
            case Agents():
                self.counters.events += not item.complete
                names = agents.apply(item, now)
                plan = agents.plan(names, self.retained, now) if self.synced else []
            case Tick():
                plan = agents.plan(agents.due(now), self.retained, now) if self.synced else []
            case Granted(masks=masks):
                self.health.masks = masks
                plan = []
            case AnkaiosLink(reconnects=reconnects):
                self.health.link(item)
                self.counters.agentReconnects = reconnects
                plan = self.health.ankaios_plan(self.retained) if self.synced else []
            case BrokerConnected(generation=generation, version=version):
                self._generation, self.health.version = generation, version
                echoes.reset(expected=version == MQTT311)
                self.counters.brokerReconnects = max(generation - 1, 0)
                self.synced = False
                self.retained = {}
                plan = []
            case BrokerSynced(generation=generation, lacks=lacks):
                plan = [] if generation != self._generation else self._sync(lacks, now)
            case BrokerDisconnected() | SendFailed():
                # Not connected: the full reconcile after the next connect repairs it.
                self.synced = False
                plan = []
            case _:
                assert_never(item)
        self._count(plan)
        if self.synced:
            plan.extend(self._info_plan(now))
        echoes.sent(plan)
        return plan

    def farewell(self, stop: StopReason | None, now: datetime) -> list[Publish]:
        """Return the last word before the broker link says `offline`: no Ankaios any more.

        At a fatal stop also `$bridge/info` with `stopped`, so that subscribers (and a
        watchdog) learn why before `offline`; a clean stop leaves the document as it is.
        """
        return self.health.farewell(stop, self._info_fields(), self.counters, now)

    def _sync(self, lacks: tuple[str, ...], now: datetime) -> list[Publish]:
        self.health.lacks = lacks
        if SUBSCRIPTION in lacks:
            # Nothing comes back from a refused subscription, echoes neither.
            self.echoes.reset(expected=False)
        self.synced = True
        self.health.info.forget()
        return self._reconcile(now)

    def next_due(self) -> datetime | None:
        """When a Tick should come next (held-back agent loads or counters), if ever."""
        if not self.synced:
            return None  # the reconcile after the next connect publishes everything
        times = [self.agents.next_due(), self.health.info.held_until(self.counters)]
        return min((time for time in times if time is not None), default=None)

    def _count(self, plan: list[Publish]) -> None:
        retained, counters, own = self.retained, self.counters, self._bridge_root
        for item in plan:
            if item.payload:
                retained[item.topic] = item.payload
            else:
                retained.pop(item.topic, None)
            if not item.topic.startswith(own):
                if item.payload:
                    counters.publishes += 1
                else:
                    counters.clears += 1

    def _info_fields(self) -> InfoFields:
        return self.health.fields(len(self.instances.truth or {}), len(self.agents.truth or {}))

    def _info_plan(self, now: datetime) -> list[Publish]:
        return self.health.info.plan(self._info_fields(), self.counters, now, self.retained)

    def _observe(self, message: BrokerMessage, now: datetime) -> list[Publish]:
        topic = message.topic
        parsed = parse_instance_topic(self.prefix, topic)
        agent = parse_agent_topic(self.prefix, topic) if parsed is None else None
        if parsed is None and agent is None and not topic.startswith(self._bridge_root):
            # Not the bridge's to keep or clear: remembered only in the log (a retained
            # one: under 3.1.1 every foreign live message comes here as well).
            if message.retain:
                self._log_foreign(topic)
            return []
        if message.payload:
            self.retained[topic] = message.payload
        else:
            self.retained.pop(topic, None)
        if not self.synced:
            return []
        plan: list[Publish] = []
        if parsed is not None:
            if self.instances.truth is not None:
                plan = self.instances.plan([parsed[0]], self.retained)
        elif agent is not None:
            if self.agents.truth is not None:
                plan = self.agents.plan([agent], self.retained, now)
        else:
            # `$bridge/status` is the broker link's to keep (bridge.mqtt.status).
            return self.health.observed(topic, message.payload, self.retained)
        self.counters.repairs += len(plan)
        return plan

    def _reconcile(self, now: datetime) -> list[Publish]:
        if self.instances.truth is None:
            # Before the first snapshot only the bridge's own word: a killed
            # predecessor may have left `connected` behind (its will covers `status`).
            return self.health.ankaios_plan(self.retained)
        plan = self.instances.plan_full(self.retained)
        plan.extend(self.agents.plan_full(self.retained, now))
        self.counters.repairs += len(plan)
        plan.extend(self.health.ankaios_plan(self.retained))
        if plan:
            LOG.info("reconciling the broker: %d retained topics to publish or clear", len(plan))
        return plan

    def _log_foreign(self, topic: str) -> None:
        # Bounded: a rogue publisher could invent topics without end.
        if topic in self._logged_foreign or len(self._logged_foreign) >= _MAX_LOGGED:
            return
        self._logged_foreign.add(topic)
        LOG.warning(
            "leaving %s alone: not a topic of the bridge's contract "
            "(<prefix>/<agent>/<workload>/<id>/%s, <prefix>/<agent>/$agent/status)",
            topic,
            "|".join(INSTANCE_LEAVES),
        )
