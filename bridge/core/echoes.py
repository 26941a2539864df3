"""The bridge's own publishes on their way back to it under MQTT 3.1.1 (pure).

MQTT 3.1.1 has no *No Local*: the broker sends the bridge every message it
publishes under the prefix, and without *Retain As Published* such an echo looks
like anyone's live publish. One connection's messages on one topic come back in
the order they were sent, so an echo is recognised as the oldest payload still on
its way on that topic; those before it were dropped by the broker on the way.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.core.topics import Publish

# Per topic: the broker drops QoS 0 deliveries to a slow subscriber, and a topic
# whose echoes never come back must not keep every payload it was ever given.
_KEPT = 32


class Echoes:
    """Payloads published on this connection whose echo has not come back, per topic.

    Nearly every topic has one payload on its way: it is kept as itself, not in a
    list (a list per topic cost 15 MiB at a 10,000-instance sync).
    """

    def __init__(self) -> None:
        self.expected = False
        self._pending: dict[str, bytes | list[bytes]] = {}

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
            earlier = pending.get(item.topic)
            if earlier is None:
                pending[item.topic] = item.payload
            elif isinstance(earlier, bytes):
                pending[item.topic] = [earlier, item.payload]
            else:
                earlier.append(item.payload)
                if len(earlier) > _KEPT:
                    del earlier[0]

    def returned(self, topic: str, payload: bytes) -> bool:
        """Whether a live message is the echo of one of the bridge's own publishes."""
        earlier = self._pending.get(topic)
        if earlier is None:
            return False
        if isinstance(earlier, bytes):
            if earlier != payload:
                return False
            del self._pending[topic]
            return True
        try:
            index = earlier.index(payload)
        except ValueError:
            return False
        # Those before it were dropped by the broker on the way.
        del earlier[: index + 1]
        if not earlier:
            del self._pending[topic]
        return True
