"""Pure tests of the simulator's authorizer, state model, wire format and scenario parser."""

from __future__ import annotations

import copy
import importlib.resources
import re
from collections.abc import Callable

import pytest
from ankaios_sdk._protos import _ank_base, _control_api

from bridge.core.model import SUBSTATES
from bridge.simulator import cluster, instance_id, protoconv
from bridge.simulator.authorizer import Authorizer, allow_matches, deny_matches
from bridge.simulator.scenario import ScenarioError, load_scenario, parse_scenario
from bridge.simulator.session import version_error
from bridge.simulator.statetree import AlteredPaths, Tree


@pytest.mark.parametrize(
    ("rule", "request_mask", "allowed"),
    [
        ("some.pre.fix", "some.pre.fix", True),
        ("some.pre.fix", "some.pre.fix.test", True),
        ("some.pre.fix", "", False),
        ("some.pre.fix", "some.pre", False),
        ("some.pre.fix", "some.pre.fixtest", False),
        ("some.*.fix", "some.pre2.fix.test", True),
        ("some.*.fix", "some.pre.bla.fix", False),
        ("*", "", True),
        ("*", "some.pre.fix.test", True),
        ("", "", False),
        ("", "some.pre", False),
        ("workloadStates", "workloadStates.*.*.*.state", True),
        ("workloadStates.agent_A", "workloadStates.*.*.*.state", False),
    ],
)
def test_allow_rule_is_a_prefix_pattern(rule: str, request_mask: str, allowed: bool) -> None:
    """Allow rules match section-wise; a '*' in the request is compared literally."""
    assert allow_matches(rule, request_mask) is allowed


@pytest.mark.parametrize(
    ("rule", "request_mask", "denied"),
    [
        ("some.pre.fix", "", True),
        ("some.pre.fix", "some.pre", True),
        ("some.pre.fix", "some.pre.fix.test", True),
        ("some.pre.fix", "some2.pre", False),
        ("some.pre.fix", "some.pre.fix2", False),
        ("", "", False),
        ("workloadStates.agent_B", "workloadStates", True),
        ("workloadStates.agent_B", "workloadStates.*.*.*.state", False),
    ],
)
def test_deny_rule_matches_the_common_prefix(rule: str, request_mask: str, denied: bool) -> None:
    """Deny rules match on the common prefix, so a wildcard request slips past agent denies."""
    assert deny_matches(rule, request_mask) is denied


def test_authorizer_needs_every_mask_allowed_and_none_denied() -> None:
    """A request passes only if each mask has an allow rule and no deny rule."""
    auth = Authorizer(read_rules=("workloadStates",), deny_rules=("workloadStates.agent_B",))
    assert auth.may_read(["workloadStates.*.*.*.state", "workloadStates.*.*.*.subState"])
    assert not auth.may_read(["workloadStates.*.*.*.state", "agents"])
    assert not auth.may_read(["workloadStates.agent_B"])
    assert not auth.may_read([])  # the whole state, only a rule starting with '*' grants it
    assert Authorizer().may_read([])
    assert not Authorizer().may_write(["desiredState.workloads.x"])
    assert Authorizer(write_rules=("desiredState",)).may_write(["desiredState.workloads.x"])
    assert Authorizer(log_rules=("nginx*",)).may_read_logs(["nginx_1"])
    assert not Authorizer(log_rules=("nginx*",)).may_read_logs(["sleepy"])


def test_state_table_matches_the_model_and_the_sdk_protos() -> None:
    """Every SDK state/sub-state name maps onto the ank_base oneof member and enum value."""
    descriptor = _ank_base.ExecutionState.DESCRIPTOR
    assert {name: tuple(kind.substates) for name, kind in cluster.STATE_KINDS.items()} == SUBSTATES
    for kind in cluster.STATE_KINDS.values():
        enum_type = descriptor.fields_by_name[kind.field].enum_type
        assert {v.name: v.number for v in enum_type.values} == dict(kind.substates)


