"""The dashboard's broker link: the only paho user, turning callbacks into view events."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from bridge.core.topics import prefix_filter
from bridge.dashboard.events import Connected, Disconnected, Received, SnapshotEnd
from bridge.dashboard.snapshot import Outcome, SnapshotMarker
from bridge.mqtt.follower import Follower

if TYPE_CHECKING:
    from types import TracebackType

    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.dashboard.events import Event
    from bridge.mqtt.reconnect import Failure
    from bridge.settings.broker import MqttSettings


class Inbox:
    """Events handed from the network thread to the main thread, taken in batches.

    Only the first event of a batch wakes the reader: a wake-up per message made
    reading a 10,000-topic snapshot cost a third more CPU time.
    """

    def __init__(self) -> None:
        self._events: list[Event] = []
        self._ready = threading.Condition()

    def put(self, event: Event) -> None:
        """Add an event; called by the network thread."""
        with self._ready:
            self._events.append(event)
            if len(self._events) == 1:
                self._ready.notify()

    def take(self, timeout: float, gather: float = 0.0) -> list[Event]:
        """Return the events so far, waiting up to `timeout` for one, then `gather` s for more."""
        with self._ready:
            if not self._events and not self._ready.wait(max(timeout, 0)):
                return []
            end = time.monotonic() + gather
            # No put() notifies while events are waiting, so this waits out `gather`.
            while (left := end - time.monotonic()) > 0:
                self._ready.wait(left)
            events, self._events = self._events, []
        return events


class Feed(Follower):
    """Subscribes read-only to `<prefix>/#` and puts view events on `events`.

    bridge.dashboard.snapshot tells when the retained snapshot is over; every
    failure goes on `events` as a Disconnected event.
    """

    def __init__(self, settings: MqttSettings, events: Inbox) -> None:
        super().__init__(settings, "dashboard-mqtt")
        self.events = events
        self.snapshot = SnapshotMarker(settings.prefix)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def report(self, failure: Failure) -> None:
        """Put the failure on `events`."""
        self.events.put(Disconnected(datetime.now(UTC), failure.cause, refused=failure.refused))

    def connected(self, client: mqtt.Client) -> None:
        """Say so, then subscribe to the prefix through the snapshot marker."""
        self.events.put(Connected(datetime.now(UTC)))
        self.snapshot.start(client)

    def on_subscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        """Give up on a refused subscription: the dashboard needs it."""
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            prefix = prefix_filter(self.settings.prefix)
            topic = self.snapshot.status_topic if self.snapshot.probing else prefix
            self.refuse(client, f"refused the subscription to {topic}: {failed[0]}")

    def on_unsubscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        """Tell the snapshot marker; its answer may end the snapshot or the dashboard."""
        if self.refused:
            return
        outcome = self.snapshot.answered(client, mid)
        if outcome is Outcome.END:
            self.events.put(SnapshotEnd(datetime.now(UTC)))
        elif outcome is Outcome.NO_WILDCARD_RETAINED:
            prefix = self.settings.prefix
            lack = (
                f"the broker at {self.settings.address} sends no retained messages to wildcard "
                f"subscriptions such as {prefix}/#, which the dashboard needs to list every "
                f"workload; subscribe to exact topics ({prefix}/<agent>/<workload>/<id>/state)"
            )
            self.refused = True
            self.reconnect.stop()
            self.events.put(Disconnected(datetime.now(UTC), lack, refused=True, final=True))
            client.disconnect()

    def on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        """Put the message on `events` (a topic that is no UTF-8 as None)."""
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        self.snapshot.seen(topic, retain=bool(msg.retain))
        self.events.put(Received(datetime.now(UTC), topic, bytes(msg.payload), bool(msg.retain)))
