"""Bad input: one clear log line, the bad item skipped, everything else still correct."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from ankaios_sdk._protos import _ank_base

from bridge.ankaios.feeds import StatesFeed
from bridge.ankaios.framing import encode_varint, frame
from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.expect import SUBSCRIBED, matches
from tests.support.mqtt import Watcher, publish
from tests.support.scene import FAST, NGINX, NGINX_RUNNING, RADIO, assert_converges

# The simulated agent: one running workload.
pytestmark = pytest.mark.sim(NGINX_RUNNING)


def subscription_id(sim: AgentSimulator) -> str:
    """Return the request id of the bridge's live workload-state subscription."""
    sim.wait_for(lambda s: sorted(s.subscriptions.values()) == SUBSCRIBED, 5)
    return next(key for key, masks in sim.subscriptions.items() if masks == StatesFeed.masks)


def event(
    request_id: str, updated: list[str], states: dict[tuple[str, str, str], bytes]
) -> _ank_base.Response:
    """Build an event whose complete state holds raw ExecutionState bytes per instance."""
    response = _ank_base.Response(requestId=request_id)
    answer = response.completeStateResponse
    answer.alteredFields.updatedFields.extend(updated)
    agents = answer.completeState.workloadStates.agentStateMap
    for (agent, workload, iid), raw in states.items():
        agents[agent].wlNameStateMap[workload].idStateMap[iid].ParseFromString(raw)
    return response


def warnings(bridge: BridgeProcess, needle: str) -> list[str]:
    """Return the bridge's log lines that contain `needle`."""
    return [line for line in bridge.log().splitlines() if needle in line]


def test_garbage_frames_are_skipped(sim: AgentSimulator, broker: Mosquitto) -> None:
    """An undecodable frame, an unknown message kind and a broken length are skipped; later changes still arrive."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        subscription_id(sim)
        sim.write_raw(frame(b"\xff\xff\xff\xff"))
        sim.write_raw(frame(b"\x4a\x00"))  # FromAnkaios field 9: a kind this version does not know
        sim.set_state("hpc1", "nginx", NGINX, "STOPPING", "STOPPING_WAITING_TO_STOP")
        assert_converges(sim, broker)
        sim.write_raw(b"\xff" * 8)  # not even a frame length
        sim.set_state("hpc2", "radio", RADIO, "PENDING", "PENDING_INITIAL")
        assert_converges(sim, broker)
        assert len(warnings(bridge, "undecodable frame")) == 1
        assert len(warnings(bridge, "unknown message kind")) == 1
        assert len(warnings(bridge, "frame length is not a valid varint")) == 1
        assert "Traceback" not in bridge.log()


def test_odd_field_paths_are_skipped(sim: AgentSimulator, broker: Mosquitto) -> None:
    """Field paths of an unexpected shape are logged once and skipped; the valid path of the same event applies."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        request_id = subscription_id(sim)
        failed = _ank_base.ExecutionState(failed=0).SerializeToString()
        odd = [
            "workloadStates.hpc1",
            "agents.hpc1.status.cpuUsage",
            "workloadStates.a.b.c.d.e.state",
        ]
        good = f"workloadStates.hpc1.nginx.{NGINX}.state"
        sim.send_response(event(request_id, [*odd, good], {("hpc1", "nginx", NGINX): failed}))
        sim.send_response(event(request_id, odd, {}))
        with Watcher(broker.host, broker.port) as watcher:
            watcher.wait_tree(
                lambda tree: tree.get(f"ankaios/hpc1/nginx/{NGINX}/state") == b"FAILED"
            )
        for path in odd:
            assert len(warnings(bridge, f"unexpected shape: {path!r}")) == 1


def test_unknown_states_are_published_as_unknown(sim: AgentSimulator, broker: Mosquitto) -> None:
    """A state or sub-state a newer Ankaios added is published as UNKNOWN (a known state name kept), logged once per value."""
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
        request_id = subscription_id(sim)
        new_state = encode_varint(10 << 3) + b"\x01"  # ExecutionState field 10: unknown to 1.0
        new_substate = encode_varint(4 << 3) + b"\x07"  # running = 7: no such Running sub-state
        paths = [
            f"workloadStates.hpc1.nginx.{NGINX}.state",
            f"workloadStates.hpc2.radio.{RADIO}.state",
        ]
        for _ in range(3):
            states = {("hpc1", "nginx", NGINX): new_state, ("hpc2", "radio", RADIO): new_substate}
            sim.send_response(event(request_id, paths, states))
        with Watcher(broker.host, broker.port) as watcher:
            tree = watcher.wait_tree(
                lambda tree: (
                    b'"substate":"UNKNOWN"' in tree.get(f"ankaios/hpc2/radio/{RADIO}/status", b"")
                    and tree.get(f"ankaios/hpc1/nginx/{NGINX}/state") == b"UNKNOWN"
                )
            )
        assert tree[f"ankaios/hpc1/nginx/{NGINX}/state"] == b"UNKNOWN"
        assert tree[f"ankaios/hpc2/radio/{RADIO}/state"] == b"RUNNING"
        assert b'"substate":"UNKNOWN"' in tree[f"ankaios/hpc2/radio/{RADIO}/status"]
        assert len(warnings(bridge, "unknown execution state (protobuf field 10)")) == 1
        assert len(warnings(bridge, "unknown sub-state 7 of RUNNING")) == 1


