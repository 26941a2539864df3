"""`--once --format json`: the whole snapshot as one JSON document for scripts (pure).

The keys are a contract (README, Dashboard): add keys, never rename or drop them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bridge.core.model import format_since
from bridge.dashboard.selection import EVERYTHING, Selection, agent_rows, select
from bridge.dashboard.tree import stale_reason

if TYPE_CHECKING:
    from bridge.core.topics import InstanceKey
    from bridge.dashboard.selection import AgentRow
    from bridge.dashboard.tree import Instance, View


def snapshot_document(
    view: View, broker: str, selection: Selection = EVERYTHING
) -> dict[str, object]:
    """Return the selected agents and instances, the bridge's topics and the connection."""
    tree = view.shown
    selected = select(view, selection).shown.instances
    return {
        "broker": broker,
        "connection": view.connection,
        "stale": stale_reason(view),
        "ignored": tree.ignored,
        "bridge": {
            "status": tree.bridge,
            "ankaios": tree.ankaios,
            "info": None if tree.info is None else dict(tree.info),
        },
        "agents": [_agent(row) for row in agent_rows(tree, selection)],
        "instances": [_instance(key, selected[key]) for key in sorted(selected)],
    }


def format_document(document: dict[str, object]) -> str:
    """Return the document as one line of JSON (`jq` makes it pretty)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _agent(row: AgentRow) -> dict[str, object]:
    status = row.status
    if status is None:
        return {
            "name": row.name,
            "gone": True,
            "workloads": row.workloads,
            "cpuUsage": None,
            "freeMemory": None,
            "tags": {},
            "since": None,
        }
    return {
        "name": row.name,
        "gone": False,
        "workloads": row.workloads,
        "cpuUsage": status.cpu_usage,
        "freeMemory": status.free_memory,
        "tags": dict(status.tags),
        "since": format_since(status.since),
    }


def _instance(key: InstanceKey, instance: Instance) -> dict[str, object]:
    status = instance.status
    return {
        "agent": key.agent,
        "workload": key.workload,
        "id": key.instance_id,
        # The `state` topic's state when the `status` topic is missing.
        "state": status.state if status is not None else instance.state,
        "substate": None if status is None else status.substate,
        "additionalInfo": "" if status is None else status.additional_info,
        "since": None if status is None else format_since(status.since),
    }
