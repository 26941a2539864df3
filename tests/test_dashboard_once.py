"""`ankaios-mqtt-dashboard --once` against a real mosquitto holding retained topics."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridge.broker_options import MqttSettings
from bridge.dashboard import main
from bridge.dashboard.app import wait_for_snapshot
from bridge.model import ExecutionState, InstanceStatus, encode_state, encode_status, format_since
from bridge.topics import InstanceKey, instance_topic
from tests.support.broker import Mosquitto, free_port
from tests.support.mqtt import Watcher, publish, wait_for
from tests.support.tls import Pki, TlsMosquitto, make_pki, publish_as

SCRIPT = Path(sys.executable).parent / "ankaios-mqtt-dashboard"


def retained(
    key: InstanceKey, state: str, substate: str, ago: timedelta
) -> list[tuple[str, bytes]]:
    """Return the two retained topics the bridge publishes for one instance."""
    status = InstanceStatus(
        key, ExecutionState(state, substate), format_since(datetime.now(UTC) - ago)
    )
    return [
        (instance_topic("ankaios", key, "state"), encode_state(status)),
        (instance_topic("ankaios", key, "status"), encode_status(status)),
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


def fleet() -> list[tuple[str, bytes]]:
    """Return a small fleet: running, failed, pending, unscheduled, state-only, bridge online."""
    day = timedelta(days=5, hours=3, minutes=30)
    return [
        *retained(InstanceKey("hpc1", "nginx", "a1" * 32), "RUNNING", "RUNNING_OK", day),
        *retained(InstanceKey("hpc2", "db", "b2" * 32), "FAILED", "FAILED_EXEC_FAILED", day),
        *retained(InstanceKey("hpc1", "api", "c3" * 32), "PENDING", "PENDING_STARTING_FAILED", day),
        *retained(InstanceKey("", "batch", "d4" * 32), "NOT_SCHEDULED", "NOT_SCHEDULED", day),
        (f"ankaios/edge/cam/{'e5' * 32}/state", b"SUCCEEDED"),
        ("ankaios/$bridge/status", b"online"),
        ("ankaios/$bridge/ankaios", b"connected"),
    ]


FLEET_LINES = [
    "AGENT             WORKLOAD   ID         STATE            SUBSTATE         SINCE",
    "─" * 84,
    "(not scheduled)   batch      d4d4d4d4   ○ NotScheduled   NotScheduled     5d 03h ago",
    "edge              cam        e5e5e5e5   ✓ Succeeded      -                -",
    "hpc1              api        c3c3c3c3   ◐ Pending        StartingFailed   5d 03h ago",
    "hpc1              nginx      a1a1a1a1   ● Running        Ok               5d 03h ago",
    "hpc2              db         b2b2b2b2   ✗ Failed         ExecFailed       5d 03h ago",
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
    settings = MqttSettings(broker.host, broker.port, f"dash-{uuid.uuid4().hex}", qos=0)
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
