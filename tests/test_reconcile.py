"""Reconciliation decisions and status payloads (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.core.model import (
    ExecutionState,
    InstanceStatus,
    decode_status,
    encode_status,
    format_since,
)
from bridge.core.reconcile import Publish, plan_full, plan_instance, retained_since
from bridge.core.topics import InstanceKey

NGINX = InstanceKey("hpc1", "nginx", "ab12")
RADIO = InstanceKey("hpc2", "radio", "cd34")
RUNNING = ExecutionState("RUNNING", "RUNNING_OK")
SINCE = "2026-11-28T02:11:18.123Z"


def status(
    key: InstanceKey, execution: ExecutionState = RUNNING, since: str = SINCE
) -> InstanceStatus:
    """Return an instance status for the tests."""
    return InstanceStatus(key, execution, since)


def test_status_payload_is_compact_json() -> None:
    """The status payload carries state, substate, additionalInfo, agent, workload, id and since."""
    payload = encode_status(status(NGINX))
    assert json.loads(payload) == {
        "state": "RUNNING",
        "substate": "RUNNING_OK",
        "additionalInfo": "",
        "agent": "hpc1",
        "workload": "nginx",
        "id": "ab12",
        "since": SINCE,
    }
    assert b" " not in payload


def test_additional_info_is_escaped_json_text() -> None:
    """Additional info of any text (quotes, newlines, non-ASCII) comes back intact from the status JSON."""
    text = 'pull failed: "registry" unreachable\n\tretry 3 \u2026 \u00fc'
    payload = encode_status(InstanceStatus(NGINX, RUNNING, SINCE, text))
    assert json.loads(payload)["additionalInfo"] == text


def test_since_is_utc_iso_with_z() -> None:
    """`since` is UTC ISO-8601 with milliseconds, ending in Z."""
    moment = datetime(2026, 11, 28, 2, 11, 18, 123456, tzinfo=UTC)
    assert format_since(moment) == SINCE


def test_plan_publishes_only_what_differs() -> None:
    """An instance whose retained topics already match needs no publish."""
    retained = {
        "ankaios/hpc1/nginx/ab12/state": b"RUNNING",
        "ankaios/hpc1/nginx/ab12/status": encode_status(status(NGINX)),
    }
    assert plan_instance("ankaios", NGINX, status(NGINX), retained) == []
    changed = status(NGINX, ExecutionState("FAILED", "FAILED_EXEC_FAILED"))
    plan = plan_instance("ankaios", NGINX, changed, retained)
    assert [item.topic for item in plan] == [
        "ankaios/hpc1/nginx/ab12/state",
        "ankaios/hpc1/nginx/ab12/status",
    ]
    assert plan[0].payload == b"FAILED"


def test_full_plan_clears_unknown_instances_and_leaves_other_shapes() -> None:
    """Retained state/status of instances Ankaios does not report are cleared; other topics stay."""
    retained = {
        "ankaios/hpc2/radio/cd34/state": b"RUNNING",
        "ankaios/hpc2/radio/cd34/status": b"{}",
        "ankaios/hpc2/radio/cd34/notes": b"keep me",
        "ankaios/$bridge/status": b"online",
    }
    plan = plan_full("ankaios", {NGINX: status(NGINX)}, retained)
    assert Publish("ankaios/hpc2/radio/cd34/state", b"") in plan
    assert Publish("ankaios/hpc2/radio/cd34/status", b"") in plan
    assert Publish("ankaios/hpc1/nginx/ab12/state", b"RUNNING") in plan
    assert not [item for item in plan if item.topic.endswith("/notes")]


def test_restarted_bridge_keeps_since_of_unchanged_state() -> None:
    """A retained status with the same state and sub-state lends its `since`; a different one does not."""
    retained = {"ankaios/hpc1/nginx/ab12/status": encode_status(status(NGINX))}
    assert retained_since("ankaios", NGINX, RUNNING, retained) == SINCE
    failed = ExecutionState("FAILED", "FAILED_LOST")
    assert retained_since("ankaios", NGINX, failed, retained) is None
    assert retained_since("ankaios", RADIO, RUNNING, retained) is None


def test_garbage_status_payload_is_not_a_status() -> None:
    """Malformed, non-UTF-8, non-object, deeply nested or oversized status payloads decode to None."""
    nested = b"[" * 100_000 + b"]" * 100_000
    huge_number = b'{"state": ' + b"9" * 5000 + b"}"
    for payload in (b"", b"\xff\xfe", b"[1]", b"{", b'{"state": 1}', nested, huge_number):
        assert decode_status(payload) is None


def test_malformed_since_is_not_adopted() -> None:
    """A retained status whose `since` is not UTC ISO-8601 lends nothing."""
    odd = InstanceStatus(NGINX, RUNNING, "yesterday")
    retained = {"ankaios/hpc1/nginx/ab12/status": encode_status(odd)}
    assert retained_since("ankaios", NGINX, RUNNING, retained) is None


def test_status_payload_escapes_what_needs_it() -> None:
    """Names outside Ankaios's character set still give valid JSON (the fast path applies only to plain names)."""
    odd = InstanceStatus(InstanceKey('h"1\\', "ngi\nnx", "ab12"), RUNNING, SINCE)
    assert json.loads(encode_status(odd))["agent"] == 'h"1\\'
    assert json.loads(encode_status(odd))["workload"] == "ngi\nnx"
    plain = encode_status(status(NGINX))
    assert plain == json.dumps(json.loads(plain), separators=(",", ":")).encode()
