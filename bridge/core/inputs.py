"""Everything the owner thread is told, as one union of frozen dataclasses.

The control-interface reader and the paho callbacks only construct these and
enqueue them; `bridge.core.mirror` decides on them and `bridge.core.owner` runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.core.info import StopReason
from bridge.core.loginputs import LogInput
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from bridge.mqtt.version import MQTT5


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
class Infos:
    """Additional info of instances: every instance's (`complete`, a snapshot) or changed ones."""

    infos: Mapping[InstanceKey, str]
    complete: bool


@dataclass(frozen=True, slots=True)
class AgentReport:
    """What one answer holds of one agent; None where the (filtered) state left it out."""

    cpu_usage: int | None = None
    free_memory: int | None = None
    tags: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Agents:
    """Agents as Ankaios lists them: all of them (`complete`) or what an event altered.

    For an event, `altered` holds the (agent, fields below it) of the added and updated
    paths, whose values `reports` holds, and `removed` those of the removed paths.
    """

    reports: Mapping[str, AgentReport]
    complete: bool
    altered: tuple[tuple[str, tuple[str, ...]], ...] = ()
    removed: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Granted:
    """The field masks Ankaios granted the bridge, in request order."""

    masks: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnkaiosLink:
    """Whether the bridge holds a live Ankaios subscription (accepted, latest request answered)."""

    connected: bool
    # Handshakes accepted after the first one: agent restarts and server reconnects.
    reconnects: int = 0
    # What subscribers should know for as long as the bridge runs (`$bridge/info` `warnings`).
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passed: publish what was held back until now (agent load, info counters)."""


@dataclass(frozen=True, slots=True)
class BrokerConnected:
    """The broker accepted connection `generation` in MQTT `version`; its retained burst follows."""

    generation: int
    version: str = MQTT5


@dataclass(frozen=True, slots=True)
class BrokerSynced:
    """The broker has delivered every retained message of connection `generation`.

    `lacks` names what the contract needs and this broker does not do (see
    bridge.mqtt.sync): the retained view is then incomplete.
    """

    generation: int
    lacks: tuple[str, ...] = ()


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
    """The control interface is lost for good; `stop` says why and what to do."""

    stop: StopReason


@dataclass(frozen=True, slots=True)
class Stop:
    """Finish: nothing more is published after this."""


MirrorInput = (
    Snapshot
    | Changes
    | Infos
    | Agents
    | Granted
    | AnkaiosLink
    | Tick
    | BrokerConnected
    | BrokerSynced
    | BrokerDisconnected
    | BrokerMessage
    | SendFailed
)
Input = MirrorInput | LogInput | SourceFailed | Stop
