"""What the dashboard knows: a pure reducer of broker events into the retained tree it shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from bridge.core.model import MAX_PAYLOAD_BYTES
from bridge.core.topics import (
    AGENT_LEVEL,
    ANKAIOS_CONNECTED,
    BRIDGE_LEVEL,
    INSTANCE_LEAVES,
    OFFLINE,
    ONLINE,
    InstanceKey,
    agent_topic,
    bridge_topic,
    parse_instance_topic,
)
from bridge.core.topics import ANKAIOS_DISCONNECTED as LINK_DOWN
from bridge.dashboard.events import Connected, Disconnected, Received, SnapshotEnd
from bridge.dashboard.payloads import decode_agent, decode_info
from bridge.dashboard.tree import (
    ANKAIOS_DISCONNECTED,
    BRIDGE_OFFLINE,
    Connection,
    Instance,
    Tree,
    View,
    stale_reason,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from bridge.dashboard.events import Event

# Refusing a payload no bridge writes before json.loads keeps a 1 MB one cheap.
MAX_PAYLOAD = MAX_PAYLOAD_BYTES
_BRIDGE_STATES = {value: value.decode() for value in (ONLINE, OFFLINE)}
_ANKAIOS_STATES = {value: value.decode() for value in (ANKAIOS_CONNECTED, LINK_DOWN)}


def apply(view: View, event: Event) -> View:
    """Return the view after one event."""
    return apply_all(view, (event,))


def apply_all(view: View, events: Iterable[Event]) -> View:
    """Return the view after a batch of events; the tree is copied once per batch."""
    draft = _Draft(view)
    for event in events:
        draft.apply(event)
    return draft.freeze()


class _Draft:
    """Mutable working copy for one batch, so 10,000 retained messages cost one copy."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.instances: dict[InstanceKey, Instance] | None = None
        self.tree = view.loading if view.loading is not None else view.shown
        self.status_topic = bridge_topic(view.prefix, "status")
        self.ankaios_topic = bridge_topic(view.prefix, "ankaios")
        self.info_topic = bridge_topic(view.prefix, "info")
        self.bridge_head = f"{view.prefix}/{BRIDGE_LEVEL}/"
        self.prefix_head = f"{view.prefix}/"

    def apply(self, event: Event) -> None:
        if isinstance(event, Received):
            self._receive(event)
        else:
            self._settle_tree()
            self.view = _transition(self.view, event)
            self.tree = self.view.loading if self.view.loading is not None else self.view.shown
        self._mark_stale(event.at)

    def freeze(self) -> View:
        self._settle_tree()
        return self.view

    def _settle_tree(self) -> None:
        if self.instances is not None:
            instances = MappingProxyType(self.instances)
            self.instances = None
            self._put_tree(replace(self.tree, instances=instances))

    def _put_tree(self, tree: Tree) -> None:
        self.tree = tree
        if self.view.loading is not None:
            self.view = replace(self.view, loading=tree)
        else:
            self.view = replace(self.view, shown=tree)

    def _receive(self, event: Received) -> None:
        topic, payload = event.topic, event.payload
        if topic is None or len(payload) > MAX_PAYLOAD:
            self._ignore()
        elif topic == self.status_topic:
            self._receive_bridge(payload, event.retained)
        elif topic == self.ankaios_topic:
            self._receive_ankaios(payload, event.retained)
        elif topic == self.info_topic:
            self._receive_info(payload)
        elif topic.startswith(self.bridge_head):
            return  # the bridge's other topics are not the dashboard's business
        elif (agent := self._agent_of(topic)) is not None:
            self._receive_agent(agent, topic, payload)
        else:
            self._receive_instance(topic, payload)

    def _agent_of(self, topic: str) -> str | None:
        """Return the agent of a `<prefix>/<agent>/$agent/...` topic, None for other shapes."""
        if not topic.startswith(self.prefix_head):
            return None
        agent, _, rest = topic[len(self.prefix_head) :].partition("/")
        return agent if agent and rest.partition("/")[0] == AGENT_LEVEL else None

    def _receive_agent(self, agent: str, topic: str, payload: bytes) -> None:
        if topic != agent_topic(self.view.prefix, agent):
            return  # another topic of the agent's: the bridge's business, as for $bridge
        status = decode_agent(payload)
        if status is None:
            self._ignore()
            return
        self._settle_tree()
        agents = dict(self.tree.agents)
        gone = set(self.tree.gone)
        if status:
            agents[agent] = status
            gone.discard(agent)
        elif agents.pop(agent, None) is not None:
            gone.add(agent)
        tree = replace(self.tree, agents=MappingProxyType(agents), gone=frozenset(gone))
        self._put_tree(tree)

    def _receive_info(self, payload: bytes) -> None:
        info = decode_info(payload)
        if info is None:
            self._ignore()
            return
        self._settle_tree()
        self._put_tree(replace(self.tree, info=info or None))

    def _receive_bridge(self, payload: bytes, retained: bool) -> None:
        if payload and payload not in _BRIDGE_STATES:
            self._ignore()
            return
        bridge = _BRIDGE_STATES.get(payload, "unknown")
        self._settle_tree()
        self._put_tree(replace(self.tree, bridge=bridge, bridge_retained=retained))

    def _receive_ankaios(self, payload: bytes, retained: bool) -> None:
        if payload and payload not in _ANKAIOS_STATES:
            self._ignore()
            return
        ankaios = _ANKAIOS_STATES.get(payload, "unknown")
        self._settle_tree()
        self._put_tree(replace(self.tree, ankaios=ankaios, ankaios_retained=retained))

    def _receive_instance(self, topic: str, payload: bytes) -> None:
        parsed = parse_instance_topic(self.view.prefix, topic)
        if parsed is None:
            self._ignore()
            return
        key, leaf = parsed
        # A leaf is read by the contract's own decoder; an empty payload clears it.
        value = INSTANCE_LEAVES[leaf].decode(payload) if payload else None
        if payload and value is None:
            self._ignore()
            return
        current = self.tree.instances if self.instances is None else self.instances
        old = current.get(key)
        leaves = dict(old.leaves) if old is not None else {}
        if value is None:
            leaves.pop(leaf, None)
        else:
            leaves[leaf] = value
        instances = self._instances()
        if leaves:
            instances[key] = Instance(leaves)
        else:
            instances.pop(key, None)

    def _instances(self) -> dict[InstanceKey, Instance]:
        if self.instances is None:
            self.instances = dict(self.tree.instances)
        return self.instances

    def _ignore(self) -> None:
        self._settle_tree()
        self._put_tree(replace(self.tree, ignored=self.tree.ignored + 1))

    def _mark_stale(self, at: datetime) -> None:
        reason = stale_reason(self.view)
        if reason is None:
            if self.view.stale_since is not None:
                self.view = replace(self.view, stale_since=None, stale_exact=True)
        elif self.view.stale_since is None:
            # A bridge that was already offline (or cut off from Ankaios) when the
            # snapshot arrived got so at some unknown moment before it.
            shown = self.view.shown
            exact = not (
                (reason == BRIDGE_OFFLINE and shown.bridge_retained)
                or (reason == ANKAIOS_DISCONNECTED and shown.ankaios_retained)
            )
            self.view = replace(self.view, stale_since=at, stale_exact=exact)


def _transition(view: View, event: Connected | Disconnected | SnapshotEnd) -> View:
    if isinstance(event, Connected):
        return replace(view, connection="connected", reason="", loading=Tree())
    if isinstance(event, Disconnected):
        connection: Connection = "reconnecting" if view.snapshots else "connecting"
        return replace(view, connection=connection, reason=event.reason, loading=None)
    if view.loading is None:
        return view
    return replace(view, shown=view.loading, loading=None, snapshots=view.snapshots + 1)
