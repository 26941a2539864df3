"""The dashboard's broker link: the only paho user, turning callbacks into view events."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Self

from bridge.clock import utc_now
from bridge.dashboard.events import Connected, Disconnected, Received, SnapshotEnd
from bridge.mqtt_client import create_client, warn_if_insecure, why
from bridge.reconnect import Failure, Reconnect
from bridge.topics import prefix_filter

if TYPE_CHECKING:
    from types import TracebackType

    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.broker_options import MqttSettings
    from bridge.dashboard.events import Event

_JOIN_TIMEOUT = 2.0


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


class Feed:
    """Subscribes read-only to `<prefix>/#` and puts view events on `events`.

    It never publishes. The end of the retained snapshot is the UNSUBACK of a
    filter it never subscribed: the broker answers one connection's packets in
    order, so that reply comes after every retained message of the SUBSCRIBE
    sent before it (checked against mosquitto with 20,000 retained topics).
    It reconnects through bridge.reconnect and puts every failure on `events`
    as a Disconnected event.
    """

    def __init__(self, settings: MqttSettings, events: Inbox) -> None:
        self.settings = settings
        self.events = events
        self.marker_filter = f"{settings.prefix}/$dashboard/end-of-snapshot"
        self._client: mqtt.Client | None = None
        self._marker_mid: int | None = None
        self._refused = False
        self._reconnect = Reconnect(settings.reconnect_max_delay, self._report)
        self._thread = threading.Thread(
            target=self._reconnect.run, args=(self._attempt,), name="dashboard-mqtt", daemon=True
        )

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

    def start(self) -> None:
        """Build the client (ConfigError for unusable TLS or password files) and connect."""
        client = create_client(self.settings, self.settings.client_id)
        warn_if_insecure(self.settings)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        self._client = client
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and let the network thread end."""
        self._reconnect.stop()
        if self._client is not None:
            self._client.disconnect()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT)

    def _attempt(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by start()
        self._refused = False
        try:
            client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as err:
            self._reconnect.failed(why(err))
            return
        client.loop_forever(retry_first_connection=False)

    def _report(self, failure: Failure) -> None:
        self.events.put(Disconnected(utc_now(), failure.cause, refused=failure.refused))

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._refuse(client, f"refused the connection: {reason_code}")
            return
        self._reconnect.accepted()
        self.events.put(Connected(utc_now()))
        # QoS 0: at QoS 1 mosquitto hands a new subscriber only max_inflight +
        # max_queued (1020 by default) of the retained messages and drops the rest.
        client.subscribe(prefix_filter(self.settings.prefix), qos=0)
        self._marker_mid = client.unsubscribe(self.marker_filter)[1]

    def _on_subscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            topic = prefix_filter(self.settings.prefix)
            self._refuse(client, f"refused the subscription to {topic}: {failed[0]}")

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if mid == self._marker_mid and not self._refused:
            self.events.put(SnapshotEnd(utc_now()))

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        self.events.put(Received(utc_now(), topic, bytes(msg.payload), bool(msg.retain)))

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if not self._refused:
            reason = "connection lost"
            if str(reason_code) != "Unspecified error":  # paho's words for a dropped socket
                reason += f": {reason_code}"
            self._reconnect.failed(reason)

    def _refuse(self, client: mqtt.Client, reason: str) -> None:
        self._refused = True
        self._reconnect.failed(reason, refused=True)
        client.disconnect()
