"""The broker options shared by the bridge, the dashboard and the health check, and their settings.

Each option is declared once here (flag, variable, default, parser, help); the
settings are built from these declarations (pure).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bridge.core.topics import DEFAULT_PREFIX, validate_prefix
from bridge.mqtt.version import AUTO, CHOICES
from bridge.settings.options import (
    ConfigError,
    Declared,
    Option,
    RejectedError,
    add_options,
    boolean,
    build,
    integer,
    number,
    one_of,
    value,
)

PLAIN_PORT = 1883
TLS_PORT = 8883


def _prefix(given: str) -> str:
    problem = validate_prefix(given)
    if problem is not None:
        raise RejectedError(problem)
    return given


HOST = Option("--mqtt-host", "MQTT_HOST", "localhost", str, "broker host name", setting="host")
PORT = Option(
    "--mqtt-port",
    "MQTT_PORT",
    PLAIN_PORT,
    integer(1, 65535),
    "broker port",
    shown=f"{PLAIN_PORT}, {TLS_PORT} with TLS",
    setting="port",
)
# The default depends on the command: each passes its own to mqtt_settings, and the
# dashboard shows its own with add_mqtt_arguments.
CLIENT_ID: Option[str | None] = Option(
    "--mqtt-client-id",
    "MQTT_CLIENT_ID",
    None,
    str,
    "MQTT client id",
    shown="ankaios-mqtt-bridge-<hostname>",
    setting="client_id",
)
PREFIX = Option(
    "--topic-prefix", "MQTT_TOPIC_PREFIX", DEFAULT_PREFIX, _prefix, "topic prefix", setting="prefix"
)
TLS = Option("--mqtt-tls", "MQTT_TLS", False, boolean, "use TLS", switch=True, setting="tls")  # noqa: FBT003
CA_FILE: Option[Path | None] = Option(
    "--mqtt-ca-file",
    "MQTT_CA_FILE",
    None,
    Path,
    "CA bundle; implies TLS",
    shown="system CAs",
    setting="ca_file",
)
CERT_FILE: Option[Path | None] = Option(
    "--mqtt-cert-file",
    "MQTT_CERT_FILE",
    None,
    Path,
    "client certificate for mutual TLS",
    setting="cert_file",
)
KEY_FILE: Option[Path | None] = Option(
    "--mqtt-key-file",
    "MQTT_KEY_FILE",
    None,
    Path,
    "client key for mutual TLS",
    setting="key_file",
)
TLS_INSECURE = Option(
    "--mqtt-tls-insecure",
    "MQTT_TLS_INSECURE",
    False,  # noqa: FBT003
    boolean,
    "skip the hostname check; implies TLS; for tests only",
    switch=True,
    setting="insecure",
)
USERNAME: Option[str | None] = Option(
    "--mqtt-username", "MQTT_USERNAME", None, str, "user name", setting="username"
)
PASSWORD_FILE: Option[Path | None] = Option(
    "--mqtt-password-file",
    "MQTT_PASSWORD_FILE",
    None,
    Path,
    "file holding the password; wins over MQTT_PASSWORD",
    setting="password_file",
)
# No flag: it would show in `ps`.
PASSWORD: Option[str | None] = Option(
    None, "MQTT_PASSWORD", None, str, "the password", setting="password"
)
KEEPALIVE = Option(
    "--mqtt-keepalive",
    "MQTT_KEEPALIVE",
    60,
    integer(1),
    "MQTT keepalive in seconds",
    setting="keepalive",
)
RECONNECT_MAX_DELAY = Option(
    "--mqtt-reconnect-max-delay",
    "MQTT_RECONNECT_MAX_DELAY",
    2.0,
    number(0.1),
    "cap of the reconnect backoff in seconds",
    setting="reconnect_max_delay",
)
PROTOCOL = Option(
    "--mqtt-protocol",
    "MQTT_PROTOCOL",
    AUTO,
    one_of({name: name for name in CHOICES}),
    "MQTT version: auto (5, then 3.1.1 when the broker refuses 5), 5 or 3.1.1",
    setting="protocol",
)
BROKER_OPTIONS: tuple[Declared, ...] = (
    HOST,
    PORT,
    CLIENT_ID,
    PREFIX,
    TLS,
    CA_FILE,
    CERT_FILE,
    KEY_FILE,
    TLS_INSECURE,
    USERNAME,
    PASSWORD_FILE,
    PASSWORD,
    KEEPALIVE,
    RECONNECT_MAX_DELAY,
    PROTOCOL,
)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS for the broker connection; None fields fall back to the system defaults."""

    ca_file: Path | None
    cert_file: Path | None
    key_file: Path | None
    insecure: bool


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and where the topics live."""

    host: str
    port: int
    client_id: str
    qos: int
    prefix: str
    tls: TlsSettings | None
    username: str | None
    password_file: Path | None
    # Never logged: MqttSettings' repr shows only whether a password is set.
    password: str | None = field(repr=False)
    reconnect_max_delay: float
    keepalive: int
    # "auto", "5" or "3.1.1": see bridge.mqtt.version.
    protocol: str

    @property
    def address(self) -> str:
        """The broker as `host:port`, for log lines and messages."""
        return f"{self.host}:{self.port}"


def add_mqtt_arguments(parser: argparse.ArgumentParser, client_id: str | None = None) -> None:
    """Add the broker options shared by the bridge and the dashboard.

    `client_id` is the command's default client id as its help shows it.
    """
    options = BROKER_OPTIONS
    if client_id is not None:
        own = replace(CLIENT_ID, shown=client_id)
        options = tuple(own if option is CLIENT_ID else option for option in options)
    add_options(parser, options)
    # No password flag: it would show in `ps`. This one refuses the value without echoing
    # it, which argparse's "unrecognized arguments: --mqtt-password X" would do.
    parser.add_argument("--mqtt-password", help=argparse.SUPPRESS)


def mqtt_settings(
    args: argparse.Namespace, environ: Mapping[str, str], default_client_id: str, qos: int
) -> MqttSettings:
    """Build the broker settings from parsed flags with environment fallbacks."""
    if args.mqtt_password is not None:
        msg = (
            "--mqtt-password is not accepted (it would show in ps); "
            f"use {PASSWORD_FILE.flag} or {PASSWORD.env}"
        )
        raise ConfigError(msg)
    ca_file = value(CA_FILE, args, environ)
    cert_file = value(CERT_FILE, args, environ)
    key_file = value(KEY_FILE, args, environ)
    if (cert_file is None) != (key_file is None):
        msg = f"{CERT_FILE.names} and {KEY_FILE.names} go together"
        raise ConfigError(msg)
    insecure = value(TLS_INSECURE, args, environ)
    # A CA, a client certificate or skipping the hostname check all still mean TLS,
    # never plaintext.
    use_tls = value(TLS, args, environ) or ca_file is not None or cert_file is not None
    use_tls = use_tls or insecure
    tls = TlsSettings(ca_file, cert_file, key_file, insecure) if use_tls else None
    port = replace(PORT, default=TLS_PORT) if use_tls else PORT
    password_file = value(PASSWORD_FILE, args, environ)
    client_id = value(CLIENT_ID, args, environ)
    return build(
        MqttSettings,
        BROKER_OPTIONS,
        args,
        environ,
        port=value(port, args, environ),
        client_id=default_client_id if client_id is None else client_id,
        qos=qos,
        tls=tls,
        password=None if password_file is not None else value(PASSWORD, args, environ),
    )
