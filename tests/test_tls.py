"""Secure broker connections: TLS, mutual TLS, passwords and ACLs against a real mosquitto."""

from __future__ import annotations

import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.mqtt.client import create_client, describe_settings
from bridge.mqtt.link import BrokerLink
from bridge.settings.broker import MqttSettings
from bridge.settings.commands import load_settings
from bridge.settings.options import ConfigError
from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import free_port
from tests.support.expect import matches
from tests.support.mqtt import wait_for
from tests.support.proxy import Relay
from tests.support.scene import NGINX, NGINX_RUNNING
from tests.support.tls import (
    KeyPair,
    Pki,
    SecureWatcher,
    TlsMosquitto,
    publish_as,
)

STATUS = "ankaios/$bridge/status"
STATE = "ankaios/hpc1/nginx/1f0c/state"
TLS_HANDSHAKE = 0x16


# The simulated agent: one running nginx instance.
pytestmark = pytest.mark.sim(NGINX_RUNNING)


@pytest.fixture
def bridge_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Everything the bridge logs, DEBUG included."""
    caplog.set_level(logging.DEBUG, logger="bridge")
    return caplog


def settings_for(port: int, argv: list[str], environ: dict[str, str] | None = None) -> MqttSettings:
    """Return the broker settings the bridge would run with, from real flags and variables."""
    base = ["--mqtt-host", "localhost", "--mqtt-port", str(port)]
    base += ["--mqtt-client-id", f"bridge-{uuid.uuid4().hex[:8]}"]
    base += ["--mqtt-reconnect-max-delay", "0.2"]
    return load_settings([*base, *argv], environ or {}).mqtt


def password_login(pki: Pki, ca: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """Return flags and variables for the bridge user with its Docker-secret password file."""
    argv = ["--mqtt-ca-file", str(ca or pki.ca), "--mqtt-username", pki.bridge.username]
    return argv, {"MQTT_PASSWORD_FILE": str(pki.bridge_password_file)}


@contextmanager
def running(settings: MqttSettings) -> Iterator[BrokerLink]:
    """Run the bridge's broker link (no Ankaios side) until the block ends."""
    link = BrokerLink(settings, lambda _item: None)
    link.start()
    try:
        yield link
    finally:
        link.stop()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Return the bridge's log lines at WARNING and above."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("bridge") and r.levelno >= logging.WARNING
    ]


def certificate_login(pki: Pki, pair: KeyPair) -> tuple[list[str], dict[str, str]]:
    """Return flags and variables for mutual TLS with `pair` as the client certificate."""
    argv = ["--mqtt-ca-file", str(pki.ca), "--mqtt-cert-file", str(pair.cert)]
    return [*argv, "--mqtt-key-file", str(pair.key)], {}


def test_mutual_tls_connects_with_the_certificate_as_identity(
    pki: Pki, tls_broker: TlsMosquitto
) -> None:
    """A client certificate from the broker's CA logs in without a password and may write under the prefix."""
    argv, _ = certificate_login(pki, pki.client)
    with (
        SecureWatcher(tls_broker, pki.reader) as watcher,
        running(settings_for(tls_broker.mtls_port, argv)),
    ):
        watcher.wait_tree(lambda tree: tree.get(STATUS) == b"online")


def test_unknown_client_certificate_is_refused(pki: Pki, tls_broker: TlsMosquitto) -> None:
    """A client certificate from another CA never gets the bridge onto the mutual-TLS listener."""
    argv, _ = certificate_login(pki, pki.rogue_client)
    with Relay(tls_broker.mtls_port) as proxy:
        with running(settings_for(proxy.port, argv)):
            wait_for(lambda: len(proxy.arrivals) >= 2, 5, "two connection attempts")
        with SecureWatcher(tls_broker, pki.reader) as watcher:
            assert STATUS not in watcher.snapshot()


@dataclass(frozen=True, slots=True)
class Refusal:
    """A login the broker refuses, and what the bridge's one warning must name."""

    login: Callable[[Pki], tuple[list[str], dict[str, str]]]
    cause: str
    host: str = "localhost"
    mutual: bool = False


REFUSALS = [
    pytest.param(
        Refusal(lambda pki: password_login(pki, pki.other_ca), "certificate verify failed"),
        id="server certificate from another CA",
    ),
    pytest.param(Refusal(password_login, "mismatch", "127.0.0.1"), id="host name not in it"),
    pytest.param(
        Refusal(lambda pki: (password_login(pki)[0], {"MQTT_PASSWORD": "wrong"}), "Not authorized"),
        id="wrong password",
    ),
    pytest.param(
        Refusal(lambda pki: certificate_login(pki, pki.rogue_client), "certificate", mutual=True),
        id="unknown client certificate",
    ),
]


