"""docs/asyncapi.yaml: valid for the AsyncAPI parser, true to the bridge's encoders, and able to fail."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

import bridge
from bridge.ankaios.fieldpaths import BRIDGE_MASKS
from bridge.core.agents import AgentStatus, encode_agent
from bridge.core.info import (
    RETAINED,
    RETAINED_ON_WILDCARD,
    SUBSCRIPTION,
    BridgeFacts,
    Counters,
    InfoFields,
    encode_info,
)
from bridge.core.model import (
    MAX_INFO_CHARS,
    STATES,
    SUBSTATES,
    UNKNOWN,
    ExecutionState,
    InstanceStatus,
    clip_info,
    encode_state,
    encode_status,
)
from bridge.core.topics import InstanceKey, agent_topic, bridge_topic, instance_topic
from bridge.mqtt.version import MQTT5, MQTT311
from tests.support.contract import DOCUMENT, ContractError, channel_of, document, validate_payload
from tests.support.expect import INFO_KEYS

ROOT = Path(__file__).resolve().parent.parent
CHECK = ROOT / "docs" / "asyncapi-check"
README = ROOT / "README.md"
SINCE = "2026-11-28T02:11:18.123Z"
ID = "1f" * 32
NGINX = InstanceKey("hpc1", "nginx", ID)
FACTS = BridgeFacts("0.1.0", SINCE, "ankaios", 1)
INFO = "ankaios/$bridge/info"
HPC1 = agent_topic("ankaios", "hpc1")


def run_validator(path: str) -> subprocess.CompletedProcess[str]:
    """Run docs/asyncapi-check/validate.mjs on `path` (from the repository root); fail in one line when it is not installed."""
    if shutil.which("node") is None or not (CHECK / "node_modules" / "@asyncapi").is_dir():
        pytest.fail(
            "the AsyncAPI parser is not installed: run `bash .ci/run` "
            "(or `npm ci --prefix docs/asyncapi-check`)",
            pytrace=False,
        )
    return subprocess.run(
        ["node", str(CHECK / "validate.mjs"), path],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )


def schema(name: str) -> dict[str, Any]:
    """Return one of the document's component schemas."""
    found: dict[str, Any] = document()["components"]["schemas"][name]
    return found


def status(state: str, substate: str, info: str = "", key: InstanceKey = NGINX) -> bytes:
    """Return the `status` payload the bridge encodes for one instance."""
    return encode_status(InstanceStatus(key, ExecutionState(state, substate), SINCE, info))


def info_document(**changes: object) -> bytes:
    """Return an info payload the bridge encodes, with some keys changed (None: left out)."""
    encoded = json.loads(encode_info(FACTS, InfoFields(), Counters()))
    for key, value in changes.items():
        if value is None:
            del encoded[key]
        else:
            encoded[key] = value
    return json.dumps(encoded).encode()


def test_the_document_is_valid_asyncapi() -> None:
    """The AsyncAPI project's parser accepts docs/asyncapi.yaml without an error or a warning."""
    result = run_validator("docs/asyncapi.yaml")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "docs/asyncapi.yaml: valid AsyncAPI 3.0.0 (10 channels, 10 operations, 0 warnings)\n"
    )


def _address_not_a_string(spec: dict[str, Any]) -> None:
    spec["channels"]["bridgeInfo"]["address"] = 42


def _operation_to_a_missing_channel(spec: dict[str, Any]) -> None:
    spec["operations"]["publishBridgeInfo"]["channel"] = {"$ref": "#/channels/nowhere"}


def _payload_type_misspelled(spec: dict[str, Any]) -> None:
    spec["components"]["schemas"]["bridgeInfo"]["properties"]["qos"]["type"] = "intger"


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (_address_not_a_string, '"address" property type must be string'),
        (_operation_to_a_missing_channel, "'#/channels/nowhere' does not exist"),
        (_payload_type_misspelled, 'Did you mean "integer"?'),
    ],
    ids=["address-not-a-string", "operation-to-a-missing-channel", "payload-type-misspelled"],
)
def test_the_validator_rejects_a_broken_document(
    tmp_path: Path, breakage: Callable[[dict[str, Any]], None], reason: str
) -> None:
    """A copy of the document with one mistake makes the validator exit 1 and print that error."""
    spec = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    breakage(spec)
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = run_validator(str(broken))
    assert (result.returncode, result.stdout) == (1, "")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert any(reason in line for line in errors), result.stderr
    assert result.stderr.endswith(f"invalid ({len(errors)} error(s))\n")


