"""The watchdog's broker link: subscribes to `$bridge/status` and `$bridge/info`, never publishes.

It reconnects through bridge.mqtt.reconnect (the bridge's loop, with the `auto`
fallback to MQTT 3.1.1) and hands every message to `put` as `Heard`: the retained
pair arrives again after each reconnect, which the rules expect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.core.topics import bridge_topic
from bridge.mqtt.follower import Follower
from bridge.mqtt.version import MQTT5

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.mqtt.reconnect import Failure
    from bridge.settings.broker import MqttSettings

LOG = logging.getLogger("bridge.watchdog")
STATUS = "status"
INFO = "info"


@dataclass(frozen=True, slots=True)
class Heard:
    """One message on `$bridge/<leaf>` (`leaf` is STATUS or INFO)."""

    leaf: str
    payload: bytes


class BridgeWatch(Follower):
    """Follows the bridge's `$bridge/status` and `$bridge/info` on the broker."""

    def __init__(self, settings: MqttSettings, put: Callable[[Heard], None]) -> None:
        super().__init__(settings, "watchdog-mqtt")
        self.put = put
        self.topics = {bridge_topic(settings.prefix, leaf): leaf for leaf in (STATUS, INFO)}

    def report(self, failure: Failure) -> None:
        """Log one line per outage: the first failure says why."""
        if failure.first:
            LOG.warning("cannot reach the broker at %s: %s", self.settings.address, failure.cause)

    def connected(self, client: mqtt.Client) -> None:
        """Log the connection and subscribe to both topics."""
        spoken = "MQTT 5" if self.client_version == MQTT5 else "MQTT 3.1.1"
        LOG.info("connected to the broker at %s with %s", self.settings.address, spoken)
        client.subscribe([(topic, 1) for topic in self.topics])

    def on_subscribe(
        self,
        client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        """Retry a refused subscription from a new connection."""
        topics = " and ".join(self.topics)
        failed = [code for code in reason_codes if code.is_failure]
        if failed:
            self.reconnect.failed(f"refused the subscription to {topics}: {failed[0]}")
            client.disconnect()
            return
        LOG.debug("subscribed to %s", topics)

    def on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        """Hand on a message of either topic."""
        leaf = self.topics.get(msg.topic)
        if leaf is not None:
            self.put(Heard(leaf, bytes(msg.payload)))