@pytest.mark.parametrize("refusal", REFUSALS)
def test_refused_connection_is_one_line_naming_the_cause_and_retried_with_backoff(
    pki: Pki, tls_broker: TlsMosquitto, bridge_logs: pytest.LogCaptureFixture, refusal: Refusal
) -> None:
    """A failed verification, wrong password or refused client certificate: one warning with the cause, TLS retries with backoff."""
    argv, environ = refusal.login(pki)
    with Relay(tls_broker.mtls_port if refusal.mutual else tls_broker.port) as proxy:
        argv += ["--mqtt-host", refusal.host, "--mqtt-reconnect-max-delay", "0.4"]
        settings = settings_for(proxy.port, argv, environ)
        with running(settings):
            wait_for(lambda: len(proxy.arrivals) >= 4, 5, "four connection attempts")
        with SecureWatcher(tls_broker, pki.reader) as watcher:
            assert STATUS not in watcher.snapshot()
    [line] = warnings_of(bridge_logs)
    assert refusal.cause in line
    # Every attempt opened with a TLS handshake record, none with a plaintext MQTT CONNECT.
    assert set(proxy.first_bytes.values()) == {TLS_HANDSHAKE}
    # Backoff 0.1, 0.2, 0.4 s; a retry loop without backoff takes about 0.3 s.
    assert proxy.arrivals[3] - proxy.arrivals[0] >= 0.65


def test_insecure_still_verifies_the_certificate_chain(
    pki: Pki, tls_broker: TlsMosquitto, bridge_logs: pytest.LogCaptureFixture
) -> None:
    """--mqtt-tls-insecure does not accept a server certificate from an untrusted CA."""
    argv, environ = password_login(pki, pki.other_ca)
    with Relay(tls_broker.port) as proxy:
        with running(settings_for(proxy.port, [*argv, "--mqtt-tls-insecure"], environ)):
            wait_for(lambda: len(proxy.arrivals) >= 2, 5, "two connection attempts")
        with SecureWatcher(tls_broker, pki.reader) as watcher:
            assert STATUS not in watcher.snapshot()
    assert any("certificate verify failed" in line for line in warnings_of(bridge_logs))


def test_acl_lets_only_the_bridge_write_under_the_prefix(
    pki: Pki, tls_broker: TlsMosquitto
) -> None:
    """The bridge's user writes under ankaios/#; a reader's write there is refused and changes nothing."""
    argv, environ = password_login(pki)
    with (
        SecureWatcher(tls_broker, pki.reader) as watcher,
        running(settings_for(tls_broker.port, argv, environ)) as link,
    ):
        watcher.wait_tree(lambda tree: tree.get(STATUS) == b"online")
        wait_for(lambda: link.publish(STATE, b"RUNNING"), 5, "the bridge to publish")
        watcher.wait_tree({STATUS: b"online", STATE: b"RUNNING"})
        assert str(publish_as(tls_broker, pki.reader, STATE, b"FAILED")) == "Not authorized"
        assert str(publish_as(tls_broker, pki.reader, STATUS, b"offline")) == "Not authorized"
        with SecureWatcher(tls_broker, pki.reader) as fresh:
            assert fresh.snapshot() == {STATUS: b"online", STATE: b"RUNNING"}
        seen = [
            (topic, payload) for topic, payload, _ in watcher.messages if topic in (STATE, STATUS)
        ]
    assert seen == [(STATUS, b"online"), (STATE, b"RUNNING")]


def _encrypted_key(pki: Pki, directory: Path) -> Path:
    key = directory / "encrypted.key"
    command = ["openssl", "pkey", "-in", str(pki.client.key), "-aes256", "-passout", "pass:x"]
    subprocess.run([*command, "-out", str(key)], check=True, capture_output=True)
    return key


UNUSABLE = [
    "missing CA",
    "CA not PEM",
    "certificate is a directory",
    "missing key",
    "key of another certificate",
    "encrypted key",
    "missing password file",
    "password file is a directory",
]


@pytest.mark.parametrize("case", UNUSABLE)
def test_unusable_files_are_one_line_naming_the_file(pki: Pki, tmp_path: Path, case: str) -> None:
    """A certificate, key or password file the bridge cannot use is a configuration error naming option and file."""
    missing = tmp_path / "missing.pem"
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    files = {"ca": pki.ca, "cert": pki.client.cert, "key": pki.client.key}
    files["password"] = pki.bridge_password_file
    culprits: dict[str, tuple[str, Callable[[], Path]]] = {
        "missing CA": ("ca", lambda: missing),
        "CA not PEM": ("ca", lambda: garbage),
        "certificate is a directory": ("cert", lambda: tmp_path),
        "missing key": ("key", lambda: missing),
        "key of another certificate": ("key", lambda: pki.rogue_client.key),
        "encrypted key": ("key", lambda: _encrypted_key(pki, tmp_path)),
        "missing password file": ("password", lambda: missing),
        "password file is a directory": ("password", lambda: tmp_path),
    }
    kind, culprit = culprits[case]
    files[kind] = culprit()
    argv = [f"--mqtt-{name}-file={path}" for name, path in files.items()]
    argv += ["--mqtt-username", "bridge"]
    with pytest.raises(ConfigError) as caught:
        create_client(settings_for(1, argv), "bridge")
    message = str(caught.value)
    assert f"--mqtt-{kind}-file" in message
    assert str(files[kind]) in message
    assert "\n" not in message