def test_every_state_and_substate_fits_the_document() -> None:
    """Both leaves of an instance fit in every state with each of its sub-states, UNKNOWN included."""
    pairs = [(state, sub) for state, subs in SUBSTATES.items() for sub in (*subs, UNKNOWN)]
    for state, substate in [*pairs, (UNKNOWN, UNKNOWN)]:
        execution = InstanceStatus(NGINX, ExecutionState(state, substate), SINCE)
        validate_payload(instance_topic("ankaios", NGINX, "state"), encode_state(execution))
        validate_payload(instance_topic("ankaios", NGINX, "status"), encode_status(execution))


ODD = InstanceKey('h"1\\', "ngi\tnx", "ab12")
LACKING = InfoFields(
    BRIDGE_MASKS, "connected", 12, 3, "3.1.1", ("retainedOnWildcard", "subscription")
)


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        pytest.param(instance_topic("ankaios", NGINX, "status"), status("PENDING", "PENDING_STARTING_FAILED", clip_info('exec "failed"\n' * 500)), id="clipped-info"),
        pytest.param(instance_topic("ankaios", NGINX, "status"), status("FAILED", "FAILED_EXEC_FAILED", "ünïcode ✗"), id="unicode-info"),
        pytest.param(instance_topic("ankaios", ODD, "status"), status("RUNNING", "RUNNING_OK", key=ODD), id="escaped-names"),
        pytest.param(f"ankaios//maps/{ID}/status", status("NOT_SCHEDULED", "NOT_SCHEDULED", key=InstanceKey("", "maps", ID)), id="not-scheduled"),
        pytest.param(HPC1, encode_agent(AgentStatus("hpc1", 12, 8_123_456_789, (("zone", "front"),), SINCE)), id="agent-loaded"),
        pytest.param(HPC1, encode_agent(AgentStatus("hpc1", None, None, (), SINCE)), id="agent-before-load"),
        pytest.param(INFO, encode_info(FACTS, InfoFields(), Counters()), id="info-at-start"),
        pytest.param(INFO, encode_info(FACTS, LACKING, Counters(815, 1630, 4, 1, 0, 30)), id="info-lacking-broker"),
        pytest.param(bridge_topic("ankaios", "status"), b"online", id="online"),
        pytest.param(bridge_topic("ankaios", "status"), b"offline", id="offline"),
        pytest.param(bridge_topic("ankaios", "ankaios"), b"connected", id="connected"),
        pytest.param(bridge_topic("ankaios", "ankaios"), b"disconnected", id="disconnected"),
        pytest.param(bridge_topic("ankaios", "sync/" + "ab" * 16), b"1", id="sync-marker"),
        pytest.param(instance_topic("ankaios", NGINX, "state"), b"", id="state-cleared"),
        pytest.param(instance_topic("ankaios", NGINX, "status"), b"", id="status-cleared"),
        pytest.param(HPC1, b"", id="agent-cleared"),
    ],
)  # fmt: skip
def test_what_the_bridge_encodes_fits_the_document(topic: str, payload: bytes) -> None:
    """Payloads the bridge's encoders make, with odd names, long info and clears, are allowed."""
    validate_payload(topic, payload)


def test_another_prefix_is_a_prefix_of_several_levels() -> None:
    """With `--topic-prefix car/ankaios` the same channels hold, and info's prefix is the topic's."""
    facts = BridgeFacts("0.1.0", SINCE, "car/ankaios", 0)
    validate_payload(
        "car/ankaios/$bridge/info", encode_info(facts, InfoFields(), Counters()), "car/ankaios"
    )
    validate_payload(instance_topic("car/ankaios", NGINX, "state"), b"RUNNING", "car/ankaios")


NGINX_STATE = instance_topic("ankaios", NGINX, "state")
NGINX_STATUS = instance_topic("ankaios", NGINX, "status")
RUNNING = json.loads(status("RUNNING", "RUNNING_OK"))
AGENT = json.loads(encode_agent(AgentStatus("hpc1", 1, 2, (), SINCE)))


