"""The sync marker: when a connection's retained burst is over, and what the broker lacks.

The bridge publishes its retained `online` before it subscribes to `<prefix>/#`,
so a broker that delivers retained messages to wildcard subscriptions sends the
retained status back before the marker. When it does not, one more exact subscription of the
status topic tells a broker that keeps retained messages but sends none to
wildcard subscriptions (RabbitMQ, rabbitmq/rabbitmq-server#8824) from one that
keeps none at all.
"""

from __future__ import annotations

import logging
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from bridge.core.info import RETAINED, RETAINED_ON_WILDCARD, SUBSCRIPTION
from bridge.core.inputs import BrokerSynced
from bridge.core.topics import bridge_topic, prefix_filter

LOG = logging.getLogger(__name__)
_PROBE = "probe"
# Markers sent again before the bridge concludes it may not read its prefix.
_ASKS = 2
# Silence (seconds without any message under the prefix) after which the marker is
# sent again: a burst still arriving is never asked over, however long it takes.
QUIET = 1.0


# MQTT 5 CONNACK reasons that name a capability the contract needs (the will is
# retained and at the configured QoS, so a broker lacking either refuses the CONNECT).
_REFUSAL_HINTS = {
    0x9A: "the broker keeps no retained messages, which the contract is made of",
    0x9B: "the broker takes QoS 0 only: set --mqtt-qos 0",
}


def refusal_hint(reason_value: int) -> str:
    """Return what a refusing CONNACK's reason means for the bridge, in parentheses, or ""."""
    hint = _REFUSAL_HINTS.get(reason_value)
    return f" ({hint})" if hint else ""


def lack_warning(lack: str, where: str, prefix: str) -> str:
    """Return the one line that says what the broker lacks and what that means."""
    if lack == RETAINED_ON_WILDCARD:
        return (
            f"the broker at {where} sends no retained messages to wildcard subscriptions "
            f"such as {prefix}/#: the bridge cannot find and clear the topics of instances "
            "removed while it was down, and subscribers must subscribe to exact topics "
            f"({prefix}/<agent>/<workload>/<id>/state); it keeps publishing and clearing "
            "what it knows"
        )
    if lack == RETAINED:
        return (
            f"the broker at {where} keeps no retained messages: a new subscriber sees no "
            "workload until it changes, and topics of removed instances cannot be found; "
            "the bridge keeps publishing what it knows"
        )
    return (
        f"the broker at {where} refused the bridge's subscription to {prefix}/# or delivers "
        "nothing on it: the bridge cannot see what the broker holds, so it cannot clear stale "
        f"topics or repair foreign writes (allow it to read {prefix}/#); it keeps publishing "
        "what it knows"
    )


