"""Everything the owner thread is told, as one union of frozen dataclasses.

The control-interface reader and the paho callbacks only construct these and
enqueue them; `bridge.mirror` decides on them and `bridge.owner` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.model import ExecutionState
from bridge.topics import InstanceKey


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every instance Ankaios reports right now; instances not in it do not exist."""

    instances: Mapping[InstanceKey, ExecutionState]


@dataclass(frozen=True, slots=True)
class Changes:
    """Instances that changed or appeared, and instances that were removed."""

    upserts: Mapping[InstanceKey, ExecutionState]
    removals: frozenset[InstanceKey]


@dataclass(frozen=True, slots=True)
class AnkaiosLink:
    """Whether the bridge holds a live Ankaios subscription (accepted, latest request answered)."""

    connected: bool


@dataclass(frozen=True, slots=True)
class BrokerConnected:
    """The broker accepted connection number `generation`; its retained burst follows."""

    generation: int


@dataclass(frozen=True, slots=True)
class BrokerSynced:
    """The broker has delivered every retained message of connection `generation`."""

    generation: int


@dataclass(frozen=True, slots=True)
class BrokerDisconnected:
    """The broker connection is gone; the link retries."""


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """A message under the prefix that someone else published (or the retained burst)."""

    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class SendFailed:
    """A publish could not be handed to the broker (not connected): the retained view is unsure."""


@dataclass(frozen=True, slots=True)
class SourceFailed:
    """The control interface is lost for good; `message` tells the operator what to do."""

    message: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Finish: nothing more is published after this."""


MirrorInput = (
    Snapshot
    | Changes
    | AnkaiosLink
    | BrokerConnected
    | BrokerSynced
    | BrokerDisconnected
    | BrokerMessage
    | SendFailed
)
Input = MirrorInput | SourceFailed | Stop
