"""The bridge's own publishes on their way back to it under MQTT 3.1.1 (pure).

MQTT 3.1.1 has no *No Local*: the broker sends the bridge every message it
publishes under the prefix, and without *Retain As Published* such an echo looks
like anyone's live publish. One connection's messages on one topic come back in
the order they were sent, so an echo is recognised as the oldest payload still on
its way on that topic; those before it were dropped by the broker on the way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bridge.reconcile import Publish

# Per topic: the broker drops QoS 0 deliveries to a slow subscriber, and a topic
# whose echoes never come back must not keep every payload it was ever given.
_KEPT = 32


class Echoes:
    """Payloads published on this connection whose echo has not come back, per topic."""

    def __init__(self) -> None:
        self.expected = False
        self._pending: dict[str, deque[bytes]] = {}

    def reset(self, *, expected: bool) -> None:
        """Start a new connection; `expected` when the broker echoes (MQTT 3.1.1)."""
        self.expected = expected
        self._pending.clear()

    def sent(self, plan: Iterable[Publish]) -> None:
        """Note publishes handed to the broker."""
        if not self.expected:
            return
        pending = self._pending
        for item in plan:
            queue = pending.get(item.topic)
            if queue is None:
                queue = pending[item.topic] = deque(maxlen=_KEPT)
            queue.append(item.payload)

    def returned(self, topic: str, payload: bytes) -> bool:
        """Whether a live message is the echo of one of the bridge's own publishes."""
        queue = self._pending.get(topic)
        if not queue:
            return False
        try:
            index = queue.index(payload)
        except ValueError:
            return False
        for _ in range(index + 1):
            queue.popleft()
        if not queue:
            del self._pending[topic]
        return True
