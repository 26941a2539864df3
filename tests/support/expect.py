"""What the retained tree must hold for a given set of instances (the topic contract)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from bridge.answers import MASKS

# The bridge's subscriptions when Ankaios grants everything: one per topic.
SUBSCRIBED = sorted(MASKS.values())

SINCE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

# (agent, workload, id) -> (state, sub-state) or (state, sub-state, additional info).
Instances = Mapping[tuple[str, str, str], tuple[str, str] | tuple[str, str, str]]
# agent -> (cpuUsage, freeMemory, tags)
AgentLoads = dict[str, tuple[int | None, int | None, dict[str, str]]]
# `$bridge/info` is shown as this when it is a well-formed info document.
INFO = "<info>"
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
}


def expected_tree(
    instances: Instances,
    prefix: str = "ankaios",
    bridge: str = "online",
    ankaios: str | None = None,
    agents: AgentLoads | None = None,
    *,
    info: bool = True,
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
        tree[f"{prefix}/$bridge/info"] = INFO
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


def normalized(tree: dict[str, bytes]) -> dict[str, object]:
    """Return `tree` with status JSON parsed and each well-formed `since` replaced by `*`."""
    result: dict[str, object] = {}
    for topic, payload in tree.items():
        if topic.endswith("/$bridge/info"):
            document = json.loads(payload) if payload else None
            result[topic] = (
                INFO if isinstance(document, dict) and set(document) == INFO_KEYS else payload
            )
        elif topic.endswith("/status") and "/$bridge/" not in topic:
            document = json.loads(payload)
            if isinstance(document, dict) and SINCE.match(str(document.get("since", ""))):
                document["since"] = "*"
            result[topic] = document
        else:
            result[topic] = payload.decode(errors="replace")
    return result


def matches(
    instances: Instances,
    prefix: str = "ankaios",
    bridge: str = "online",
    ankaios: str | None = None,
    agents: AgentLoads | None = None,
    *,
    info: bool | None = True,
) -> Callable[[dict[str, bytes]], bool]:
    """Return a predicate for Watcher.wait_tree: the tree equals the contract for `instances`.

    `info` None: `$bridge/info` may be there or not (a bridge that fails at once may
    exit before its first broker sync).
    """
    want = expected_tree(instances, prefix, bridge, ankaios, agents, info=bool(info))
    info_topic = f"{prefix}/$bridge/info"

    def check(tree: dict[str, bytes]) -> bool:
        if info is None:
            tree = {topic: payload for topic, payload in tree.items() if topic != info_topic}
        try:
            return normalized(tree) == want
        except (ValueError, RecursionError):
            return False

    return check
