"""The retained tree as the dashboard holds it, and the view around it: what is shown (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from bridge.core.model import DecodedStatus
from bridge.core.topics import STATE_LEAF, STATUS_LEAF, InstanceKey
from bridge.dashboard.payloads import AgentStatus

BRIDGE_OFFLINE = "bridge offline"
ANKAIOS_DISCONNECTED = "bridge disconnected from Ankaios"

Connection = Literal["connecting", "connected", "reconnecting"]


@dataclass(frozen=True, slots=True)
class Instance:
    """The retained leaves of one instance as last received, decoded, by leaf.

    Any leaf of the contract (bridge.core.topics.INSTANCE_LEAVES) may be here; a
    cleared one is absent. Never changed once made.
    """

    leaves: Mapping[str, object] = field(default_factory=dict)
    # The two leaves every redraw reads, looked up once when the instance is made:
    # a lookup per redraw made the live redraw of 10,000 instances half as slow again.
    state: str | None = field(init=False)  # the bare execution state name
    status: DecodedStatus | None = field(init=False)

    def __post_init__(self) -> None:
        state, status = self.leaves.get(STATE_LEAF), self.leaves.get(STATUS_LEAF)
        object.__setattr__(self, "state", state if isinstance(state, str) else None)
        object.__setattr__(self, "status", status if isinstance(status, DecodedStatus) else None)


@dataclass(frozen=True, slots=True)
class Tree:
    """The retained tree under the prefix as received on one connection."""

    instances: Mapping[InstanceKey, Instance] = field(default_factory=lambda: MappingProxyType({}))
    # Connected agents by name, from `<agent>/$agent/status`.
    agents: Mapping[str, AgentStatus] = field(default_factory=lambda: MappingProxyType({}))
    # Agents whose status was cleared while the dashboard watched: they disconnected.
    # A new snapshot forgets them, as the broker does.
    gone: frozenset[str] = frozenset()
    # `$bridge/info` as the bridge sent it; None while there is none.
    info: Mapping[str, object] | None = None
    bridge: str = "unknown"
    bridge_retained: bool = True
    # `$bridge/ankaios`: whether the bridge holds a live Ankaios subscription.
    ankaios: str = "unknown"
    ankaios_retained: bool = True
    ignored: int = 0


@dataclass(frozen=True, slots=True)
class View:
    """Everything the dashboard shows: the tree, the connection and whether it is stale."""

    prefix: str
    shown: Tree = field(default_factory=Tree)
    # The snapshot being received after a (re)connect; it replaces `shown` at its
    # end, so instances cleared while the dashboard was away disappear too.
    loading: Tree | None = None
    connection: Connection = "connecting"
    reason: str = ""
    snapshots: int = 0
    stale_since: datetime | None = None
    stale_exact: bool = True


def stale_reason(view: View) -> str | None:
    """Return why the shown tree may be out of date, or None when it is current."""
    if view.snapshots == 0:
        return None
    if view.connection != "connected":
        return "broker unreachable"
    if view.loading is not None:
        return "reloading after reconnect"
    if view.shown.bridge == "offline":
        return BRIDGE_OFFLINE
    if view.shown.ankaios == "disconnected":
        return ANKAIOS_DISCONNECTED
    return None
