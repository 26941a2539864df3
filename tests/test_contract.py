"""The per-instance contract: its leaves, their payloads both ways, and the plans that keep them (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bridge.core.inputs import Snapshot
from bridge.core.instances import InstanceMirror, plan_instance
from bridge.core.model import (
    DecodedStatus,
    ExecutionState,
    InstanceStatus,
    decode_state,
    decode_status,
    encode_status,
    format_since,
    retained_since,
)
from bridge.core.topics import (
    INSTANCE_LEAVES,
    InstanceKey,
    LeafCodec,
    Publish,
    instance_topic,
    parse_instance_topic,
)

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
    instances = InstanceMirror("ankaios")
    instances.snapshot(Snapshot({NGINX: RUNNING}), datetime(2026, 11, 28, tzinfo=UTC))
    plan = instances.plan_full(retained)
    assert Publish("ankaios/hpc2/radio/cd34/state", b"") in plan
    assert Publish("ankaios/hpc2/radio/cd34/status", b"") in plan
    assert Publish("ankaios/hpc1/nginx/ab12/state", b"RUNNING") in plan
    assert not [item for item in plan if item.topic.endswith("/notes")]


def test_restarted_bridge_keeps_since_of_unchanged_state() -> None:
    """A retained status with the same state and sub-state lends its `since`; a different one does not."""
    payload = encode_status(status(NGINX))
    assert retained_since(payload, state="RUNNING", substate="RUNNING_OK") == SINCE
    assert retained_since(payload, state="FAILED", substate="FAILED_LOST") is None
    assert retained_since(payload, state="RUNNING", substate="FAILED_LOST") is None
    assert retained_since(None, state="RUNNING", substate="RUNNING_OK") is None
    instances = InstanceMirror("ankaios")
    instances.snapshot(Snapshot({NGINX: RUNNING, RADIO: RUNNING}), datetime(2027, 1, 1, tzinfo=UTC))
    instances.plan_full({instance_topic("ankaios", NGINX, "status"): payload})
    assert instances.truth is not None
    assert instances.truth[NGINX].since == SINCE
    assert instances.truth[RADIO].since == "2027-01-01T00:00:00.000Z"


def test_garbage_status_payload_is_not_a_status() -> None:
    """Malformed, non-UTF-8, non-object, deeply nested or oversized status payloads decode to None and lend no since."""
    nested = b"[" * 100_000 + b"]" * 100_000
    huge_number = b'{"state": ' + b"9" * 5000 + b"}"
    for payload in (b"", b"\xff\xfe", b"[1]", b"{", b'{"state": 1}', nested, huge_number):
        assert decode_status(payload) is None
        assert retained_since(payload) is None


def test_malformed_since_is_not_adopted() -> None:
    """A retained status whose `since` is not UTC ISO-8601 lends nothing."""
    odd = InstanceStatus(NGINX, RUNNING, "yesterday")
    assert retained_since(encode_status(odd), state="RUNNING", substate="RUNNING_OK") is None
    offset = encode_status(InstanceStatus(NGINX, RUNNING, "2026-11-28T03:11:18.123+01:00"))
    assert retained_since(offset) is None


def test_status_payload_escapes_what_needs_it() -> None:
    """Names outside Ankaios's character set still give valid JSON (the fast path applies only to plain names)."""
    odd = InstanceStatus(InstanceKey('h"1\\', "ngi\nnx", "ab12"), RUNNING, SINCE)
    assert json.loads(encode_status(odd))["agent"] == 'h"1\\'
    assert json.loads(encode_status(odd))["workload"] == "ngi\nnx"
    plain = encode_status(status(NGINX))
    assert plain == json.dumps(json.loads(plain), separators=(",", ":")).encode()


def test_every_leaf_of_the_table_is_published_parsed_and_read_back() -> None:
    """Each leaf of the contract's table gets a topic, parses back to itself, and its payload decodes."""
    record = status(NGINX)
    plan = plan_instance("ankaios", NGINX, record, {})
    assert [item.topic for item in plan] == [
        instance_topic("ankaios", NGINX, leaf) for leaf in INSTANCE_LEAVES
    ]
    for item, (leaf, codec) in zip(plan, INSTANCE_LEAVES.items(), strict=True):
        assert parse_instance_topic("ankaios", item.topic) == (NGINX, leaf)
        assert item.payload == codec.encode(record)
        assert codec.decode(item.payload) is not None
    cleared = plan_instance("ankaios", NGINX, None, {item.topic: item.payload for item in plan})
    assert cleared == [Publish(item.topic, b"") for item in plan]


def test_decoded_leaves_say_what_was_encoded() -> None:
    """The reader's decoders give back the state, sub-state, info and since the bridge wrote."""
    record = InstanceStatus(NGINX, RUNNING, SINCE, "pulled")
    assert decode_state(b"RUNNING") == "RUNNING"
    assert decode_status(encode_status(record)) == DecodedStatus(
        "RUNNING", "RUNNING_OK", datetime(2026, 11, 28, 2, 11, 18, 123000, tzinfo=UTC), "pulled"
    )


@pytest.mark.parametrize(
    "payload",
    [b"running", b"BOGUS", b"\xff", b"RUNNING ", b'{"state":"RUNNING"}'],
)
def test_a_state_payload_names_a_known_state(payload: bytes) -> None:
    """A `state` payload that is not an execution state name (or UNKNOWN) is garbage to a reader."""
    assert decode_state(payload) is None


def restarts_codec() -> LeafCodec:
    """Return the codec of a made-up `restarts` leaf: a count, as a future contract might add."""

    def decode(payload: bytes) -> int | None:
        return int(payload) if payload.isdigit() else None

    return LeafCodec(lambda record: str(len(record.info)).encode(), decode)


def test_a_leaf_added_to_the_table_is_published_cleared_and_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One more entry in the table is all the mirror's plans and the topic parser need for a new leaf."""
    monkeypatch.setitem(INSTANCE_LEAVES, "restarts", restarts_codec())
    topic = instance_topic("ankaios", NGINX, "restarts")
    assert parse_instance_topic("ankaios", topic) == (NGINX, "restarts")
    instances = InstanceMirror("ankaios")
    instances.snapshot(Snapshot({NGINX: RUNNING}), datetime(2026, 11, 28, tzinfo=UTC))
    published = instances.plan_full({})
    assert [item.topic for item in published][-1] == topic
    assert published[-1].payload == b"0"
    ghost = instance_topic("ankaios", RADIO, "restarts")
    held = {item.topic: item.payload for item in published}
    assert instances.plan_full({**held, ghost: b"3"}) == [Publish(ghost, b"")]
