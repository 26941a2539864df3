"""`<prefix>/$bridge/status`: whether a bridge runs, written by the broker link alone.

`online` on every connect and again over any other word while the bridge runs
(the late will of an old instance), `offline` as the will and on a clean stop.
One lock orders them: no `online` of a connect in progress follows the `offline`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt

from bridge.core.topics import OFFLINE, ONLINE, bridge_topic
from bridge.mqtt.client import Will

LOG = logging.getLogger(__name__)


class Status:
    """The bridge's word on `$bridge/status`, published through one paho client at a time."""

    def __init__(self, prefix: str, qos: int) -> None:
        self.topic = bridge_topic(prefix, "status")
        self.qos = qos
        self._lock = threading.Lock()
        self._parted = False

    def will(self) -> Will:
        """Return the will each connection leaves with the broker."""
        return Will(self.topic, OFFLINE, self.qos)

    def online(self, client: mqtt.Client, first: Callable[[], None]) -> bool:
        """Call `first`, then say `online`; False (and neither) once the bridge parts."""
        with self._lock:
            if self._parted:
                return False
            first()
            client.publish(self.topic, ONLINE, qos=self.qos, retain=True)
            return True

    def heard(self, client: mqtt.Client, payload: bytes, *, retain: bool, mqtt5: bool) -> None:
        """Answer another word than `online` on the topic while the bridge runs."""
        # Under MQTT 5 (Retain As Published) a live publish changes nothing a
        # subscriber sees; under 3.1.1 a retained publish arrives live as well.
        if payload == ONLINE or (mqtt5 and not retain):
            return
        with self._lock:
            if self._parted:
                return  # the bridge's own `offline`
            LOG.info("%s said %r while the bridge runs; restoring online", self.topic, payload[:20])
            client.publish(self.topic, ONLINE, qos=self.qos, retain=True)

    def offline(self, client: mqtt.Client, first: Callable[[], None], flush: float) -> None:
        """Call `first`, then say `offline` (at QoS 1 at least) and wait up to `flush` s for it."""
        with self._lock:
            self._parted = True
            first()
            if not client.is_connected():
                return
            info = client.publish(self.topic, OFFLINE, qos=max(self.qos, 1), retain=True)
        try:
            info.wait_for_publish(flush)
        except (RuntimeError, ValueError):
            LOG.warning("could not confirm 'offline' on %s before exiting", self.topic)
