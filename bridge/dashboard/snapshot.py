"""The end of the dashboard's retained snapshot, and whether the broker sends one at all.

The end is the UNSUBACK of a filter never subscribed: the broker answers one
connection's packets in order, so that reply comes after every retained message
of the SUBSCRIBE sent before it. It needs no publish permission.
"""

from __future__ import annotations

import threading
import time
from enum import Enum

import paho.mqtt.client as mqtt

from bridge.core.topics import bridge_topic, prefix_filter

# Silence (seconds without any message) after which the end is asked for again: a
# snapshot still arriving is never asked over, however long it takes.
QUIET = 1.0


class Outcome(Enum):
    """What an UNSUBACK means."""

    PENDING = "pending"
    END = "end"
    NO_WILDCARD_RETAINED = "no wildcard retained"


class SnapshotMarker:
    """One connection's snapshot: `start` at every connect, then feed it what arrives.

    Runs on paho's network thread, but for the re-ask timer. mosquitto drops QoS 0
    messages to a subscriber that lags more than `max_queued_messages` (1000)
    packets behind, as a burst of 20,000 retained topics does, and the UNSUBACK
    after them was lost too: the end is asked for again after a silence.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.marker_filter = f"{prefix}/$dashboard/end-of-snapshot"
        self.status_topic = bridge_topic(prefix, "status")
        self._mids: set[int | None] = set()
        self._connection = 0
        self._over = True
        # The bridge's retained status seen in the snapshot, or on the probe after it.
        self._status_seen = False
        self._probing = False
        self._asked_again = False
        self._heard = 0.0

    def start(self, client: mqtt.Client) -> None:
        """Subscribe to the prefix and ask for the end of its retained burst."""
        self._connection += 1
        self._over = self._status_seen = self._probing = self._asked_again = False
        self._heard = time.monotonic()
        # QoS 0: at QoS 1 mosquitto hands a new subscriber only max_inflight +
        # max_queued (1020 by default) of the retained messages and drops the rest.
        client.subscribe(prefix_filter(self.prefix), qos=0)
        self._mids = {client.unsubscribe(self.marker_filter)[1]}
        self._ask_later(client)

    def seen(self, topic: str | None, *, retain: bool) -> None:
        """Note a message: the snapshot goes on; the bridge's retained status in it or the probe."""
        self._heard = time.monotonic()
        if retain and topic == self.status_topic:
            self._status_seen = True

    @property
    def probing(self) -> bool:
        """Whether the exact subscription of the bridge's status is on."""
        return self._probing

    def answered(self, client: mqtt.Client, mid: int) -> Outcome:
        """Handle an UNSUBACK: the snapshot is over, still pending, or the broker lacks one."""
        if mid not in self._mids or self._over:
            return Outcome.PENDING
        if self._status_seen and self._probing:
            # The exact subscription got what the wildcard one did not (RabbitMQ).
            self._over = True
            return Outcome.NO_WILDCARD_RETAINED
        # After a re-ask the broker dropped messages: a missing status proves nothing.
        if self._status_seen or self._probing or self._asked_again:
            if self._probing:
                client.unsubscribe(self.status_topic)
            self._over = True
            return Outcome.END
        # No bridge status in the snapshot: no bridge ever ran here, or the broker
        # sends no retained messages to wildcard subscriptions. Ask for it exactly.
        self._probing = True
        client.subscribe(self.status_topic, qos=0)
        self._mids = {client.unsubscribe(self.marker_filter)[1]}
        return Outcome.PENDING

    def _ask_later(self, client: mqtt.Client, delay: float = QUIET) -> None:
        timer = threading.Timer(delay, self._ask_again, (client, self._connection))
        timer.daemon = True
        timer.start()

    def _ask_again(self, client: mqtt.Client, connection: int) -> None:
        if connection != self._connection or self._over or not client.is_connected():
            return
        quiet = time.monotonic() - self._heard
        if quiet < QUIET:
            self._ask_later(client, QUIET - quiet)
            return
        self._heard = time.monotonic()
        # A copy of the phase's marker: whichever answer comes first ends it.
        self._asked_again = True
        self._mids.add(client.unsubscribe(self.marker_filter)[1])
        self._ask_later(client)
