"""`ankaios-mqtt-dashboard --once` against a real mosquitto holding retained topics."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridge.ankaios.fieldpaths import BRIDGE_MASKS
from bridge.core.model import (
    ExecutionState,
    InstanceStatus,
    encode_state,
    encode_status,
    format_since,
)
from bridge.core.topics import InstanceKey, instance_topic
from bridge.dashboard import main
from bridge.dashboard.app import wait_for_snapshot
from bridge.settings.commands import default_settings
from tests.support.broker import Mosquitto, free_port
from tests.support.contract import validate_payload
from tests.support.mqtt import Watcher, publish, wait_for
from tests.support.tls import Pki, TlsMosquitto, make_pki, publish_as

SCRIPT = Path(sys.executable).parent / "ankaios-mqtt-dashboard"


def retained(
    key: InstanceKey, state: str, substate: str, ago: timedelta, info: str | None = None
) -> list[tuple[str, bytes]]:
    """Return the two retained topics the bridge publishes for one instance.

    Without `info` the status is an older bridge's, without `additionalInfo`.
    """
    status = InstanceStatus(
        key, ExecutionState(state, substate), format_since(datetime.now(UTC) - ago)
    )
    payload = encode_status(status)
    if info is not None:
        payload = json.dumps({**json.loads(payload), "additionalInfo": info}).encode()
    return [
        (instance_topic("ankaios", key, "state"), encode_state(status)),
        (instance_topic("ankaios", key, "status"), payload),
    ]


def publish_many(broker: Mosquitto, messages: list[tuple[str, bytes]], username: str = "") -> None:
    """Publish retained messages as one ordinary client and wait until the broker has them all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    if username:
        client.username_pw_set(username)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        # QoS 0 is fast; the broker handles one connection's packets in order, so
        # the PUBACK of a last QoS 1 publish means it has stored all of them.
        for topic, payload in messages[:-1]:
            client.publish(topic, payload, qos=0, retain=True)
        topic, payload = messages[-1]
        client.publish(topic, payload, qos=1, retain=True).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


AGENT_SINCE = "2026-12-01T10:00:00.000Z"
EXEC_FAILED = (
    "exec failed: podman: Error: short-name resolution enforced\n  see man 5 registries.conf"
)
INFO = {
    "version": "0.2.0",
    "started": "2026-12-01T09:59:58.000Z",
    "prefix": "ankaios",
    "qos": 1,
    "protocol": "5",
    "brokerLacks": [],
    "masks": list(BRIDGE_MASKS),
    "ankaios": "connected",
    "instances": 5,
    "agents": 2,
    "counters": {
        "events": 12,
        "publishes": 30,
        "clears": 0,
        "brokerReconnects": 0,
        "agentReconnects": 1,
        "repairs": 0,
    },
    "warnings": [],
}


def agent_status(name: str, cpu: int | None, memory: int | None, tags: dict[str, str]) -> bytes:
    """Return the `$agent/status` payload the bridge publishes for a connected agent."""
    document = {"agent": name, "cpuUsage": cpu, "freeMemory": memory, "tags": tags}
    return json.dumps({**document, "since": AGENT_SINCE}).encode()


def fleet() -> list[tuple[str, bytes]]:
    """Return a small fleet: running, failed, pending, unscheduled, state-only, agents, bridge online.

    The agent `edge` has an instance but no status: it is gone.
    """
    day = timedelta(days=5, hours=3, minutes=30)
    api = InstanceKey("hpc1", "api", "c3" * 32)
    return [
        *retained(InstanceKey("hpc1", "nginx", "a1" * 32), "RUNNING", "RUNNING_OK", day),
        *retained(InstanceKey("hpc2", "db", "b2" * 32), "FAILED", "FAILED_EXEC_FAILED", day),
        *retained(api, "PENDING", "PENDING_STARTING_FAILED", day, EXEC_FAILED),
        *retained(InstanceKey("", "batch", "d4" * 32), "NOT_SCHEDULED", "NOT_SCHEDULED", day),
        (f"ankaios/edge/cam/{'e5' * 32}/state", b"SUCCEEDED"),
        ("ankaios/hpc1/$agent/status", agent_status("hpc1", 12, 8_123_456_789, {"zone": "front"})),
        ("ankaios/hpc2/$agent/status", agent_status("hpc2", None, None, {})),
        ("ankaios/$bridge/status", b"online"),
        ("ankaios/$bridge/ankaios", b"connected"),
        ("ankaios/$bridge/info", json.dumps(INFO).encode()),
    ]


def test_the_fleet_keeps_the_topic_contract() -> None:
    """Every payload of the fleet the dashboard tests read is one docs/asyncapi.yaml allows."""
    for topic, payload in fleet():
        validate_payload(topic, payload)


