"""The bounded publish window: how many of the bridge's publishes paho may hold at once.

paho keeps every QoS 1 message until its PUBACK (about 1.8 KB each), so a
10,000-instance sync would otherwise hold 20,000 of them (86 MiB peak RSS
instead of 48).

Only the owner thread touches the window: it keeps the MQTTMessageInfo that
paho returns for each publish, and paho marks each one finished (PUBACK, or
written for QoS 0) on its own thread as it does anyway. No `on_publish`
callback, lock or semaphore: paho's network thread is the bridge's bottleneck
under load, and the callback with its lock cost it about 2 us per message.
"""

from __future__ import annotations

import contextlib
from collections import deque

import paho.mqtt.client as mqtt

SIZE = 256
# How long one wait for room lasts before the caller checks the connection again.
WAIT = 0.2


def _finished(info: mqtt.MQTTMessageInfo) -> bool:
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        # Failed (the connection was lost): paho holds it no longer either.
        return True


class PublishWindow:
    """The bridge's publishes that paho has not finished, oldest first."""

    def __init__(self, size: int = SIZE) -> None:
        self._size = size
        # Room is made half a window at a time: waking the publisher for every
        # PUBACK hands the GIL over twice per message (a 10,000-instance sync took 1.4x as long).
        self._batch = max(1, size // 2)
        self._infos: deque[mqtt.MQTTMessageInfo] = deque()

    def room(self, timeout: float) -> bool:
        """Whether one more publish fits, waiting at most `timeout` seconds for room."""
        infos = self._infos
        if len(infos) < self._size:
            return True
        # QoS 1 publishes on one connection are acknowledged in order.
        with contextlib.suppress(RuntimeError, ValueError):  # failed: finished, below
            infos[self._batch - 1].wait_for_publish(timeout)
        while infos and _finished(infos[0]):
            infos.popleft()
        return len(infos) < self._size

    def add(self, info: mqtt.MQTTMessageInfo) -> None:
        """Hold a slot for the publish `info` until paho has finished it."""
        self._infos.append(info)