def test_instance_id_is_a_stable_sha256() -> None:
    """instance_id gives the same 64 hex digits for the same config, others for others."""
    assert re.fullmatch(r"[0-9a-f]{64}", instance_id("nginx-config-v1"))
    assert instance_id("nginx-config-v1") == instance_id("nginx-config-v1")
    assert instance_id("nginx-config-v1") != instance_id("nginx-config-v2")


def test_execution_state_rejects_unknown_names_with_the_accepted_ones() -> None:
    """A wrong sub-state names the sub-states its state accepts."""
    with pytest.raises(ValueError, match="accepted: RUNNING_OK"):
        cluster.execution_state("RUNNING", "PENDING_INITIAL", None)
    with pytest.raises(ValueError, match="unknown execution state 'BUSY'"):
        cluster.execution_state("BUSY", None, None)


def test_removing_the_last_instance_drops_empty_parents_and_agent_gone_disconnects() -> None:
    """WorkloadStatesMap removes empty maps; AgentGone marks the agent's instances."""
    running = cluster.execution_state("RUNNING", None, None)
    tree = cluster.with_instance(cluster.empty_state(), "a", "w", "1", running)
    tree = cluster.with_instance(tree, "b", "w", "2", running)
    assert cluster.without_instance(tree, "a", "w", "1")["workloadStates"] == {
        "b": {"w": {"2": running}}
    }
    gone = cluster.without_agent(cluster.with_agent(tree, "a"), "a")
    assert cluster.instances(gone) == {
        ("a", "w", "1"): ("AGENT_DISCONNECTED", "AGENT_DISCONNECTED"),
        ("b", "w", "2"): ("RUNNING", "RUNNING_OK"),
    }
    assert cluster.connected_agents(gone) == ()


@pytest.mark.parametrize(
    ("version", "accepted"),
    [
        ("1.0.0", True),
        ("1.7.3", True),
        ("1.0.0-rc.1+build5", True),
        ("0.7.0", False),
        ("2.0.0", False),
        ("1", False),
        ("1.0", False),
        ("01.0.0", False),
        ("", False),
    ],
)
def test_version_check_accepts_any_semver_with_major_one(version: str, accepted: bool) -> None:
    """Only a parseable semver with major 1 is accepted; the refusal names the version."""
    reason = version_error(version)
    assert (reason is None) is accepted
    if not accepted:
        assert reason == f"Unsupported protocol version '{version}'. Currently supported '1'"


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


SUBSCRIBE = _control_api.ToAnkaios(
    request=_ank_base.Request(
        requestId="r1",
        completeStateRequest=_ank_base.CompleteStateRequest(
            fieldMask=["workloadStates.*.*.*.state"], subscribeForEvents=True
        ),
    )
)
PENDING_STARTING: Tree = {
    "workloadStates": {"agent_A": {"nginx": {"ab12": {"state": "Pending", "subState": 2}}}}
}
RUNNING_OK: Tree = {
    "workloadStates": {"agent_A": {"nginx": {"ab12": {"state": "Running", "subState": 0}}}}
}
PATH = "workloadStates.agent_A.nginx.ab12.state"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            _control_api.ToAnkaios(hello=_control_api.Hello(protocolVersion="1.0.0")),
            "09 0a 07 12 05 31 2e 30 2e 30",
        ),
        (protoconv.accepted(), "02 22 00"),
        (
            SUBSCRIBE,
            (
                "26 1a 24 0a 02 72 31 1a 1e 0a 1a 77 6f 72 6b 6c 6f 61 64 53 74 61 74 65 73"
                " 2e 2a 2e 2a 2e 2a 2e 73 74 61 74 65 10 01"
            ),
        ),
        (
            protoconv.state_response("r1", PENDING_STARTING, None),
            (
                "30 1a 2e 0a 02 72 31 22 28 0a 26 12 24 0a 22 0a 07 61 67 65 6e 74 5f 41 12 17 0a 15"
                " 0a 05 6e 67 69 6e 78 12 0c 0a 0a 0a 04 61 62 31 32 12 02 18 02"
            ),
        ),
        (protoconv.response("r1", "eventsCancelAccepted"), "08 1a 06 0a 02 72 31 52 00"),
        (
            protoconv.error("r1", "Access denied"),
            "17 1a 15 0a 02 72 31 1a 0f 0a 0d 41 63 63 65 73 73 20 64 65 6e 69 65 64",
        ),
    ],
)
def test_frames_match_the_reference_bytes(message: object, expected: str) -> None:
    """Frames are byte-identical to the reference examples (varint length, then the body)."""
    assert protoconv.frame(message) == _hex(expected)


