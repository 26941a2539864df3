"""One served logs request, a stream: its instances, deadline, rate window and messages (pure).

Lines go to `<prefix>/<agent>/<workload>/<id>/logs` (QoS 0, not retained: any number
of subscribers may follow one stream); replies go to the request's reply topic
(QoS 1, not retained), each with the request's correlation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge.core.loginputs import CancelLogs, Outgoing, StartLogs
from bridge.core.logrequests import ReplyTo, instance_document, logs_topic, reply_payload
from bridge.core.model import InstanceStatus
from bridge.core.topics import InstanceKey

SECOND = timedelta(seconds=1)
_ELLIPSIS = "…"


@dataclass
class Decision:
    """What the desk decided: MQTT messages to send and commands for the control interface."""

    messages: list[Outgoing] = field(default_factory=list)
    commands: list[StartLogs | CancelLogs] = field(default_factory=list)

    def reply(self, reply: ReplyTo, event: str, **fields: object) -> None:
        """Add a reply (QoS 1, not retained) carrying the request's correlation."""
        payload = reply_payload(reply, event, **fields)
        self.messages.append(Outgoing(reply.topic, payload, 1, reply.correlation_data))


@dataclass
class Stream:
    """One logs request the bridge serves, by its control-interface request id."""

    request_id: str
    reply: ReplyTo
    workload: str
    # The instances whose log has not ended; Ankaios's accepted list once it answered.
    live: dict[InstanceKey, None]
    # Seconds; 0 without follow.
    follow: float
    deadline: datetime
    accepted: bool = False
    # The current second of the rate cap: when it began and the lines sent in it.
    window: datetime | None = None
    sent: int = 0
    dropped: dict[InstanceKey, int] = field(default_factory=dict)
    # Lines published per instance: `ended` says how many, so that a requester on a
    # broker that may reorder QoS 0 lines and QoS 1 replies (NATS) knows when it has all.
    published: dict[InstanceKey, int] = field(default_factory=dict)

    def lines(
        self,
        lines: tuple[tuple[InstanceKey, str], ...],
        prefix: str,
        limits: tuple[int, int],
        now: datetime,
        decision: Decision,
    ) -> None:
        """Publish lines within (lines per second, characters per line); count the rest."""
        rate, longest = limits
        for key, text in lines:
            if key not in self.live:
                continue
            if self.window is None or now >= self.window + SECOND:
                self.flush_dropped(prefix, decision)
                self.window, self.sent = now, 0
            if self.sent >= rate:
                self.dropped[key] = self.dropped.get(key, 0) + 1
                continue
            self.sent += 1
            line = text if len(text) <= longest else text[: longest - 1] + _ELLIPSIS
            self._publish(prefix, key, line, decision)

    def flush_dropped(self, prefix: str, decision: Decision) -> None:
        """Say on each instance's topic how many of its lines the rate cap dropped."""
        for key, count in self.dropped.items():
            text = f"{_ELLIPSIS} {count} line{'s' if count > 1 else ''} dropped"
            self._publish(prefix, key, text, decision)
        self.dropped.clear()

    def _publish(self, prefix: str, key: InstanceKey, line: str, decision: Decision) -> None:
        self.published[key] = self.published.get(key, 0) + 1
        decision.messages.append(Outgoing(logs_topic(prefix, key), line.encode(), 0))

    def ended(self, key: InstanceKey, reason: str, detail: str, decision: Decision) -> None:
        """Tell the requester that the log of one instance ended, and why."""
        instance, lines = instance_document(key), self.published.get(key, 0)
        decision.reply(
            self.reply, "ended", reason=reason, detail=detail, instance=instance, lines=lines
        )

    def stop_reason(
        self, key: InstanceKey, truth: Mapping[InstanceKey, InstanceStatus] | None
    ) -> str:
        """Say why Ankaios stopped an instance's log (LogsStopResponse carries no reason)."""
        if not self.follow:
            return "Ankaios sent the log to its end"
        status = truth.get(key) if truth is not None else None
        if status is not None and status.execution.state == "AGENT_DISCONNECTED":
            return "Ankaios stopped it: the instance's agent disconnected"
        return (
            "Ankaios stopped it: the container ended or was replaced (after a restart, ask again)"
        )
