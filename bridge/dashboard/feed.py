"""The dashboard's broker link: the only paho user, turning callbacks into view events."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Self

from bridge.core.topics import prefix_filter
from bridge.dashboard.events import Connected, Disconnected, Received, SnapshotEnd
from bridge.dashboard.snapshot import Outcome, SnapshotMarker
from bridge.mqtt.client import SocketErrors, create_client, release, warn_if_insecure, why
from bridge.mqtt.reconnect import Failure, Reconnect
from bridge.mqtt.version import VersionChoice, refuses_version

if TYPE_CHECKING:
    from types import TracebackType

    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.dashboard.events import Event
    from bridge.settings.broker import MqttSettings

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

    It never publishes; bridge.dashboard.snapshot tells when the retained
    snapshot is over. It reconnects through bridge.mqtt.reconnect and puts every failure on `events`
    as a Disconnected event.
    """

    def __init__(self, settings: MqttSettings, events: Inbox) -> None:
        self.settings = settings
        self.events = events
        self.snapshot = SnapshotMarker(settings.prefix)
        self.version = VersionChoice(settings.protocol)
        self._client: mqtt.Client | None = None
        self._client_version = self.version.current
        self._refused = False
        # Any CONNACK: a close without one is how RabbitMQ 3.10 refuses MQTT 5.
        self._answered = False
        self._socket_errors = SocketErrors()
        self._reconnect = Reconnect(settings.reconnect_max_delay, self._report)
        self._thread = threading.Thread(
            target=self._reconnect.run, args=(self._connect,), name="dashboard-mqtt", daemon=True
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
        self._client = self._new_client()
        warn_if_insecure(self.settings)
        self._thread.start()

    def _new_client(self) -> mqtt.Client:
        version = self.version.current
        client = create_client(self.settings, self.settings.client_id, version=version)
        self._client_version = version
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.enable_logger(self._socket_errors.logger)
        return client

    def stop(self) -> None:
        """Disconnect and let the network thread end."""
        self._reconnect.stop()
        if self._client is not None:
            self._client.disconnect()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT)

    def _connect(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by start()
        if self._client_version != self.version.current:
            release(client)
            client = self._client = self._new_client()
        self._refused = self._answered = False
        self._socket_errors.text = None
        try:
            client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as err:
            self._reconnect.failed(self.version.failure(why(err)))
            return
        client.loop_forever(retry_first_connection=False)

    def _report(self, failure: Failure) -> None:
        self.events.put(Disconnected(datetime.now(UTC), failure.cause, refused=failure.refused))

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._answered = True
        if reason_code.is_failure:
            of_version = refuses_version(reason_code.value)
            cause = self.version.refusal(str(reason_code), of_version=of_version)
            if cause is None:
                self._reconnect.again()
                client.disconnect()
                return
            self._refuse(client, f"refused the connection: {cause}")
            return
        self._reconnect.accepted()
        self.version.accepted()
        self.events.put(Connected(datetime.now(UTC)))
        self.snapshot.start(client)

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
            prefix = prefix_filter(self.settings.prefix)
            topic = self.snapshot.status_topic if self.snapshot.probing else prefix
            self._refuse(client, f"refused the subscription to {topic}: {failed[0]}")

    def _on_unsubscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if self._refused:
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
            self._refused = True
            self._reconnect.stop()
            self.events.put(Disconnected(datetime.now(UTC), lack, refused=True, final=True))
            client.disconnect()

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        self.snapshot.seen(topic, retain=bool(msg.retain))
        self.events.put(Received(datetime.now(UTC), topic, bytes(msg.payload), bool(msg.retain)))

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self._refused or self._reconnect.going_again:
            return
        if self._answered:
            reason = "connection lost"
            if str(reason_code) != "Unspecified error":  # paho's words for a dropped socket
                reason += f": {reason_code}"
            self._reconnect.failed(reason)
            return
        # Reached, but closed before any CONNACK: the broker's answer, not "cannot reach".
        closed = self._socket_errors.text or str(reason_code)
        of_version = self._socket_errors.closed_plainly(reason_code)
        if (cause := self.version.refusal(closed, of_version=of_version)) is None:
            self._reconnect.again()
            return
        self._reconnect.failed(f"closed the connection before accepting it: {cause}", refused=True)

    def _refuse(self, client: mqtt.Client, reason: str) -> None:
        self._refused = True
        self._reconnect.failed(reason, refused=True)
        client.disconnect()