AGENT_LINES = [
    "AGENT         WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
    "edge (gone)   1           -           -             -",
    "hpc1          2           12%         7.6 GiB       zone=front",
    "hpc2          1           -           -             -",
    "",
]
HEADING = (
    "AGENT             WORKLOAD   ID         STATE                 SUBSTATE             "
    "SINCE         ADDITIONAL INFO"
)
API_LINE = (
    "hpc1              api        c3c3c3c3   ◐ Pending             StartingFailed       "
    "5d 03h ago    exec failed: podman: Error: short-name resolution enforced   see man 5 "
    "registries.conf"
)
FLEET_LINES = [
    *AGENT_LINES,
    HEADING,
    "─" * 183,
    "(not scheduled)   batch      d4d4d4d4   ○ NotScheduled        NotScheduled         5d 03h ago",
    "edge              cam        e5e5e5e5   ✓ Succeeded           -                    -",
    API_LINE,
    "hpc1              nginx      a1a1a1a1   ● Running             Ok                   5d 03h ago",
    "hpc2              db         b2b2b2b2   ✗ Failed              ExecFailed           5d 03h ago",
    "5 workloads · 1 running · 1 pending · 1 succeeded · 1 failed · 1 not scheduled",
]


@pytest.fixture(autouse=True)
def _plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's colour settings out of the expected plain text."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def once(broker: Mosquitto, *extra: str) -> list[str]:
    """Return the arguments of a `--once` run against `broker`."""
    return ["--once", "--mqtt-host", broker.host, "--mqtt-port", str(broker.port), *extra]


