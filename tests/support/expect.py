"""What the retained tree must hold for a given set of instances (the topic contract)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from bridge.ankaios.feeds import FEEDS
from tests.support.contract import ContractError, validate_payload

# The bridge's subscriptions when Ankaios grants everything: one per topic.
SUBSCRIBED = sorted(feed.masks for feed in FEEDS)

SINCE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# (agent, workload, id) -> (state, sub-state) or (state, sub-state, additional info).
Instances = Mapping[tuple[str, str, str], tuple[str, str] | tuple[str, str, str]]
# agent -> (cpuUsage, freeMemory, tags)
AgentLoads = dict[str, tuple[int | None, int | None, dict[str, str]]]
# `$bridge/info` is shown as this when it is a well-formed info document.
INFO = "<info>"
# ... and as this when it also says why the bridge stopped (its `stopped` key).
STOPPED = "<info, stopped>"
INFO_KEYS = {
    "version",
    "started",
    "prefix",
    "qos",
    "protocol",
    "brokerLacks",
    "masks",
    "ankaios",
    "instances",
    "agents",
    "counters",
    "warnings",
}


def expected_tree(
    instances: Instances,
    prefix: str = "ankaios",
    bridge: str = "online",
    ankaios: str | None = None,
    agents: AgentLoads | None = None,
    *,
    info: bool = True,
    stopped: bool = False,
) -> dict[str, object]:
    """Return the tree a subscriber must see, with every `since` shown as `*`.

    `$bridge/ankaios` is `connected` while the bridge is online and `disconnected`
    after it stopped, unless `ankaios` says otherwise (a killed bridge leaves it).
    """
    if ankaios is None:
        ankaios = "connected" if bridge == "online" else "disconnected"
    tree: dict[str, object] = {
        f"{prefix}/$bridge/status": bridge,
        f"{prefix}/$bridge/ankaios": ankaios,
    }
    if info:
        tree[f"{prefix}/$bridge/info"] = STOPPED if stopped else INFO
    for name, (cpu, memory, tags) in (agents or {}).items():
        tree[f"{prefix}/{name}/$agent/status"] = {
            "agent": name,
            "cpuUsage": cpu,
            "freeMemory": memory,
            "tags": tags,
            "since": "*",
        }
    for (agent, workload, instance_id), execution in instances.items():
        state, substate = execution[0], execution[1]
        base = f"{prefix}/{agent}/{workload}/{instance_id}"
        tree[f"{base}/state"] = state
        tree[f"{base}/status"] = {
            "state": state,
            "substate": substate,
            "additionalInfo": execution[2] if len(execution) > 2 else "",
            "agent": agent,
            "workload": workload,
            "id": instance_id,
            "since": "*",
        }
    return tree


def normalized(tree: dict[str, bytes], prefix: str = "ankaios") -> dict[str, object]:
    """Return `tree` with status JSON parsed and each well-formed `since` replaced by `*`.

    Every payload must fit docs/asyncapi.yaml first: ContractError names the topic.
    """
    result: dict[str, object] = {}
    for topic, payload in tree.items():
        validate_payload(topic, payload, prefix)
        if topic.endswith("/$bridge/info"):
            document = json.loads(payload) if payload else None
            keys = set(document) if isinstance(document, dict) else set()
            shown = {frozenset(INFO_KEYS): INFO, frozenset({*INFO_KEYS, "stopped"}): STOPPED}
            result[topic] = shown.get(frozenset(keys), payload)
        elif topic.endswith("/status") and "/$bridge/" not in topic:
            document = json.loads(payload)
            if isinstance(document, dict) and SINCE.match(str(document.get("since", ""))):
                document["since"] = "*"
            result[topic] = document
        else:
            result[topic] = payload.decode(errors="replace")
    return result


class TreeCheck:
    """A predicate for Watcher.wait_tree that remembers why the last tree broke the contract."""

    def __init__(self, want: dict[str, object], prefix: str, ignored: frozenset[str]) -> None:
        self.want = want
        self.prefix = prefix
        self.ignored = ignored
        # Shown when the tree never matches: the test then fails with the reason.
        self.violation: str | None = None

    def __call__(self, tree: dict[str, bytes]) -> bool:
        """Return whether `tree` keeps the contract and equals the expected tree."""
        if self.ignored:
            tree = {topic: payload for topic, payload in tree.items() if topic not in self.ignored}
        try:
            shown = normalized(tree, self.prefix)
        except ContractError as err:
            # Fault tests write foreign payloads that the bridge then repairs: a broken
            # contract is a tree that does not match yet, not a failure on its own.
            self.violation = str(err)
            return False
        self.violation = None
        return shown == self.want


def matches(
    instances: Instances,
    prefix: str = "ankaios",
    bridge: str = "online",
    ankaios: str | None = None,
    agents: AgentLoads | None = None,
    *,
    info: bool | None = True,
    stopped: bool = False,
) -> TreeCheck:
    """Return a predicate for Watcher.wait_tree: the tree equals the contract for `instances`.

    `info` None: `$bridge/info` may be there or not (a bridge that fails at once may
    exit before its first broker sync).
    """
    want = expected_tree(
        instances, prefix, bridge, ankaios, agents, info=bool(info), stopped=stopped
    )
    ignored = frozenset((f"{prefix}/$bridge/info",) if info is None else ())
    return TreeCheck(want, prefix, ignored)
