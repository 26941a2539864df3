"""What the broker link reports to the dashboard: connection changes and messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection; the retained snapshot follows."""

    at: datetime


@dataclass(frozen=True, slots=True)
class Disconnected:
    """A connection attempt failed or the connection was lost; `refused` if the broker said no.

    `final` when the broker cannot serve the dashboard at all (it sends no retained
    messages to a wildcard subscription): the dashboard then ends.
    """

    at: datetime
    reason: str
    refused: bool = False
    final: bool = False


@dataclass(frozen=True, slots=True)
class Received:
    """One message under the prefix; `topic` is None when it was not UTF-8."""

    at: datetime
    topic: str | None
    payload: bytes
    retained: bool = False


@dataclass(frozen=True, slots=True)
class SnapshotEnd:
    """Every retained message of the subscription has arrived."""

    at: datetime


Event = Connected | Disconnected | Received | SnapshotEnd
