"""`ankaios-mqtt-healthcheck` against real mosquitto brokers: plaintext, TLS with a password, mutual TLS."""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridge.healthcheck import run
from tests.support.broker import Mosquitto, free_port
from tests.support.mqtt import publish
from tests.support.tls import Pki, TlsMosquitto, publish_as

STATUS = "ankaios/$bridge/status"


def plain(broker: Mosquitto, **extra: str) -> dict[str, str]:
    """Return the bridge's variables for a plaintext broker."""
    return {"MQTT_HOST": broker.host, "MQTT_PORT": str(broker.port), **extra}


def password_login(pki: Pki, broker: TlsMosquitto) -> dict[str, str]:
    """Return the bridge's variables for TLS with its user and Docker-secret password file."""
    return {
        "MQTT_HOST": broker.host,
        "MQTT_PORT": str(broker.port),
        "MQTT_CA_FILE": str(pki.ca),
        "MQTT_USERNAME": pki.bridge.username,
        "MQTT_PASSWORD_FILE": str(pki.bridge_password_file),
    }


def health(
    capsys: pytest.CaptureFixture[str], environ: dict[str, str], *argv: str
) -> tuple[int, str]:
    """Run the health check in-process; return its exit status and standard error."""
    status = run(list(argv), environ)
    return status, capsys.readouterr().err


def test_online_is_healthy_and_offline_is_not(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0 and silence for a retained `online`; exit 1 and one line naming the value otherwise."""
    publish(broker.host, broker.port, STATUS, b"online")
    assert health(capsys, plain(broker)) == (0, "")
    publish(broker.host, broker.port, STATUS, b"offline")
    status, err = health(capsys, plain(broker))
    assert (status, err) == (1, "ankaios-mqtt-healthcheck: ankaios/$bridge/status is 'offline'\n")


def test_missing_status_and_other_prefix(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """No retained status fails at once (not after the timeout); MQTT_TOPIC_PREFIX picks the topic."""
    status, err = health(capsys, plain(broker), "--timeout", "30")
    assert status == 1
    assert "holds no retained ankaios/$bridge/status" in err
    publish(broker.host, broker.port, "car/$bridge/status", b"online")
    assert health(capsys, plain(broker, MQTT_TOPIC_PREFIX="car")) == (0, "")


def test_live_online_without_retained_status_is_not_healthy(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the retained value counts: a broker holding `offline` stays unhealthy."""
    publish(broker.host, broker.port, STATUS, b"offline")
    publish(broker.host, broker.port, STATUS, b"online", retain=False)
    assert health(capsys, plain(broker))[0] == 1


def test_unreachable_broker_and_bad_settings_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    """A broker nobody listens on and a bad variable both give exit 1 and one line."""
    environ = {"MQTT_HOST": "127.0.0.1", "MQTT_PORT": str(free_port())}
    status, err = health(capsys, environ)
    assert status == 1
    assert err.startswith(
        "ankaios-mqtt-healthcheck: cannot connect to the MQTT broker at 127.0.0.1:"
    )
    assert err.count("\n") == 1
    status, err = health(capsys, {"MQTT_PORT": "http"})
    assert (status, err.count("\n")) == (1, 1)
    assert "MQTT_PORT" in err


def test_tls_with_a_password_file(
    pki: Pki, tls_broker: TlsMosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the bridge's TLS and password settings the check logs in, and a wrong password fails without showing it."""
    publish_as(tls_broker, pki.bridge, STATUS, b"online")
    assert health(capsys, password_login(pki, tls_broker)) == (0, "")
    login = password_login(pki, tls_broker)
    wrong = {k: v for k, v in login.items() if k != "MQTT_PASSWORD_FILE"} | {
        "MQTT_PASSWORD": "nope-x"
    }
    status, err = health(capsys, wrong)
    assert status == 1
    assert "refused the connection" in err
    assert "nope-x" not in err
    assert pki.bridge.password not in err


def test_tls_failures_name_their_cause(
    pki: Pki, tls_broker: TlsMosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server certificate from another CA and plaintext against the TLS port both fail with one line."""
    publish_as(tls_broker, pki.bridge, STATUS, b"online")
    status, err = health(
        capsys, {**password_login(pki, tls_broker), "MQTT_CA_FILE": str(pki.other_ca)}
    )
    assert status == 1
    assert "certificate verify failed" in err
    plaintext = {k: v for k, v in password_login(pki, tls_broker).items() if k != "MQTT_CA_FILE"}
    status, err = health(capsys, plaintext, "--timeout", "1")
    assert (status, err.count("\n")) == (1, 1)
    assert pki.bridge.password not in err


def test_mutual_tls(pki: Pki, tls_broker: TlsMosquitto, capsys: pytest.CaptureFixture[str]) -> None:
    """A client certificate and key log in on the mutual-TLS listener."""
    publish_as(tls_broker, pki.bridge, STATUS, b"online")
    environ = {
        "MQTT_HOST": tls_broker.host,
        "MQTT_PORT": str(tls_broker.mtls_port),
        "MQTT_CA_FILE": str(pki.ca),
        "MQTT_CERT_FILE": str(pki.client.cert),
        "MQTT_KEY_FILE": str(pki.client.key),
    }
    assert health(capsys, environ) == (0, "")


def test_never_takes_over_the_bridges_client_id(
    broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    """The check ignores MQTT_CLIENT_ID, so the bridge holding that id stays connected."""
    publish(broker.host, broker.port, STATUS, b"online")
    client_id = f"ankaios-mqtt-bridge-{uuid.uuid4().hex[:8]}"
    dropped = threading.Event()
    bridge = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    bridge.on_disconnect = lambda *_args: dropped.set()
    bridge.connect(broker.host, broker.port)
    bridge.loop_start()
    try:
        assert health(capsys, plain(broker, MQTT_CLIENT_ID=client_id)) == (0, "")
        # A round trip after the check: a takeover would have closed this connection first.
        bridge.publish("test-marker/after", b"x", qos=1).wait_for_publish(5)
        assert not dropped.is_set()
    finally:
        bridge.disconnect()
        bridge.loop_stop()


def test_module_runs_as_a_command(broker: Mosquitto, tmp_path: Path) -> None:
    """`python -m bridge.healthcheck` works where the console script is not on PATH."""
    publish(broker.host, broker.port, STATUS, b"online")
    command = [sys.executable, "-m", "bridge.healthcheck"]
    result = subprocess.run(
        command, env=plain(broker), cwd=tmp_path, capture_output=True, timeout=30, check=False
    )
    assert (result.returncode, result.stderr) == (0, b"")


@pytest.mark.parametrize("given", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_timeout_is_one_line(capsys: pytest.CaptureFixture[str], given: str) -> None:
    """The health check's --timeout comes from the option table: a bad one is one line and status 1."""
    status, err = health(capsys, {}, "--timeout", given)
    assert status == 1
    assert err.startswith(f"ankaios-mqtt-healthcheck: --timeout: {given!r} is not valid; expected")
    assert err.count("\n") == 1