def changed(document: dict[str, Any], **changes: object) -> bytes:
    """Return `document` with some keys changed (None: left out), encoded."""
    result = {key: value for key, value in document.items() if changes.get(key, 0) is not None}
    result.update({key: value for key, value in changes.items() if value is not None})
    return json.dumps(result).encode()


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        pytest.param(NGINX_STATE, b"BOGUS", "'BOGUS' is not one of", id="state-bogus"),
        pytest.param(NGINX_STATE, b"running", "'running' is not one of", id="state-lower-case"),
        pytest.param(NGINX_STATE, b"\xff", "not readable", id="state-not-utf8"),
        pytest.param(NGINX_STATUS, changed(RUNNING, substate=None, substat="RUNNING_OK"), "'substat' was unexpected", id="status-misspelled-key"),
        pytest.param(NGINX_STATUS, changed(RUNNING, additionalInfo=None), "'additionalInfo' is a required property", id="status-missing-key"),
        pytest.param(NGINX_STATUS, changed(RUNNING, since="2026-11-28T02:11:18Z"), "does not match", id="status-since-without-ms"),
        pytest.param(NGINX_STATUS, changed(RUNNING, substate="PENDING_INITIAL"), "is not one of ['RUNNING_OK', 'UNKNOWN']", id="status-substate-of-another-state"),
        pytest.param(NGINX_STATUS, changed(RUNNING, additionalInfo="x" * (MAX_INFO_CHARS + 1)), "is too long", id="status-info-too-long"),
        pytest.param(NGINX_STATUS, changed(RUNNING, agent="hpc2"), "agent is not the topic's 'hpc1'", id="status-agent-not-the-topics"),
        pytest.param(NGINX_STATUS, b'{"state": "RUNNING", "substate": ', "not readable", id="status-truncated-json"),
        pytest.param(HPC1, changed(AGENT, cpuUsage="12"), "is not of type 'integer', 'null'", id="agent-cpu-as-text"),
        pytest.param(HPC1, changed(AGENT, tags={"zone": 1}), "is not of type 'string'", id="agent-tag-not-text"),
        pytest.param(HPC1, changed(AGENT, agent="hpc2"), "agent is not the topic's 'hpc1'", id="agent-not-the-topics"),
        pytest.param(INFO, info_document(protocol=None), "'protocol' is a required property", id="info-without-protocol"),
        pytest.param(INFO, info_document(brokerLacks=None), "'brokerLacks' is a required property", id="info-without-brokerLacks"),
        pytest.param(INFO, info_document(protocol="3"), "'3' is not one of", id="info-unknown-protocol"),
        pytest.param(INFO, info_document(brokerLacks=["subscription", "subscription"]), "has non-unique elements", id="info-brokerLacks-twice"),
        pytest.param(INFO, info_document(brokerLacks=["wildcards"]), "'wildcards' is not one of", id="info-brokerLacks-unknown"),
        pytest.param(INFO, info_document(hostname="ecu-7"), "'hostname' was unexpected", id="info-extra-key"),
        pytest.param(INFO, info_document(masks=["agents"]), "'agents' is not one of", id="info-unknown-mask"),
        pytest.param(INFO, info_document(counters={"events": 1}), "is a required property", id="info-counters-missing"),
        pytest.param(INFO, info_document(prefix="car"), "prefix is not the topic's 'ankaios'", id="info-prefix-not-the-topics"),
        pytest.param(bridge_topic("ankaios", "status"), b"maybe", "'maybe' is not one of", id="status-maybe"),
        pytest.param(bridge_topic("ankaios", "status"), b"", "is never cleared", id="status-cleared"),
        pytest.param(bridge_topic("ankaios", "sync/" + "ab" * 16), b"0", "does not match", id="sync-marker-zero"),
        pytest.param("ankaios/hpc1/nginx", b"RUNNING", "matches no channel", id="no-channel"),
    ],
)  # fmt: skip
def test_a_payload_against_the_document_fails_naming_the_topic(
    topic: str, payload: bytes, reason: str
) -> None:
    """A wrong state, a misspelled, missing or extra key, a bad value or a foreign topic is a ContractError naming the topic."""
    with pytest.raises(ContractError, match=re.escape(topic)) as raised:
        validate_payload(topic, payload)
    assert reason in str(raised.value)


@pytest.mark.parametrize(
    ("topic", "prefix", "channel"),
    [
        (f"ankaios/hpc1/nginx/{ID}/state", "ankaios", "instanceState"),
        (f"ankaios//maps/{ID}/status", "ankaios", "instanceStatus"),
        ("ankaios/hpc1/$agent/status", "ankaios", "agentStatus"),
        ("ankaios/$bridge/status", "ankaios", "bridgeStatus"),
        ("ankaios/$bridge/ankaios", "ankaios", "ankaiosLink"),
        ("vehicle/ankaios/$bridge/info", "vehicle/ankaios", "bridgeInfo"),
        ("ankaios/$bridge/sync/" + "ab" * 16, "ankaios", "syncMarker"),
        ("ankaios/$bridge/logs/request", "ankaios", "logsRequest"),
        ("ankaios/$bridge/logs/reply/dash-1", "ankaios", "logsReply"),
        (f"ankaios/hpc1/nginx/{ID}/logs", "ankaios", "instanceLogs"),
    ],
)
def test_each_topic_shape_is_exactly_one_channel(topic: str, prefix: str, channel: str) -> None:
    """Every topic shape of the README's contract belongs to exactly one channel of the document."""
    assert channel_of(topic, prefix)[0].name == channel