def test_bridge_exits_2_for_an_unreadable_file_before_touching_ankaios(
    pki: Pki, tmp_path: Path
) -> None:
    """An unreadable key file ends the bridge with status 2 and one line naming it, before it opens the control interface."""
    missing = tmp_path / "bridge.key"
    argv, _ = certificate_login(pki, KeyPair(pki.client.cert, missing))
    # A missing control interface would end the bridge with 1, so 2 shows the order.
    with BridgeProcess(tmp_path / "control_interface", free_port(), *argv) as bridge:
        assert bridge.wait() == 2
        lines = bridge.log().splitlines()
    assert len(lines) == 1
    assert f"--mqtt-key-file / MQTT_KEY_FILE: cannot read {missing}" in lines[0]


def test_effective_configuration_is_redacted(pki: Pki) -> None:
    """The settings' repr and the logged effective configuration show whether a password is set, not its value."""
    argv = ["--mqtt-ca-file", str(pki.ca), "--mqtt-username", "bridge"]
    from_file = settings_for(1, argv, {"MQTT_PASSWORD_FILE": str(pki.bridge_password_file)})
    from_environment = settings_for(1, argv, {"MQTT_PASSWORD": pki.bridge.password})
    for settings in (from_file, from_environment):
        assert "password=set" in describe_settings(settings)
        assert_no_secret(pki, describe_settings(settings) + repr(settings))


def assert_no_secret(pki: Pki, text: str) -> None:
    """Fail when any password or private key line of the session occurs in `text`."""
    assert not [secret for secret in pki.secrets() if secret in text]


def test_bridge_mirrors_states_over_tls_with_a_password_file(
    pki: Pki, tls_broker: TlsMosquitto, sim: AgentSimulator
) -> None:
    """The bridge process publishes over verified TLS with its Docker-secret password; readers cannot overwrite it."""
    argv, environ = password_login(pki)
    want = matches({("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK")})
    topic = f"ankaios/hpc1/nginx/{NGINX}/state"
    with (
        BridgeProcess(
            sim.directory, tls_broker.port, *argv, env=environ, host="localhost"
        ) as bridge,
        SecureWatcher(tls_broker, pki.reader) as watcher,
    ):
        watcher.wait_tree(want)
        assert str(publish_as(tls_broker, pki.reader, topic, b"FAILED")) == "Not authorized"
        assert bridge.signal() == 0
        log = bridge.log()
    assert not [message for message in watcher.messages if message[1] == b"FAILED"]
    assert "password=set" in log
    assert_no_secret(pki, log)


def test_bridge_warns_at_startup_when_the_hostname_check_is_off(
    pki: Pki, tls_broker: TlsMosquitto, sim: AgentSimulator
) -> None:
    """With mutual TLS and --mqtt-tls-insecure to an address the certificate does not name, the bridge works and warns."""
    argv = ["--mqtt-ca-file", str(pki.ca), "--mqtt-tls-insecure"]
    environ = {"MQTT_CERT_FILE": str(pki.client.cert), "MQTT_KEY_FILE": str(pki.client.key)}
    with (
        BridgeProcess(sim.directory, tls_broker.mtls_port, *argv, env=environ) as bridge,
        SecureWatcher(tls_broker, pki.reader) as watcher,
    ):
        watcher.wait_tree(matches({("hpc1", "nginx", NGINX): ("RUNNING", "RUNNING_OK")}))
        assert bridge.signal() == 0
        log = bridge.log()
    [warning] = [line for line in log.splitlines() if " WARNING " in line]
    assert "--mqtt-tls-insecure" in warning
    assert_no_secret(pki, log)


def test_bridge_with_a_wrong_password_logs_one_line_and_no_secret(
    pki: Pki, tls_broker: TlsMosquitto, sim: AgentSimulator
) -> None:
    """A refused password gives one warning naming the cause, keeps retrying, and the password is never logged."""
    argv = ["--mqtt-ca-file", str(pki.ca), "--mqtt-username", pki.bridge.username]
    environ = {"MQTT_PASSWORD": pki.reader.password}
    with (
        Relay(tls_broker.port) as proxy,
        BridgeProcess(sim.directory, proxy.port, *argv, env=environ, host="localhost") as bridge,
    ):
        wait_for(lambda: len(proxy.arrivals) >= 3, 10, "three refused attempts")
        assert bridge.signal() == 0
        log = bridge.log()
    [warning] = [line for line in log.splitlines() if " WARNING " in line]
    assert "Not authorized" in warning
    assert_no_secret(pki, log)