def test_long_names_and_huge_additional_info(sim: AgentSimulator, broker: Mosquitto) -> None:
    """Names at Ankaios's length limit are mirrored; a 1 MB additional info is cut to 1,000 characters and nothing else is lost."""
    agent, workload = "a" * 63, "w" * 63
    sim.set_state(
        agent, workload, RADIO, "FAILED", "FAILED_EXEC_FAILED", additional_info="x" * 1_000_000
    )
    with BridgeProcess(sim.directory, broker.port, *FAST):
        assert_converges(sim, broker)


def test_invalid_configuration_exits_2_with_one_line() -> None:
    """An invalid setting ends the bridge with status 2 and one line naming it, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "--mqtt-port", "0"],
        capture_output=True,
        text=True,
        check=False,
        env={"MQTT_QOS": "1", "PATH": "/usr/bin"},
    )
    assert result.returncode == 2
    assert (
        result.stderr
        == "ankaios-mqtt-bridge: --mqtt-port / MQTT_PORT: '0' is not valid; expected an integer >= 1\n"
    )


def test_missing_control_interface_exits_1_with_one_line(tmp_path: Path, broker: Mosquitto) -> None:
    """Without the FIFOs the bridge says where it looked and that the manifest needs allow rules."""
    with BridgeProcess(tmp_path / "nowhere", broker.port) as bridge:
        assert bridge.wait(5) == 1
        errors = warnings(bridge, " ERROR ")
    assert len(errors) == 1
    assert f"no Ankaios control interface at {tmp_path / 'nowhere'}" in errors[0]
    assert "controlInterfaceAccess.allowRules" in errors[0]
    assert "Traceback" not in bridge.log()


def test_denied_substate_mask_falls_back(tmp_path: Path, broker: Mosquitto) -> None:
    """If Ankaios only allows the state mask, the bridge still publishes states and names the rule to add."""
    with AgentSimulator(tmp_path / "ci", read_rules=("workloadStates.*.*.*.state",)) as sim:
        sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
            assert_converges(sim, broker)
            hint = warnings(bridge, "workloadStates.*.*.*.subState")
        assert len(hint) == 1


def test_denied_state_mask_is_fatal(tmp_path: Path, broker: Mosquitto) -> None:
    """If Ankaios denies the state mask, the bridge exits 1 with one actionable line."""
    with AgentSimulator(tmp_path / "ci", read_rules=("agents",)) as sim:
        with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
            assert bridge.wait(5) == 1
            with Watcher(broker.host, broker.port) as watcher:
                watcher.wait_tree(matches({}, bridge="offline", info=None))
        errors = warnings(bridge, " ERROR ")
    assert len(errors) == 1
    assert "denied reading 'workloadStates.*.*.*.state'" in errors[0]
    assert "StateRule" in errors[0]


def test_hostile_retained_status_at_start(sim: AgentSimulator, broker: Mosquitto) -> None:
    """A retained status of deeply nested JSON, found at start-up, is replaced rather than crashing the bridge."""
    nested = b"[" * 100_000 + b"]" * 100_000
    publish(broker.host, broker.port, f"ankaios/hpc1/nginx/{NGINX}/status", nested)
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges(sim, broker)
    assert "Traceback" not in bridge.log()


def test_topics_of_other_shapes_are_left_alone_and_logged_once(
    sim: AgentSimulator, broker: Mosquitto
) -> None:
    """Retained topics under the prefix that are not an instance's state or status stay untouched, with one log line each."""
    others = {
        f"ankaios/hpc1/nginx/{NGINX}/notes": b"keep me",
        "ankaios/fleet/info": b"vehicle 42",
    }
    for topic, payload in others.items():
        publish(broker.host, broker.port, topic, payload)
    with BridgeProcess(sim.directory, broker.port, *FAST) as bridge:
        assert_converges_with(sim, broker, others)
        publish(broker.host, broker.port, "ankaios/fleet/info", b"vehicle 43")
        others["ankaios/fleet/info"] = b"vehicle 43"
        publish(broker.host, broker.port, "ankaios/late/arrival", b"x")
        others["ankaios/late/arrival"] = b"x"
        assert_converges_with(sim, broker, others)
        for topic in others:
            assert len(warnings(bridge, f"leaving {topic} alone")) == 1


def assert_converges_with(sim: AgentSimulator, broker: Mosquitto, others: dict[str, bytes]) -> None:
    """Wait until the tree is Ankaios's instances plus exactly the `others` topics."""
    with Watcher(broker.host, broker.port) as watcher:
        watcher.wait_tree(
            lambda tree: (
                all(tree.get(t) == p for t, p in others.items())
                and matches(sim.instances())({t: p for t, p in tree.items() if t not in others})
            )
        )
