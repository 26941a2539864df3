"""What the retained tree must hold for a given set of instances (the topic contract)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

SINCE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

Instances = dict[tuple[str, str, str], tuple[str, str]]


def expected_tree(
    instances: Instances,
    prefix: str = "ankaios",
    bridge: str = "online",
    ankaios: str | None = None,
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
    for (agent, workload, instance_id), (state, substate) in instances.items():
        base = f"{prefix}/{agent}/{workload}/{instance_id}"
        tree[f"{base}/state"] = state
        tree[f"{base}/status"] = {
            "state": state,
            "substate": substate,
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
        if topic.endswith("/status") and "/$bridge/" not in topic:
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
) -> Callable[[dict[str, bytes]], bool]:
    """Return a predicate for Watcher.wait_tree: the tree equals the contract for `instances`."""
    want = expected_tree(instances, prefix, bridge, ankaios)

    def check(tree: dict[str, bytes]) -> bool:
        try:
            return normalized(tree) == want
        except (ValueError, RecursionError):
            return False

    return check