class SyncMarker:
    """One marker topic per process; `start` at every connect, then feed it what arrives.

    Runs on paho's network thread (the connect, subscribe and message callbacks),
    except `again`, which the link's own thread calls while it waits.
    """

    def __init__(self, prefix: str, where: str) -> None:
        self.prefix = prefix
        self.where = where
        # The marker comes back after the retained burst: one connection's packets
        # are answered in order, and no retained message is ever stored there.
        self.topic = bridge_topic(prefix, f"sync/{uuid.uuid4().hex}")
        self.status_topic = bridge_topic(prefix, "status")
        self._generation = 0
        self._mqtt5 = True
        self._watch_mid: int | None = None
        self._status_on_watch = False
        self._status_on_probe = False
        self._probing = False
        self._done = False
        self._asked = 0
        self._heard = 0.0
        self._warned: set[str] = set()

    def start(self, client: mqtt.Client, generation: int, *, mqtt5: bool, now: float) -> None:
        """Subscribe to the prefix and send the marker; `online` must be published before."""
        self._generation, self._mqtt5 = generation, mqtt5
        self._status_on_watch = self._status_on_probe = self._probing = self._done = False
        self._asked = 0
        self._heard = now
        watch = prefix_filter(self.prefix)
        if mqtt5:
            # No Local: the broker does not echo the bridge's own publishes back (it
            # still sends retained ones at subscribe time), so what arrives live was
            # published by someone else. Retain As Published tells retained from live.
            options = SubscribeOptions(qos=0, noLocal=True, retainAsPublished=True)
            mid = client.subscribe([(watch, options), (self.topic, SubscribeOptions(qos=0))])[1]
        else:
            # The marker is under the prefix: a subscription of its own would bring it twice.
            mid = client.subscribe(watch, qos=0)[1]
        self._watch_mid = mid
        self._send(client, "")

    def observe(self, topic: str, *, retain: bool, now: float) -> None:
        """Note a message that is not the marker: the burst goes on, a retained status is back.

        Any value counts: a late `offline` will of an old instance may have replaced
        the bridge's `online` before the subscription.
        """
        self._heard = now
        if retain and topic == self.status_topic:
            if self._probing:
                self._status_on_probe = True
            else:
                self._status_on_watch = True

    def subscribed(self, mid: int, reason_codes: list[ReasonCode]) -> BrokerSynced | None:
        """Handle a SUBACK; a refused watch means synced at once, with nothing retained seen."""
        if mid != self._watch_mid or self._done or not reason_codes[0].is_failure:
            return None
        LOG.debug("the subscription to %s/# was refused: %s", self.prefix, reason_codes[0])
        return self._synced((SUBSCRIPTION,))

    def arrived(self, client: mqtt.Client, payload: bytes) -> BrokerSynced | None:
        """Handle the marker coming back; BrokerSynced once the burst and the check are over."""
        generation, _, probe = payload.decode(errors="replace").partition(" ")
        if generation != str(self._generation) or self._done or (probe == _PROBE) != self._probing:
            return None  # an older connection's marker, or a second copy
        if self._status_on_watch or self._asked:
            # After a re-ask the broker dropped messages: a missing status proves nothing.
            return self._synced(())
        if not self._probing:
            self._probing = True
            if self._mqtt5:
                client.subscribe(self.status_topic, options=SubscribeOptions(qos=0, noLocal=True))
            else:
                client.subscribe(self.status_topic, qos=0)
            self._send(client, f" {_PROBE}")
            return None
        client.unsubscribe(self.status_topic)
        return self._synced((RETAINED_ON_WILDCARD,) if self._status_on_probe else (RETAINED,))

    def again(self, client: mqtt.Client, now: float) -> BrokerSynced | None:
        """Send the marker again after `QUIET` s of silence without it (called often).

        mosquitto drops QoS 0 messages, the marker among them, to a subscriber that
        lags more than `max_queued_messages` (1000) packets behind, as a burst of
        20,000 retained topics does. A marker sent later comes back after what is
        left; a late copy of either is ignored. A race with `arrived` on paho's thread
        costs at most one marker that no longer matches and is ignored.

        When two markers sent again are not back either, each after a silence, the
        broker does not let the bridge read its prefix (mosquitto grants a subscription
        its ACL denies and delivers nothing): synced with nothing seen, like a refused
        subscription.
        """
        if self._done or now - self._heard < QUIET:
            return None
        self._heard = now
        self._asked += 1
        if self._asked > _ASKS:
            return self._synced((SUBSCRIPTION,))
        if self._asked == 1:
            LOG.warning(
                "the broker at %s has not ended its retained burst under %s/# yet; asking "
                "again. A broker that drops messages to a subscriber that lags (mosquitto "
                "beyond max_queued_messages) may have dropped retained topics too: topics of "
                "instances removed while the bridge was down may then stay until a reconnect",
                self.where,
                self.prefix,
            )
        self._send(client, f" {_PROBE}" if self._probing else "")
        return None

    def _send(self, client: mqtt.Client, suffix: str) -> None:
        client.publish(self.topic, f"{self._generation}{suffix}".encode(), qos=0)

    def _synced(self, lacks: tuple[str, ...]) -> BrokerSynced:
        self._done = True
        for lack in lacks:
            if lack not in self._warned:
                self._warned.add(lack)
                LOG.warning("%s", lack_warning(lack, self.where, self.prefix))
        return BrokerSynced(self._generation, lacks)