def test_once_prints_the_retained_snapshot_as_plain_lines(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per instance, sorted, without colour codes when stdout is not a terminal."""
    publish_many(broker, fleet())
    assert main(once(broker), {}) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"broker {broker.host}:{broker.port} · connected · bridge online · ankaios connected",
        *FLEET_LINES,
    ]
    assert err == ""


def test_the_console_script_prints_the_same_and_exits_0(broker: Mosquitto) -> None:
    """`ankaios-mqtt-dashboard --once` works as installed, with settings from the environment."""
    publish_many(broker, fleet())
    env = {"PATH": "/usr/bin:/bin", "MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port)}
    result = subprocess.run(
        [str(SCRIPT), "--once"], capture_output=True, text=True, env=env, timeout=30, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines()[1:] == FLEET_LINES


def test_garbage_on_the_broker_is_counted_and_changes_no_row(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rogue retained topics (bad levels, non-UTF-8, unknown states, bad JSON, 1 MB) are only counted."""
    garbage = [
        ("ankaios/hpc1/nginx", b"RUNNING"),
        (f"ankaios/hpc1/nginx/{'a1' * 32}/state/extra", b"RUNNING"),
        (f"ankaios/hpc9/x/{'f6' * 32}/state", b"\xff\xfe\xfd"),
        (f"ankaios/hpc9/y/{'f7' * 32}/state", b"EXPLODED"),
        (f"ankaios/hpc9/z/{'f8' * 32}/status", b'{"state": "RUNNING", "substate": '),
        (f"ankaios/hpc9/w/{'f9' * 32}/status", b"x" * 1_000_000),
    ]
    publish_many(broker, fleet() + garbage)
    assert main(once(broker), {}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"broker {broker.host}:{broker.port} · connected · bridge online · ankaios connected · ignored: 6",
        *FLEET_LINES,
    ]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Throwaway CAs, certificates, a password file and an ACL for this module."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_tls_with_a_read_only_user_is_enough(pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    """Over TLS, as a user the ACL lets only read `ankaios/#`, `--once` shows everything."""
    secure = TlsMosquitto(pki)
    with secure:
        for topic, payload in fleet():
            publish_as(secure, pki.bridge, topic, payload)
        argv = ["--once", "--mqtt-host", secure.host, "--mqtt-port", str(secure.port)]
        argv += ["--mqtt-ca-file", str(pki.ca), "--mqtt-username", pki.reader.username]
        assert main(argv, {"MQTT_PASSWORD": pki.reader.password}) == 0
        assert capsys.readouterr().out.splitlines()[1:] == FLEET_LINES
        assert main(argv, {"MQTT_PASSWORD": "wrong"}) == 1
    assert capsys.readouterr().err == (
        f"ankaios-mqtt-dashboard: the MQTT broker at localhost:{secure.port} "
        "refused the connection: Not authorized\n"
    )


def test_once_publishes_nothing(broker: Mosquitto, capsys: pytest.CaptureFixture[str]) -> None:
    """A watcher on `#` sees no message from the dashboard while it reads the snapshot."""
    publish_many(broker, fleet())
    with Watcher(broker.host, broker.port, "#") as watcher:
        before = len(watcher.messages)
        assert main(once(broker), {}) == 0
        publish(broker.host, broker.port, "after/dashboard", b"1", retain=False)
        wait_for(lambda: len(watcher.messages) > before, 5, "the message after the dashboard")
        assert [topic for topic, _, _ in watcher.messages[before:]] == ["after/dashboard"]
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(FLEET_LINES)


def test_snapshot_end_comes_after_10000_retained_topics(broker: Mosquitto) -> None:
    """The end-of-snapshot reply arrives only after all 10,000 retained topics, every time."""
    messages = []
    for index in range(5_000):
        key = InstanceKey(f"agent{index % 20}", f"workload-{index}", f"{index:064x}")
        messages += retained(key, "RUNNING", "RUNNING_OK", timedelta(seconds=index))
    publish_many(broker, messages)
    settings = dataclasses.replace(
        default_settings().mqtt,
        host=broker.host,
        port=broker.port,
        client_id=f"dash-{uuid.uuid4().hex}",
        qos=0,
    )
    view = wait_for_snapshot(settings, timeout=30)
    complete = [i for i in view.shown.instances.values() if i.state and i.status]
    assert len(complete) == 5_000


def test_unreachable_broker_exits_1_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing listening on the port: exit 1 after the timeout with one line naming the cause."""
    port = free_port()
    started = time.monotonic()
    status = main(
        ["--once", "--mqtt-host", "127.0.0.1", "--mqtt-port", str(port), "--timeout", "0.5"], {}
    )
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert status == 1
    assert out == ""
    assert err == (
        f"ankaios-mqtt-dashboard: cannot reach the MQTT broker at 127.0.0.1:{port} "
        "within 0.5 s (Connection refused)\n"
    )
    assert elapsed < 5


def test_refused_credentials_exit_1_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    """A broker that refuses the client ends `--once` right away, not after the timeout."""
    with Mosquitto(extra_config="allow_anonymous false") as strict:
        started = time.monotonic()
        assert main(once(strict, "--timeout", "20"), {}) == 1
        assert time.monotonic() - started < 10
    assert capsys.readouterr().err == (
        f"ankaios-mqtt-dashboard: the MQTT broker at {strict.host}:{strict.port} "
        "refused the connection: Not authorized\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--timeout", "0"], "--timeout: '0' is not valid; expected a number > 0"),
        (
            ["--mqtt-port", "http"],
            "--mqtt-port / MQTT_PORT: 'http' is not valid; expected an integer >= 1",
        ),
        (
            ["--topic-prefix", "a/#"],
            "--topic-prefix / MQTT_TOPIC_PREFIX: 'a/#' must not contain '#'",
        ),
        (["--colour"], "unrecognized arguments: --colour"),
        # As for the bridge: an abbreviation never passes for a whole flag.
        (["--mqtt-h", "x"], "unrecognized arguments: --mqtt-h x"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad option or variable gets one line on stderr and exit status 2, no traceback."""
    assert main(["--once", *argv], {}) == 2
    assert capsys.readouterr().err == f"ankaios-mqtt-dashboard: {message}\n"


def test_live_mode_needs_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --once and without a terminal the dashboard says to use --once."""
    assert main(["--mqtt-port", str(free_port())], {}) == 2
    assert "use --once" in capsys.readouterr().err


def test_publish_helper_and_dashboard_agree_on_a_cleared_instance(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """An instance whose topics were cleared with empty payloads is not shown."""
    publish_many(broker, fleet())
    for leaf in ("state", "status"):
        publish(broker.host, broker.port, f"ankaios/hpc2/db/{'b2' * 32}/{leaf}", b"")
    assert main(once(broker), {}) == 0
    lines = capsys.readouterr().out.splitlines()
    assert not [line for line in lines if "b2b2b2b2" in line]
    assert lines[-1] == "4 workloads · 1 running · 1 pending · 1 succeeded · 1 not scheduled"


def published_since(messages: list[tuple[str, bytes]], instance_id: str) -> str:
    """Return the `since` of the status published for one instance."""
    found = [
        json.loads(payload)["since"]
        for topic, payload in messages
        if topic.endswith(f"/{instance_id}/status")
    ]
    assert len(found) == 1
    return str(found[0])


def test_once_json_is_one_document_of_the_whole_snapshot(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format json` prints one JSON document: bridge topics and info, agents, instances."""
    messages = fleet()
    publish_many(broker, messages)
    assert main(once(broker, "--format", "json"), {}) == 0
    out, err = capsys.readouterr()
    assert (out.count("\n"), err) == (1, "")

    def instance(
        agent: str, workload: str, iid: str, state: str, substate: str
    ) -> dict[str, object]:
        since = published_since(messages, iid)
        info = EXEC_FAILED if workload == "api" else ""
        return {
            "agent": agent,
            "workload": workload,
            "id": iid,
            "state": state,
            "substate": substate,
            "additionalInfo": info,
            "since": since,
        }

    gone: dict[str, object] = {
        "gone": True,
        "cpuUsage": None,
        "freeMemory": None,
        "tags": {},
        "since": None,
    }
    assert json.loads(out) == {
        "broker": f"{broker.host}:{broker.port}",
        "connection": "connected",
        "stale": None,
        "ignored": 0,
        "bridge": {"status": "online", "ankaios": "connected", "info": INFO},
        "agents": [
            {"name": "edge", "workloads": 1, **gone},
            {
                "name": "hpc1",
                "gone": False,
                "workloads": 2,
                "cpuUsage": 12,
                "freeMemory": 8_123_456_789,
                "tags": {"zone": "front"},
                "since": AGENT_SINCE,
            },
            {
                "name": "hpc2",
                "gone": False,
                "workloads": 1,
                "cpuUsage": None,
                "freeMemory": None,
                "tags": {},
                "since": AGENT_SINCE,
            },
        ],
        "instances": [
            instance("", "batch", "d4" * 32, "NOT_SCHEDULED", "NOT_SCHEDULED"),
            {
                "agent": "edge",
                "workload": "cam",
                "id": "e5" * 32,
                "state": "SUCCEEDED",
                "substate": None,
                "additionalInfo": "",
                "since": None,
            },
            instance("hpc1", "api", "c3" * 32, "PENDING", "PENDING_STARTING_FAILED"),
            instance("hpc1", "nginx", "a1" * 32, "RUNNING", "RUNNING_OK"),
            instance("hpc2", "db", "b2" * 32, "FAILED", "FAILED_EXEC_FAILED"),
        ],
    }


def test_filters_pick_agents_and_states_in_text(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--agent` (repeatable) keeps those agents' lines and instances; `--state` any case."""
    publish_many(broker, fleet())
    argv = once(
        broker, "--agent", "hpc1", "--agent", "hpc2", "--state", "running", "--state", "Failed"
    )
    assert main(argv, {}) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "AGENT   WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
        "hpc1    2           12%         7.6 GiB       zone=front",
        "hpc2    1           -           -             -",
        "",
        "AGENT   WORKLOAD   ID         STATE                 SUBSTATE             SINCE         ADDITIONAL INFO",
        "─" * 102,
        "hpc1    nginx      a1a1a1a1   ● Running             Ok                   5d 03h ago",
        "hpc2    db         b2b2b2b2   ✗ Failed              ExecFailed           5d 03h ago",
        "2 workloads · 1 running · 1 failed",
    ]


def test_filters_pick_agents_and_states_in_json(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """The JSON document holds only the selected agents and instances."""
    publish_many(broker, fleet())
    assert (
        main(once(broker, "--format", "json", "--agent", "edge", "--state", "SUCCEEDED"), {}) == 0
    )
    document = json.loads(capsys.readouterr().out)
    assert [agent["name"] for agent in document["agents"]] == ["edge"]
    assert [(i["agent"], i["workload"], i["state"]) for i in document["instances"]] == [
        ("edge", "cam", "SUCCEEDED")
    ]
    assert main(once(broker, "--format", "json", "--state", "stopping"), {}) == 0
    document = json.loads(capsys.readouterr().out)
    assert (len(document["agents"]), document["instances"]) == (3, [])


def test_a_bad_state_exits_2_naming_the_accepted_ones(capsys: pytest.CaptureFixture[str]) -> None:
    """`--state` takes the execution state names; anything else is one line and exit 2."""
    assert main(["--once", "--state", "running", "--state", "CRASHED"], {}) == 2
    assert capsys.readouterr().err == (
        "ankaios-mqtt-dashboard: --state: 'CRASHED' is not valid; expected one of "
        "AGENT_DISCONNECTED, PENDING, RUNNING, STOPPING, SUCCEEDED, FAILED, NOT_SCHEDULED, "
        "REMOVED, UNKNOWN\n"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--format", "yaml", "--once"],
            "--format: 'yaml' is not valid; expected text or json",
        ),
        (["--format", "json"], "--format json needs --once; the live view is text"),
    ],
)
def test_a_bad_format_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--format` is text or json, and json only with `--once`."""
    assert main(["--mqtt-port", str(free_port()), *argv], {}) == 2
    assert capsys.readouterr().err == f"ankaios-mqtt-dashboard: {message}\n"