def test_event_frames_carry_altered_fields_and_explicit_zero_enums() -> None:
    """Running(Ok) is serialised although 0; a removal event has an empty, present state."""
    update = protoconv.frame(
        protoconv.state_response("r1", RUNNING_OK, AlteredPaths(updated=(PATH,)))
    )
    assert update[:2] == _hex("5b 1a")
    assert _hex("12 02 20 00") in update
    assert _hex("12 29 12 27") + PATH.encode() in update
    removal = protoconv.frame(protoconv.state_response("r1", {}, AlteredPaths(removed=(PATH,))))
    assert removal == _hex("35 1a 33 0a 02 72 31 22 2d 0a 00 12 29 1a 27") + PATH.encode()
    empty_event = protoconv.state_response("r1", {}, AlteredPaths())
    assert empty_event.response.completeStateResponse.HasField("alteredFields")


def test_frame_splitter_reassembles_frames_cut_anywhere() -> None:
    """Frames split at every byte, with multi-byte varints, come out whole and in order."""
    bodies = [b"", b"x" * 5, b"y" * 300, b"z" * 20000]
    stream = b"".join(protoconv.encode_varint(len(b)) + b for b in bodies)
    splitter = protoconv.FrameSplitter()
    out: list[bytes] = []
    for index in range(len(stream)):
        out.extend(splitter.feed(stream[index : index + 1]))
    assert out == bodies
    assert protoconv.FrameSplitter().feed(stream) == bodies


def test_decode_rejects_bytes_that_are_no_protobuf() -> None:
    """A truncated length-delimited field is undecodable; a valid Hello decodes."""
    assert protoconv.decode_to_ankaios(b"\x0a\x05ab") is None
    decoded = protoconv.decode_to_ankaios(_hex("0a 07 12 05 31 2e 30 2e 30"))
    assert decoded is not None
    assert decoded.hello.protocolVersion == "1.0.0"


