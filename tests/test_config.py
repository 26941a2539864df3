"""Configuration: flag beats environment beats default; bad values give one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings.commands import load_settings
from bridge.settings.options import ConfigError


def test_defaults() -> None:
    """Without flags or environment the bridge uses the documented defaults."""
    settings = load_settings([], {}, "car7")
    assert settings.ankaios.control_interface == Path("/run/ankaios/control_interface")
    assert (settings.mqtt.host, settings.mqtt.port, settings.mqtt.qos) == ("localhost", 1883, 1)
    assert settings.mqtt.prefix == "ankaios"
    assert settings.mqtt.client_id == "ankaios-mqtt-bridge-car7"
    assert settings.log_level == "INFO"
    assert settings.mqtt.tls is None
    assert settings.mqtt.reconnect_max_delay == 2.0
    assert settings.ankaios.resync_interval == 60.0
    # A lost agent is waited for as long as it takes; a silent server is noticed in 10 s.
    assert settings.ankaios.agent_reconnect_timeout == 0.0
    assert (settings.ankaios.request_timeout, settings.ankaios.probe_interval) == (5.0, 5.0)
    assert (settings.mirror.agent_status_interval, settings.mirror.info_interval) == (10.0, 60.0)


def test_flag_beats_environment_beats_default() -> None:
    """A flag wins over its environment twin, which wins over the default."""
    environ = {"MQTT_HOST": "env-host", "MQTT_PORT": "1884", "MQTT_TOPIC_PREFIX": "car/ank"}
    settings = load_settings(["--mqtt-host", "flag-host"], environ)
    assert settings.mqtt.host == "flag-host"
    assert settings.mqtt.port == 1884
    assert settings.mqtt.prefix == "car/ank"


def test_every_environment_twin_is_read() -> None:
    """Each documented environment variable sets its setting."""
    environ = {
        "ANKAIOS_CONTROL_INTERFACE_PATH": "/tmp/ci",
        "MQTT_CLIENT_ID": "bridge-1",
        "MQTT_QOS": "0",
        "LOG_LEVEL": "debug",
        "RESYNC_INTERVAL": "5",
        "ANKAIOS_HANDSHAKE_TIMEOUT": "1.5",
        "ANKAIOS_AGENT_RECONNECT_TIMEOUT": "9",
        "ANKAIOS_REQUEST_TIMEOUT": "2",
        "ANKAIOS_PROBE_INTERVAL": "3",
        "AGENT_STATUS_INTERVAL": "0",
        "INFO_INTERVAL": "30",
        "MQTT_RECONNECT_MAX_DELAY": "0.5",
        "MQTT_KEEPALIVE": "5",
        "MQTT_USERNAME": "bridge",
        "MQTT_PASSWORD": "s3cret",
    }
    settings = load_settings([], environ)
    assert settings.ankaios.control_interface == Path("/tmp/ci")
    assert settings.mqtt.client_id == "bridge-1"
    assert settings.mqtt.qos == 0
    assert settings.log_level == "DEBUG"
    assert (settings.ankaios.resync_interval, settings.ankaios.handshake_timeout) == (5.0, 1.5)
    assert settings.ankaios.agent_reconnect_timeout == 9.0
    assert (settings.ankaios.request_timeout, settings.ankaios.probe_interval) == (2.0, 3.0)
    assert (settings.mirror.agent_status_interval, settings.mirror.info_interval) == (0.0, 30.0)
    assert settings.mqtt.reconnect_max_delay == 0.5
    assert settings.mqtt.keepalive == 5
    assert (settings.mqtt.username, settings.mqtt.password) == ("bridge", "s3cret")
    assert "s3cret" not in repr(settings)


def test_tls_moves_the_default_port() -> None:
    """With TLS on, the default port is 8883; a CA file alone turns TLS on."""
    assert load_settings(["--mqtt-tls"], {}).mqtt.port == 8883
    settings = load_settings([], {"MQTT_CA_FILE": "/etc/ca.pem"})
    assert settings.mqtt.port == 8883
    assert settings.mqtt.tls is not None
    assert settings.mqtt.tls.ca_file == Path("/etc/ca.pem")


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (
            ["--mqtt-port", "eighty"],
            {},
            "--mqtt-port / MQTT_PORT: 'eighty' is not valid; expected an integer >= 1",
        ),
        (
            [],
            {"MQTT_PORT": "70000"},
            "--mqtt-port / MQTT_PORT: '70000' is not valid; expected an integer from 1 to 65535",
        ),
        ([], {"MQTT_QOS": "2"}, "--mqtt-qos / MQTT_QOS: '2' is not valid; expected 0 or 1"),
        (
            [],
            {"LOG_LEVEL": "loud"},
            "--log-level / LOG_LEVEL: 'loud' is not valid; expected one of DEBUG, INFO, WARNING, ERROR",
        ),
        (
            [],
            {"MQTT_TOPIC_PREFIX": "a/#"},
            "--topic-prefix / MQTT_TOPIC_PREFIX: 'a/#' must not contain '#'",
        ),
        ([], {"MQTT_TOPIC_PREFIX": ""}, "--topic-prefix / MQTT_TOPIC_PREFIX: '' must not be empty"),
        (
            [],
            {"MQTT_TLS": "maybe"},
            "--mqtt-tls / MQTT_TLS: 'maybe' is not valid; expected one of 1, true, yes, on, 0, false, no, off",
        ),
        (
            [],
            {"RESYNC_INTERVAL": "-1"},
            "--resync-interval / RESYNC_INTERVAL: '-1' is not valid; expected a number >= 0.1",
        ),
        (
            ["--mqtt-cert-file", "c.pem"],
            {},
            "--mqtt-cert-file / MQTT_CERT_FILE and --mqtt-key-file / MQTT_KEY_FILE go together",
        ),
        (["--bogus"], {}, "unrecognized arguments: --bogus"),
    ],
)
def test_bad_values_name_the_setting(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    """A bad value raises one line naming the flag and variable and what is accepted."""
    with pytest.raises(ConfigError) as caught:
        load_settings(argv, environ)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_no_password_flag() -> None:
    """The password cannot be given on the command line (it would show in ps)."""
    with pytest.raises(ConfigError):
        load_settings(["--mqtt-password", "x"], {})
