"""What `ankaios-mqtt-dashboard logs` makes of the bridge's replies and lines (pure).

Like `ank logs` (upstream ank/src/cli_commands/server_connection.rs): a line alone
for one instance, `<workload> <line>` when several stream. A broker may deliver the
QoS 0 lines and the QoS 1 replies out of order (NATS does): lines before `accepted`
wait for it, and the command ends once every instance's `ended` came and as many
of its lines as `ended` counts (or GRACE seconds later: QoS 0 may lose some).
"""

from __future__ import annotations

import json
from collections import deque

from bridge.core.logrequests import logs_topic
from bridge.core.topics import InstanceKey

GRACE = 1.0
# Lines kept while `accepted` has not come yet.
_EARLY = 1000


class Printer:
    """Turns the messages of one logs request into the lines to print and the outcome."""

    def __init__(self, prefix: str, reply_topic: str) -> None:
        self.prefix = prefix
        self.reply_topic = reply_topic
        # Topic -> lines expected (None until its `ended`), of the accepted instances.
        self.expected: dict[str, int | None] = {}
        self.seen: dict[str, int] = {}
        self.accepted = False
        self.failure: str | None = None
        self._refused = False
        self._early: deque[tuple[str, bytes]] = deque(maxlen=_EARLY)
        self._ended_at: float | None = None

    def done(self, now: float) -> bool:
        """Whether the command is over: refused, or every log ended and arrived."""
        if self._refused:
            return True
        if not self.accepted or None in self.expected.values():
            return False
        assert self._ended_at is not None  # noqa: S101 - set with the last `ended`
        complete = all(self.seen.get(t, 0) >= n for t, n in self.expected.items() if n)
        return complete or now >= self._ended_at + GRACE

    def take(self, topic: str, payload: bytes, now: float) -> list[str]:
        """Return the texts to print for one message, in order."""
        if topic != self.reply_topic:
            if not self.accepted:
                self._early.append((topic, payload))
                return []
            return self._line(topic, payload)
        try:
            reply = json.loads(payload)
        except ValueError:
            return []
        event = reply.get("event") if isinstance(reply, dict) else None
        if event == "refused":
            self.failure = str(reply.get("detail") or reply.get("reason"))
            self._refused = True
        elif event == "accepted" and not self.accepted:
            self.accepted = True
            self.expected = dict.fromkeys(self._topic(i) for i in reply.get("instances", []))
            early, self._early = list(self._early), deque(maxlen=_EARLY)
            return [text for topic, line in early for text in self._line(topic, line)]
        elif event == "ended":
            lines = reply.get("lines")
            self.expected[self._topic(reply.get("instance", {}))] = (
                lines if isinstance(lines, int) else 0
            )
            self._ended_at = now
            if reply.get("reason") in ("lost", "shutdown"):
                self.failure = str(reply.get("detail"))
        return []

    def _line(self, topic: str, payload: bytes) -> list[str]:
        if topic not in self.expected:
            return []
        self.seen[topic] = self.seen.get(topic, 0) + 1
        line = payload.decode("utf-8", errors="replace")
        return [f"{topic.split('/')[-3]} {line}" if len(self.expected) > 1 else line]

    def _topic(self, instance: dict[str, str]) -> str:
        key = InstanceKey(
            instance.get("agent", ""), instance.get("workload", ""), instance.get("id", "")
        )
        return logs_topic(self.prefix, key)
