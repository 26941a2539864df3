"""The broker link: the bridge's one MQTT connection and everything it says and hears.

It keeps `$bridge/status` (bridge.mqtt.status), watches the prefix, learns from
its sync marker when the retained burst is over, and publishes the mirror's
decisions through the bounded window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bridge.core.inputs import BrokerConnected, BrokerDisconnected, BrokerMessage, Input
from bridge.core.loginputs import Outgoing
from bridge.mqtt.client import (
    SocketErrors,
    create_client,
    describe_settings,
    release,
    warn_if_insecure,
)
from bridge.mqtt.reconnect import Reconnect, warn_each_outage
from bridge.mqtt.replies import listen, send_message
from bridge.mqtt.status import Status
from bridge.mqtt.sync import SyncMarker, refusal_hint
from bridge.mqtt.version import MQTT5, VersionChoice, refuses_version
from bridge.mqtt.window import WAIT, PublishWindow
from bridge.settings.broker import MqttSettings

LOG = logging.getLogger(__name__)
_SHUTDOWN_FLUSH = 1.0
# How often the link asks the sync marker whether to send itself again.
_MARKER_TICK = 0.25


class BrokerLink:
    """Keeps one MQTT connection alive and reports what happens to `sink`.

    Reconnects through bridge.mqtt.reconnect: one log line per outage with the cause,
    backoff capped at `reconnect_max_delay`, a fresh paho client per connection.
    """

    def __init__(self, settings: MqttSettings, sink: Callable[[Input], None]) -> None:
        self.settings = settings
        self.sink = sink
        self.status = Status(settings.prefix, settings.qos)
        self.where = settings.address
        self.marker = SyncMarker(settings.prefix, self.where)
        self.version = VersionChoice(settings.protocol)
        self._client: mqtt.Client | None = None
        self._window = PublishWindow()
        self._reconnect = Reconnect(
            settings.reconnect_max_delay, warn_each_outage(LOG, settings.reconnect_max_delay)
        )
        self._thread = threading.Thread(
            target=self._reconnect.run, args=(self._connect,), name="mqtt", daemon=True
        )
        self._connected = threading.Event()
        self._ended = threading.Event()
        self._generation = 0
        self._connected_once = False
        self._accepted = False
        # Any CONNACK on this connection, accepting or not: a close without one is
        # how RabbitMQ 3.10 refuses MQTT 5.
        self._answered = False
        self._socket_error = SocketErrors()

    def start(self) -> None:
        """Build the client (may raise ConfigError for unusable files) and start connecting."""
        self._client = self._new_client()
        LOG.info("MQTT settings: %s", describe_settings(self.settings))
        warn_if_insecure(self.settings)
        self._thread.start()

    def _new_client(self) -> mqtt.Client:
        version = self.version.current
        client = create_client(self.settings, self.settings.client_id, self.status.will(), version)
        self._client_version = version
        self._window = PublishWindow()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        listen(client, self.settings.prefix, self.sink)
        client.enable_logger(self._socket_error.logger)
        return client

    def publish(self, topic: str, payload: bytes) -> bool:
        """Publish retained at the configured QoS; False when not connected (nothing queued).

        Waits while the window is full: see bridge.mqtt.window.
        """
        client, window = self._client, self._window
        while True:
            if client is None or not client.is_connected():
                return False
            if window.room(WAIT):
                break
        info = client.publish(topic, payload or None, qos=self.settings.qos, retain=True)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        window.add(info)
        return True

    def send(self, message: Outgoing) -> bool:
        """Publish a logs reply or line, not retained; False when not connected."""
        return send_message(self._client, message)

    def wait_connected(self, timeout: float) -> bool:
        """Wait up to `timeout` s for a connection the broker accepted; True once there is one."""
        return self._connected.wait(timeout)

    def stop(self) -> None:
        """Say `offline`, flush what is in flight and disconnect."""
        client = self._client
        if client is None:
            self._reconnect.stop()
            return
        self.status.offline(client, self._reconnect.stop, _SHUTDOWN_FLUSH)
        client.disconnect()
        self._thread.join(_SHUTDOWN_FLUSH)
        release(client)

    def _connect(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by start()
        if client.is_connected() or self._accepted or self._client_version != self.version.current:
            # paho keeps unacknowledged QoS 1 publishes and replays them after a
            # reconnect, behind the resync: a fresh client has no such backlog.
            release(client)
            client = self._client = self._new_client()
        self._accepted = self._answered = False
        try:
            client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as err:
            # Only here is the broker unreachable: every other failure is its answer.
            self._reconnect.failed(
                f"cannot connect to {self.where}: {self.version.failure(str(err))}"
            )
            return
        self._socket_error.text = None
        self._ended.clear()
        # paho's own network thread: publishes from the bridge's threads are
        # then queued for it rather than written by the caller.
        client.loop_start()
        while not self._ended.wait(_MARKER_TICK):
            synced = self.marker.again(client, time.monotonic())
            if synced is not None:
                self.sink(synced)
        client.loop_stop()
        release(client)

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
                return
            cause += refusal_hint(reason_code.value)
            self._reconnect.failed(f"the broker at {self.where} refused the connection: {cause}")
            return
        self._reconnect.accepted()
        self.version.accepted()
        self._accepted = True
        self._generation += 1
        again, version = " again" if self._connected_once else "", self.version.current
        LOG.info("connected to the broker at %s%s with MQTT %s", self.where, again, version)
        self._connected_once = True
        connected = BrokerConnected(self._generation, self.version.current)
        if not self.status.online(client, lambda: self.sink(connected)):
            return
        mqtt5 = self.version.current == MQTT5
        self.marker.start(client, self._generation, mqtt5=mqtt5, now=time.monotonic())
        # Only now may stop() say `offline`: it must come after this `online`.
        self._connected.set()

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._ended.set()
        if self._reconnect.stopping:
            return
        self.sink(BrokerDisconnected())
        cause = self._socket_error.text or str(reason_code)
        if self._accepted:
            self._reconnect.failed(f"lost the broker connection ({cause})")
            return
        if self._answered:
            return  # the refusing CONNACK said it all
        # A TLS alert (a refused client certificate) is no protocol question.
        of_version = self._socket_error.closed_plainly(reason_code)
        if (round_cause := self.version.refusal(cause, of_version=of_version)) is None:
            self._reconnect.again()
            return
        # TLS 1.3 servers check the client certificate after the handshake, so a
        # refused certificate shows only as the connection closing before CONNACK.
        tls = self.settings.tls
        hint = " (is the client certificate accepted?)" if tls and tls.cert_file else ""
        self._reconnect.failed(
            f"{self.where} closed the connection before accepting it{hint}: {round_cause}"
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        synced = self.marker.subscribed(mid, reason_codes)
        if synced is not None:
            self.sink(synced)

    def _on_message(
        self, client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:
            return  # a lax broker's non-UTF-8 topic: no topic of the contract
        payload, retain = bytes(message.payload), bool(message.retain)
        if topic == self.marker.topic:
            synced = self.marker.arrived(client, payload)
            if synced is not None:
                self.sink(synced)
            return
        if topic == self.status.topic:
            self.status.heard(client, payload, retain=retain, mqtt5=self._client_version == MQTT5)
        self.marker.observe(topic, retain=retain, now=time.monotonic())
        self.sink(BrokerMessage(topic, payload, retain))
