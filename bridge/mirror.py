"""The mirror: which retained publishes keep the broker equal to what Ankaios reports (pure).

It holds the truth (every instance and since when it is in its state), the
broker's retained view under the prefix, the broker connection's generation and
whether its retained burst is complete. No thread, lock, clock or I/O: the time
comes with each input and the publishes go back to the caller, which reports a
publish that could not be handed to the broker as SendFailed.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import assert_never

from bridge.inputs import (
    AnkaiosLink,
    BrokerConnected,
    BrokerDisconnected,
    BrokerMessage,
    BrokerSynced,
    Changes,
    MirrorInput,
    SendFailed,
    Snapshot,
)
from bridge.model import ExecutionState, InstanceStatus, format_since
from bridge.reconcile import (
    ANKAIOS_CONNECTED,
    ANKAIOS_DISCONNECTED,
    ONLINE,
    Publish,
    plan_full,
    plan_instance,
    retained_since,
)
from bridge.topics import InstanceKey, bridge_topic, parse_instance_topic

LOG = logging.getLogger(__name__)
_MAX_LOGGED = 1000


class Mirror:
    """The bridge's decisions: `handle(input, now)` returns the publishes to make, in order."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.truth: dict[InstanceKey, InstanceStatus] | None = None
        self.retained: dict[str, bytes] = {}
        self.synced = False
        self._generation = 0
        self._ankaios = ANKAIOS_DISCONNECTED
        self._status_topic = bridge_topic(prefix, "status")
        self._ankaios_topic = bridge_topic(prefix, "ankaios")
        self._bridge_root = bridge_topic(prefix, "")
        self._since_settled = False
        self._logged_foreign: set[str] = set()

    def handle(self, item: MirrorInput, now: datetime) -> list[Publish]:
        """Apply one input; return the publishes (the retained view already counts them)."""
        match item:
            case Changes():
                plan = self._apply_changes(item, now)
            case BrokerMessage():
                plan = self._observe(item)
            case Snapshot():
                plan = self._apply_snapshot(item, now)
            case AnkaiosLink(connected=connected):
                self._ankaios = ANKAIOS_CONNECTED if connected else ANKAIOS_DISCONNECTED
                plan = self._own_topics() if self.synced else []
            case BrokerConnected(generation=generation):
                self._generation = generation
                self.synced = False
                self.retained = {}
                plan = []
            case BrokerSynced(generation=generation):
                plan = []
                if generation == self._generation:
                    self.synced = True
                    plan = self._reconcile()
            case BrokerDisconnected() | SendFailed():
                # Not connected: the full reconcile after the next connect repairs it.
                self.synced = False
                plan = []
            case _:
                assert_never(item)
        return self._count(plan)

    def _count(self, plan: list[Publish]) -> list[Publish]:
        retained = self.retained
        for item in plan:
            if item.payload:
                retained[item.topic] = item.payload
            else:
                retained.pop(item.topic, None)
        return plan

    def _status_for(
        self, key: InstanceKey, execution: ExecutionState, now: datetime
    ) -> InstanceStatus:
        known = self.truth.get(key) if self.truth is not None else None
        if known is not None and known.execution == execution:
            return known
        return InstanceStatus(key, execution, format_since(now))

    def _apply_snapshot(self, snapshot: Snapshot, now: datetime) -> list[Publish]:
        self.truth = {
            key: self._status_for(key, execution, now)
            for key, execution in snapshot.instances.items()
        }
        return self._reconcile() if self.synced else []

    def _apply_changes(self, changes: Changes, now: datetime) -> list[Publish]:
        truth = self.truth
        if truth is None:
            return []
        touched: list[InstanceKey] = []
        for key, execution in changes.upserts.items():
            status = self._status_for(key, execution, now)
            if truth.get(key) is not status:
                truth[key] = status
                touched.append(key)
        touched.extend(key for key in changes.removals if truth.pop(key, None) is not None)
        if not self.synced:
            return []
        plan: list[Publish] = []
        for key in touched:
            plan.extend(plan_instance(self.prefix, key, truth.get(key), self.retained))
        return plan

    def _observe(self, message: BrokerMessage) -> list[Publish]:
        if not message.retain:
            # A non-retained publish changes nothing a new subscriber sees.
            return []
        parsed = parse_instance_topic(self.prefix, message.topic)
        if parsed is None and not message.topic.startswith(self._bridge_root):
            # Not the bridge's to keep or clear: remembered only in the log.
            self._log_foreign(message.topic)
            return []
        if message.payload:
            self.retained[message.topic] = message.payload
        else:
            self.retained.pop(message.topic, None)
        if not self.synced:
            return []
        if parsed is None:
            return self._correct_own(message)
        if self.truth is None:
            return []
        key = parsed[0]
        return plan_instance(self.prefix, key, self.truth.get(key), self.retained)

    def _correct_own(self, message: BrokerMessage) -> list[Publish]:
        if message.topic == self._status_topic and message.payload != ONLINE:
            # A late will of an old bridge instance (or a stray publish) must not
            # leave a running bridge marked offline.
            LOG.info(
                "%s said %r while the bridge runs; restoring online",
                message.topic,
                message.payload[:20],
            )
            return [Publish(self._status_topic, ONLINE)]
        if message.topic == self._ankaios_topic:
            return self._own_topics()
        return []

    def _reconcile(self) -> list[Publish]:
        if self.truth is None:
            # Before the first snapshot only the bridge's own word: a killed
            # predecessor may have left `connected` behind (its will covers `status`).
            return self._own_topics()
        if not self._since_settled:
            self._settle_since(self.truth)
        plan = plan_full(self.prefix, self.truth, self.retained)
        plan.extend(self._own_topics())
        if self.retained.get(self._status_topic) != ONLINE:
            plan.append(Publish(self._status_topic, ONLINE))
        if plan:
            LOG.info("reconciling the broker: %d retained topics to publish or clear", len(plan))
        return plan

    def _own_topics(self) -> list[Publish]:
        if self.retained.get(self._ankaios_topic) == self._ankaios:
            return []
        return [Publish(self._ankaios_topic, self._ankaios)]

    def _settle_since(self, truth: dict[InstanceKey, InstanceStatus]) -> None:
        # A restarted bridge keeps the `since` of a retained status that still holds.
        for key, status in truth.items():
            since = retained_since(self.prefix, key, status.execution, self.retained)
            if since is not None:
                truth[key] = InstanceStatus(key, status.execution, since)
        self._since_settled = True

    def _log_foreign(self, topic: str) -> None:
        # Bounded: a rogue publisher could invent topics without end.
        if topic in self._logged_foreign or len(self._logged_foreign) >= _MAX_LOGGED:
            return
        self._logged_foreign.add(topic)
        LOG.warning(
            "leaving %s alone: not a topic of the bridge's contract "
            "(<prefix>/<agent>/<workload>/<id>/state|status)",
            topic,
        )
