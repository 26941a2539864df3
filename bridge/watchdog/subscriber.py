"""The watchdog's broker link: subscribes to `$bridge/status` and `$bridge/info`, never publishes.

It reconnects through bridge.mqtt.reconnect (the bridge's loop, with the `auto`
fallback to MQTT 3.1.1) and hands every message to `put` as `Heard`: the retained
pair arrives again after each reconnect, which the rules expect.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.core.topics import bridge_topic
from bridge.mqtt.client import SocketErrors, create_client, release, warn_if_insecure, why
from bridge.mqtt.reconnect import Failure, Reconnect
from bridge.mqtt.version import MQTT5, VersionChoice, refuses_version

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.settings.broker import MqttSettings

LOG = logging.getLogger("bridge.watchdog")
STATUS = "status"
INFO = "info"
_JOIN_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class Heard:
    """One message on `$bridge/<leaf>` (`leaf` is STATUS or INFO)."""

    leaf: str
    payload: bytes


class BridgeWatch:
    """Follows the bridge's `$bridge/status` and `$bridge/info` on the broker."""

    def __init__(self, settings: MqttSettings, put: Callable[[Heard], None]) -> None:
        self.settings = settings
        self.put = put
        self.version = VersionChoice(settings.protocol)
        self.topics = {bridge_topic(settings.prefix, leaf): leaf for leaf in (STATUS, INFO)}
        self._client: mqtt.Client | None = None
        self._client_version = self.version.current
        self._answered = False
        self._socket_errors = SocketErrors()
        self._reconnect = Reconnect(settings.reconnect_max_delay, self._report)
        self._thread = threading.Thread(
            target=self._reconnect.run, args=(self._connect,), name="watchdog-mqtt", daemon=True
        )

    def start(self) -> None:
        """Build the client (ConfigError for unusable TLS or password files) and connect."""
        self._client = self._new_client()
        warn_if_insecure(self.settings)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and let the network thread end."""
        self._reconnect.stop()
        if self._client is not None:
            self._client.disconnect()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT)

    def _new_client(self) -> mqtt.Client:
        version = self.version.current
        client = create_client(self.settings, self.settings.client_id, version=version)
        self._client_version = version
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.enable_logger(self._socket_errors.logger)
        return client

    def _connect(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by start()
        if self._client_version != self.version.current:
            release(client)
            client = self._client = self._new_client()
        self._answered = False
        self._socket_errors.text = None
        try:
            client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as err:
            self._reconnect.failed(self.version.failure(why(err)))
            return
        client.loop_forever(retry_first_connection=False)

    def _report(self, failure: Failure) -> None:
        # One line per outage: the first failure says why.
        if failure.first:
            LOG.warning("cannot reach the broker at %s: %s", self.settings.address, failure.cause)

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
            else:
                self._reconnect.failed(f"refused the connection: {cause}", refused=True)
            client.disconnect()
            return
        self._reconnect.accepted()
        self.version.accepted()
        spoken = "MQTT 5" if self._client_version == MQTT5 else "MQTT 3.1.1"
        LOG.info("connected to the broker at %s with %s", self.settings.address, spoken)
        client.subscribe([(topic, 1) for topic in self.topics])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        topics = " and ".join(self.topics)
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            self._reconnect.failed(f"refused the subscription to {topics}: {failed[0]}")
            client.disconnect()
            return
        LOG.debug("subscribed to %s", topics)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        leaf = self.topics.get(msg.topic)
        if leaf is not None:
            self.put(Heard(leaf, bytes(msg.payload)))

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self._reconnect.going_again:
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
