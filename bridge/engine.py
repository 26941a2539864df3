"""The engine: keeps the broker's retained tree equal to what Ankaios reports.

Broker inputs (connects, the retained burst, messages others publish under the
prefix) arrive in one queue served by the engine thread; Ankaios snapshots and
changes are applied on the control-interface reader thread. Both hold one lock,
so decisions happen one at a time, in each source's order.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.model import (
    AnkaiosLink,
    Changes,
    ExecutionState,
    InstanceStatus,
    Snapshot,
    SourceFailed,
    format_since,
)
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


@dataclass(frozen=True, slots=True)
class BrokerConnected:
    """The broker accepted connection number `generation`; its retained burst follows."""

    generation: int


@dataclass(frozen=True, slots=True)
class BrokerSynced:
    """The broker has delivered every retained message of connection `generation`."""

    generation: int


@dataclass(frozen=True, slots=True)
class BrokerDisconnected:
    """The broker connection is gone; paho will retry."""


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """A message under the prefix that someone else published (or the retained burst)."""

    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class Stop:
    """Finish: nothing more is published after this."""


class Publisher(Protocol):
    """What the engine needs of the broker adapter."""

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish retained; return False when not connected (nothing is queued)."""


class Engine:
    """Decides and publishes; `put` and `submit` are thread-safe.

    Broker inputs queue for the engine thread. Ankaios changes are applied on
    the caller's thread (`submit`), under the same lock: one thread hand-off
    less per change. The lock is never taken in a paho callback, so a caller
    waiting for paho inside `publish` cannot deadlock with it.
    """

    def __init__(self, prefix: str, publisher: Publisher, clock: Callable[[], datetime]) -> None:
        self.prefix = prefix
        self.publisher = publisher
        self.clock = clock
        self.failure: str | None = None
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._truth: dict[InstanceKey, InstanceStatus] | None = None
        self._retained: dict[str, bytes] = {}
        self._status_topic = bridge_topic(prefix, "status")
        self._ankaios_topic = bridge_topic(prefix, "ankaios")
        self._ankaios = ANKAIOS_DISCONNECTED
        self._bridge_root = bridge_topic(prefix, "")
        self._generation = 0
        self._synced = False
        self._since_settled = False
        self._logged_foreign: set[str] = set()
        self.finished = threading.Event()

    def start(self) -> None:
        """Start the engine thread."""
        self._thread.start()

    def put(self, item: object) -> None:
        """Hand an input to the engine thread."""
        self._inbox.put(item)

    def submit(self, item: object) -> None:
        """Apply what Ankaios reports now, on this thread; queue anything else."""
        if isinstance(item, (Changes, Snapshot, AnkaiosLink)):
            self._guarded(item)
        else:
            self.put(item)

    def _guarded(self, item: object) -> None:
        with self._lock:
            if self.finished.is_set():
                return
            try:
                self.handle(item)
            except Exception:
                # A bug must not silently end the mirroring: log it and go on;
                # the next resync or reconnect repairs whatever this input missed.
                LOG.exception("failed to handle %s", type(item).__name__)

    def _run(self) -> None:
        try:
            while True:
                item = self._inbox.get()
                if isinstance(item, Stop):
                    return
                if isinstance(item, SourceFailed):
                    self.failure = item.message
                    return
                self._guarded(item)
        finally:
            self.finished.set()

    def handle(self, item: object) -> None:
        """Apply one input (the caller holds the engine's lock)."""
        if isinstance(item, Changes):
            self._apply_changes(item)
        elif isinstance(item, BrokerMessage):
            self._observe(item)
        elif isinstance(item, Snapshot):
            self._apply_snapshot(item)
        elif isinstance(item, AnkaiosLink):
            self._ankaios = ANKAIOS_CONNECTED if item.connected else ANKAIOS_DISCONNECTED
            if self._synced:
                self._send(self._own_topics())
        elif isinstance(item, BrokerConnected):
            self._generation = item.generation
            self._synced = False
            self._retained = {}
        elif isinstance(item, BrokerSynced):
            if item.generation == self._generation:
                self._synced = True
                self._reconcile()
        elif isinstance(item, BrokerDisconnected):
            self._synced = False

    def _status_for(self, key: InstanceKey, execution: ExecutionState) -> InstanceStatus:
        assert self._truth is not None  # noqa: S101 - set by the first snapshot
        known = self._truth.get(key)
        if known is not None and known.execution == execution:
            return known
        return InstanceStatus(key, execution, format_since(self.clock()))

    def _apply_snapshot(self, snapshot: Snapshot) -> None:
        if self._truth is None:
            self._truth = {}
        self._truth = {
            key: self._status_for(key, execution) for key, execution in snapshot.instances.items()
        }
        if self._synced:
            self._reconcile()

    def _apply_changes(self, changes: Changes) -> None:
        truth = self._truth
        if truth is None:
            return
        touched: list[InstanceKey] = []
        for key, execution in changes.upserts.items():
            status = self._status_for(key, execution)
            if truth.get(key) is not status:
                truth[key] = status
                touched.append(key)
        touched.extend(key for key in changes.removals if truth.pop(key, None) is not None)
        if self._synced:
            for key in touched:
                self._send(plan_instance(self.prefix, key, truth.get(key), self._retained))

    def _observe(self, message: BrokerMessage) -> None:
        if not message.retain:
            # A non-retained publish changes nothing a new subscriber sees.
            return
        parsed = parse_instance_topic(self.prefix, message.topic)
        if parsed is None and not message.topic.startswith(self._bridge_root):
            # Not the bridge's to keep or clear: remembered only in the log.
            self._log_foreign(message.topic)
            return
        if message.payload:
            self._retained[message.topic] = message.payload
        else:
            self._retained.pop(message.topic, None)
        if not self._synced:
            return
        if parsed is not None and self._truth is not None:
            key = parsed[0]
            self._send(plan_instance(self.prefix, key, self._truth.get(key), self._retained))
        elif message.topic == self._status_topic and message.payload != ONLINE:
            # A late will of an old bridge instance (or a stray publish) must not
            # leave a running bridge marked offline.
            LOG.info(
                "%s said %r while the bridge runs; restoring online",
                message.topic,
                message.payload[:20],
            )
            self._send([Publish(self._status_topic, ONLINE)])
        elif message.topic == self._ankaios_topic:
            self._send(self._own_topics())

    def _reconcile(self) -> None:
        if self._truth is None:
            # Before the first snapshot only the bridge's own word: a killed
            # predecessor may have left `connected` behind (its will covers `status`).
            self._send(self._own_topics())
            return
        if not self._since_settled:
            self._settle_since(self._truth)
        plan = plan_full(self.prefix, self._truth, self._retained)
        plan.extend(self._own_topics())
        if self._retained.get(self._status_topic) != ONLINE:
            plan.append(Publish(self._status_topic, ONLINE))
        if plan:
            LOG.info("reconciling the broker: %d retained topics to publish or clear", len(plan))
        self._send(plan)

    def _own_topics(self) -> list[Publish]:
        if self._retained.get(self._ankaios_topic) == self._ankaios:
            return []
        return [Publish(self._ankaios_topic, self._ankaios)]

    def _settle_since(self, truth: dict[InstanceKey, InstanceStatus]) -> None:
        for key, status in truth.items():
            since = retained_since(self.prefix, key, status.execution, self._retained)
            if since is not None:
                truth[key] = InstanceStatus(key, status.execution, since)
        self._since_settled = True

    def _send(self, plan: list[Publish]) -> None:
        retained = self._retained
        for item in plan:
            if not self.publisher.publish(item.topic, item.payload):
                # Not connected: the full reconcile after the next connect repairs it.
                self._synced = False
                return
            if item.payload:
                retained[item.topic] = item.payload
            else:
                retained.pop(item.topic, None)

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