def test_bundled_demo_scenario_is_a_realistic_vehicle() -> None:
    """The demo has three tagged agents, nine workloads, load reports and every lifecycle to show."""
    demo = load_scenario("demo")
    resource = importlib.resources.files("bridge.simulator").joinpath("scenarios/demo.toml")
    assert resource.is_file()
    agents = {s.agent for s in demo.steps if s.action == "connect"}
    workloads = {s.workload for s in demo.steps if s.action == "set"}
    seen = {(s.state, s.substate) for s in demo.steps if s.action == "set"}
    assert agents == {"hpc1", "hpc2", "infotainment"}
    assert len(workloads) == 9
    assert demo.load_every == 2.0  # a real agent's RESOURCE_MEASUREMENT_INTERVAL_TICK
    connects = [s for s in demo.steps if s.action == "connect"]
    assert all(dict(s.tags).get("zone") for s in connects)
    disconnected = {s.agent for s in demo.steps if s.action == "disconnect"}
    back = [s for s in connects if s.agent in disconnected and s.at > 0.5]
    assert back  # an agent disconnects and comes back with other tags
    assert back[0].tags != next(s.tags for s in connects if s.agent == back[0].agent)
    assert 35 <= demo.duration <= 45
    for needed in [
        ("PENDING", "PENDING_INITIAL"),
        ("PENDING", "PENDING_STARTING"),
        ("RUNNING", "RUNNING_OK"),
        ("FAILED", "FAILED_EXEC_FAILED"),
        ("SUCCEEDED", "SUCCEEDED_OK"),
        ("STOPPING", "STOPPING_REQUESTED_AT_RUNTIME"),
        ("NOT_SCHEDULED", "NOT_SCHEDULED"),
    ]:
        assert needed in seen
    assert any(s.action == "remove" for s in demo.steps)
    assert any(s.agent == "" for s in demo.steps if s.action == "set")
    ids = {s.instance_id for s in demo.steps if s.workload == "navigation"}
    assert len(ids) == 2  # the config update brings a new instance id
    retries = [s for s in demo.steps if s.workload == "telemetry_uploader" and s.info]
    assert [s.info.split(":")[0] for s in retries if s.info] == [f"Retry {n}" for n in range(1, 7)]
    assert {(s.state, s.substate) for s in retries} == {("PENDING", "PENDING_STARTING")}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[step]\n", "not valid TOML"),
        ("name = 'x'\n", "no [[step]] tables"),
        (
            "[[step]]\nat = 1\naction = 'sett'\nagent = 'a'\n",
            "step 1: unknown action 'sett'; accepted actions: connect, disconnect, set, remove, load",
        ),
        ("[[step]]\nat = -1\naction = 'connect'\nagent = 'a'\n", "step 1: 'at' must be"),
        (
            (
                "[[step]]\nat = 0\naction = 'connect'\nagent = 'a'\n"
                "[[step]]\nat = 1\naction = 'set'\nagent = 'a'\nworkload = 'w'\nconfig = 'c'\n"
                "state = 'RUNNING'\nsubstate = 'PENDING_INITIAL'\n"
            ),
            "step 2: 'PENDING_INITIAL' is no sub-state of RUNNING; accepted: RUNNING_OK",
        ),
        (
            "[[step]]\nat = 0\naction = 'remove'\nagent = 'a'\nworkload = 'w'\n",
            "step 1: give exactly one of 'config'",
        ),
        (
            "[[step]]\nat = 0\naction = 'load'\nagent = 'a'\ncpu = 5\nmemory = 1\ncolour = 2\n",
            "step 1: unknown key(s) colour for 'load'; accepted: action, agent, at, cpu, memory",
        ),
        ("[[step]]\nat = 0\naction = 'connect'\nagent = 'a.b'\n", "may only use letters"),
    ],
)
def test_bad_scenarios_name_source_step_and_what_is_accepted(text: str, message: str) -> None:
    """Every scenario problem is one line naming the file, the step and the accepted values."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "bad.toml")
    assert str(caught.value).startswith("bad.toml: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_state_changes_never_modify_the_previous_tree() -> None:
    """Every change returns a new tree and leaves older ones intact (the diff relies on it)."""
    running = cluster.execution_state("RUNNING", None, "x")
    steps: list[Callable[[Tree], Tree]] = [
        lambda t: cluster.with_agent(t, "a"),
        lambda t: cluster.with_instance(t, "a", "w", "1", running),
        lambda t: cluster.with_instance(t, "a", "w", "2", running),
        lambda t: cluster.with_agent_load(t, "a", 5, 6),
        lambda t: cluster.without_instance(t, "a", "w", "1"),
        lambda t: cluster.without_agent(t, "a"),
        lambda t: cluster.without_instance(t, "a", "w", "2"),
    ]
    trees = [cluster.empty_state()]
    for step in steps:
        trees.append(step(trees[-1]))
    snapshots = [copy.deepcopy(tree) for tree in trees]
    for tree in trees:
        for step in steps:
            step(tree)
    assert trees == snapshots
    assert trees[-1] == {"workloadStates": {}, "agents": {}}
