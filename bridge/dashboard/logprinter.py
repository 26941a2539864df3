"""What `ankaios-mqtt-dashboard logs` makes of the bridge's replies and lines (pure).

Like `ank logs` (upstream ank/src/cli_commands/server_connection.rs): a line alone
for one instance, `<workload> <line>` when several stream.
"""

from __future__ import annotations

import json

from bridge.core.logrequests import logs_topic
from bridge.core.topics import InstanceKey


class Printer:
    """What the replies mean for the command: print lines, end, or fail (pure but for `out`)."""

    def __init__(self, prefix: str, reply_topic: str) -> None:
        self.prefix = prefix
        self.reply_topic = reply_topic
        self.instances: set[str] = set()
        self.accepted = False
        self.failure: str | None = None
        self.done = False

    def take(self, topic: str, payload: bytes) -> str | None:
        """Return the text to print for one message, if any; update done/failure."""
        if topic != self.reply_topic:
            if not self.accepted or topic not in self.instances:
                return None
            line = payload.decode("utf-8", errors="replace")
            if len(self.instances) > 1:
                return f"{topic.split('/')[-3]} {line}"
            return line
        try:
            reply = json.loads(payload)
        except ValueError:
            return None
        event = reply.get("event") if isinstance(reply, dict) else None
        if event == "refused":
            self.failure = str(reply.get("detail") or reply.get("reason"))
            self.done = True
        elif event == "accepted":
            self.accepted = True
            self.instances = {self._topic(i) for i in reply.get("instances", [])}
        elif event == "ended":
            self.instances.discard(self._topic(reply.get("instance", {})))
            if reply.get("reason") in ("lost", "shutdown"):
                self.failure = str(reply.get("detail"))
            self.done = self.accepted and not self.instances
        return None

    def _topic(self, instance: dict[str, str]) -> str:
        key = InstanceKey(
            instance.get("agent", ""), instance.get("workload", ""), instance.get("id", "")
        )
        return logs_topic(self.prefix, key)