def keys(payload: bytes) -> list[str]:
    """Return the keys of a JSON object payload, in order."""
    return list(json.loads(payload))


def test_the_schemas_name_what_the_code_names() -> None:
    """States, sub-states, masks and every document's keys (in order) are the code's, and the version is the package's."""
    substates = [name for names in SUBSTATES.values() for name in names]
    assert set(schema("executionState")["enum"]) == {*STATES, UNKNOWN}
    assert set(schema("subState")["enum"]) == {*substates, UNKNOWN}
    pairs = {
        rule["if"]["properties"]["state"]["const"]: rule["then"]["properties"]["substate"]["enum"]
        for rule in schema("instanceStatus")["allOf"]
    }
    assert pairs == {state: [*SUBSTATES.get(state, ()), UNKNOWN] for state in (*STATES, UNKNOWN)}
    assert schema("instanceStatus")["required"] == keys(status("RUNNING", "RUNNING_OK"))
    assert schema("agentStatus")["required"] == keys(
        encode_agent(AgentStatus("a", 1, 2, (), SINCE))
    )
    info = schema("bridgeInfo")
    assert info["required"] == keys(encode_info(FACTS, InfoFields(), Counters()))
    assert set(info["required"]) == INFO_KEYS
    assert info["properties"]["masks"]["items"]["enum"] == list(BRIDGE_MASKS)
    lacks = info["properties"]["brokerLacks"]["items"]["enum"]
    assert lacks == [RETAINED_ON_WILDCARD, RETAINED, SUBSCRIPTION]
    assert info["properties"]["protocol"]["enum"] == [MQTT5, MQTT311]
    counters = info["properties"]["counters"]["required"]
    assert counters == [field.name for field in fields(Counters)]
    assert schema("instanceStatus")["properties"]["additionalInfo"]["maxLength"] == MAX_INFO_CHARS
    assert document()["info"]["version"] == bridge.__version__


def objects(body: object) -> list[dict[str, Any]]:
    """Return every object schema with `properties` inside `body`, itself included."""
    if isinstance(body, list):
        return [found for item in body for found in objects(item)]
    if not isinstance(body, dict):
        return []
    own = [body] if body.get("type") == "object" and "properties" in body else []
    return own + [found for value in body.values() for found in objects(value)]


def test_every_schema_is_draft_07_and_every_example_fits() -> None:
    """Each component schema is a valid draft-07 schema, and each message example passes validate_payload."""
    components = document()["components"]
    for name, body in components["schemas"].items():
        Draft7Validator.check_schema(body)
        for part in objects(body):
            # Strict on purpose, so that the tests catch a key the bridge adds (a map like
            # `tags` has no `properties`).
            assert part.get("additionalProperties") is False, name
    topics: dict[str, Callable[[Any], str]] = {
        "instanceState": lambda _: NGINX_STATE,
        "instanceStatus": lambda doc: (
            f"ankaios/{doc['agent']}/{doc['workload']}/{doc['id']}/status"
        ),
        "agentStatus": lambda doc: agent_topic("ankaios", doc["agent"]),
        "bridgeInfo": lambda _: INFO,
        "logsRequest": lambda _: "ankaios/$bridge/logs/request",
        "logsReply": lambda _: "ankaios/$bridge/logs/reply/operator-1",
    }
    checked = 0
    for name, message in components["messages"].items():
        for example in message.get("examples", ()):
            payload = example["payload"]
            encoded = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
            validate_payload(topics[name](payload), encoded)
            checked += 1
    assert checked == 7


def test_the_readme_examples_fit() -> None:
    """The JSON examples in README's topic table are documents the schemas allow."""
    section = README.read_text(encoding="utf-8").split("## Topic contract", 1)[1]
    rows = [line for line in section.split("\n## ", 1)[0].splitlines() if line.startswith("| `<")]
    checked = 0
    for row in rows:
        address = row.split("`")[1]
        for code in re.findall(r"`(\{[^`]*\})`", row):
            example = json.loads(code)
            topic = address.replace("<prefix>", "ankaios")
            for level in ("agent", "workload", "id"):
                topic = topic.replace(f"<{level}>", str(example.get(level, "")))
            validate_payload(topic, code.encode())
            checked += 1
    assert checked == 3
