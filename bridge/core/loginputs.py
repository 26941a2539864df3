"""What logs on demand hand between threads: owner inputs, commands to Ankaios, replies.

The paho callbacks construct LogsAsked, the control-interface reader the
LogAnswer kinds; the owner's log desk (bridge.core.logdesk) decides on them and
answers with LogCommand (to the reader, which alone writes to the FIFOs) and
Outgoing (non-retained MQTT messages).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.core.topics import InstanceKey


@dataclass(frozen=True, slots=True)
class LogsAsked:
    """A message on `<prefix>/$bridge/logs/request`, with its MQTT 5 request properties."""

    payload: bytes
    response_topic: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class LogAnswer:
    """Something Ankaios answered to a logs request of the bridge."""

    request_id: str


@dataclass(frozen=True, slots=True)
class LogsAccepted(LogAnswer):
    """Ankaios accepted a logs request for these instances (those in its desired state)."""

    instances: tuple[InstanceKey, ...]


@dataclass(frozen=True, slots=True)
class LogsRefused(LogAnswer):
    """Ankaios answered a logs request with an error (a LogRule denied it)."""

    message: str


@dataclass(frozen=True, slots=True)
class LogLines(LogAnswer):
    """Lines an instance printed, in order, each without its line break."""

    lines: tuple[tuple[InstanceKey, str], ...]


@dataclass(frozen=True, slots=True)
class LogsStopped(LogAnswer):
    """The log fetcher of one instance ended (its container ended, or its agent is gone)."""

    instance: InstanceKey


@dataclass(frozen=True, slots=True)
class LogsCancelAccepted(LogAnswer):
    """Ankaios confirmed a logs cancel request."""


LogInput = LogsAsked | LogAnswer


@dataclass(frozen=True, slots=True)
class StartLogs:
    """Send a LogsRequest for these instances."""

    request_id: str
    instances: tuple[InstanceKey, ...]
    follow: bool
    tail: int | None
    since: str | None


@dataclass(frozen=True, slots=True)
class CancelLogs:
    """Send a LogsCancelRequest."""

    request_id: str


LogCommand = StartLogs | CancelLogs


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A non-retained MQTT message; `correlation` is the MQTT 5 Correlation Data to attach."""

    topic: str
    payload: bytes
    qos: int
    correlation: bytes | None = None
