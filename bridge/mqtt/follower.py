"""A read-only MQTT session kept alive: the dashboard's and the watchdog's link to the broker.

It connects, offers MQTT 5 and falls back to 3.1.1 (`auto`), reconnects through
bridge.mqtt.reconnect and never publishes. A subclass subscribes once connected
(`connected`), takes the messages (`on_message`) and the subscription answers
(`on_subscribe`, `on_unsubscribe`), and says how a failure is reported (`report`).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from bridge.mqtt.client import SocketErrors, create_client, release, warn_if_insecure, why
from bridge.mqtt.reconnect import Failure, Reconnect
from bridge.mqtt.version import VersionChoice, refuses_version

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.settings.broker import MqttSettings

_JOIN_TIMEOUT = 2.0


class Follower:
    """One subscriber's connection; `start` connects in a thread of its own, `stop` ends it."""

    def __init__(self, settings: MqttSettings, thread_name: str) -> None:
        self.settings = settings
        self.version = VersionChoice(settings.protocol)
        self.client_version = self.version.current
        self._client: mqtt.Client | None = None
        # Set by `refuse`: the disconnect that follows is no connection loss.
        self.refused = False
        # Any CONNACK: a close without one is how RabbitMQ 3.10 refuses MQTT 5.
        self._answered = False
        self._socket_errors = SocketErrors()
        self.reconnect = Reconnect(settings.reconnect_max_delay, self.report)
        self._thread = threading.Thread(
            target=self.reconnect.run, args=(self._connect,), name=thread_name, daemon=True
        )

    def report(self, failure: Failure) -> None:
        """Tell of a failure to reach the broker (the reconnect loop retries)."""
        raise NotImplementedError

    def connected(self, client: mqtt.Client) -> None:
        """Subscribe: the broker accepted the connection."""
        raise NotImplementedError

    def on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        """Take one message (paho's network thread)."""

    def on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        """Take the broker's answer to a subscription."""

    def on_unsubscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        """Take the broker's answer to an unsubscription."""

    def start(self) -> None:
        """Build the client (ConfigError for unusable TLS or password files) and connect."""
        self._client = self._new_client()
        warn_if_insecure(self.settings)
        self._thread.start()

    def stop(self) -> None:
        """Disconnect and let the network thread end."""
        self.reconnect.stop()
        if self._client is not None:
            self._client.disconnect()
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT)

    def refuse(self, client: mqtt.Client, reason: str) -> None:
        """Give up on this connection: the broker refused what the subscriber needs."""
        self.refused = True
        self.reconnect.failed(reason, refused=True)
        client.disconnect()

    def _new_client(self) -> mqtt.Client:
        version = self.version.current
        client = create_client(self.settings, self.settings.client_id, version=version)
        self.client_version = version
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self.on_message
        client.on_subscribe = self.on_subscribe
        client.on_unsubscribe = self.on_unsubscribe
        client.enable_logger(self._socket_errors.logger)
        return client

    def _connect(self) -> None:
        client = self._client
        assert client is not None  # noqa: S101 - set by start()
        if self.client_version != self.version.current:
            release(client)
            client = self._client = self._new_client()
        self.refused = self._answered = False
        self._socket_errors.text = None
        try:
            client.connect(self.settings.host, self.settings.port, self.settings.keepalive)
        except (OSError, ValueError) as err:
            self.reconnect.failed(self.version.failure(why(err)))
            return
        client.loop_forever(retry_first_connection=False)

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
                self.reconnect.again()
                client.disconnect()
                return
            self.refuse(client, f"refused the connection: {cause}")
            return
        self.reconnect.accepted()
        self.version.accepted()
        self.connected(client)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if self.refused or self.reconnect.going_again:
            return
        if self._answered:
            reason = "connection lost"
            if str(reason_code) != "Unspecified error":  # paho's words for a dropped socket
                reason += f": {reason_code}"
            self.reconnect.failed(reason)
            return
        # Reached, but closed before any CONNACK: the broker's answer, not "cannot reach".
        closed = self._socket_errors.text or str(reason_code)
        of_version = self._socket_errors.closed_plainly(reason_code)
        if (cause := self.version.refusal(closed, of_version=of_version)) is None:
            self.reconnect.again()
            return
        self.reconnect.failed(f"closed the connection before accepting it: {cause}", refused=True)
