"""The broker settings shared by the bridge, the dashboard and the health check (pure)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from bridge.settings import tables as table
from bridge.settings.options import ConfigError, add_options, value


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS for the broker connection; None fields fall back to the system defaults."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = table.TLS_INSECURE.default


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach the broker and where the topics live."""

    host: str = table.HOST.default
    port: int = table.PORT.default
    client_id: str = table.BRIDGE_PROG
    qos: int = table.QOS.default
    prefix: str = table.PREFIX.default
    tls: TlsSettings | None = None
    username: str | None = None
    password_file: Path | None = None
    # Never logged: MqttSettings' repr shows only whether a password is set.
    password: str | None = field(default=None, repr=False)
    reconnect_max_delay: float = table.RECONNECT_MAX_DELAY.default
    keepalive: int = table.KEEPALIVE.default
    # "auto", "5" or "3.1.1": see bridge.mqtt.version.
    protocol: str = table.PROTOCOL.default

    @property
    def address(self) -> str:
        """The broker as `host:port`, for log lines and messages."""
        return f"{self.host}:{self.port}"


def add_mqtt_arguments(parser: argparse.ArgumentParser, client_id: str | None = None) -> None:
    """Add the broker options shared by the bridge and the dashboard.

    `client_id` is the command's default client id as its help shows it.
    """
    options = table.BROKER_OPTIONS
    if client_id is not None:
        own = replace(table.CLIENT_ID, shown=client_id)
        options = tuple(own if option is table.CLIENT_ID else option for option in options)
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
            f"use {table.PASSWORD_FILE.flag} or {table.PASSWORD.env}"
        )
        raise ConfigError(msg)
    ca_file = value(table.CA_FILE, args, environ)
    cert_file = value(table.CERT_FILE, args, environ)
    key_file = value(table.KEY_FILE, args, environ)
    if (cert_file is None) != (key_file is None):
        msg = f"{table.CERT_FILE.names} and {table.KEY_FILE.names} go together"
        raise ConfigError(msg)
    insecure = value(table.TLS_INSECURE, args, environ)
    # A CA, a client certificate or skipping the hostname check all still mean TLS,
    # never plaintext.
    use_tls = value(table.TLS, args, environ) or ca_file is not None or cert_file is not None
    use_tls = use_tls or insecure
    tls = TlsSettings(ca_file, cert_file, key_file, insecure) if use_tls else None
    port = replace(table.PORT, default=table.TLS_PORT) if use_tls else table.PORT
    password_file = value(table.PASSWORD_FILE, args, environ)
    client_id = value(table.CLIENT_ID, args, environ)
    return MqttSettings(
        host=value(table.HOST, args, environ),
        port=value(port, args, environ),
        client_id=default_client_id if client_id is None else client_id,
        qos=qos,
        prefix=value(table.PREFIX, args, environ),
        tls=tls,
        username=value(table.USERNAME, args, environ),
        password_file=password_file,
        password=None if password_file is not None else value(table.PASSWORD, args, environ),
        reconnect_max_delay=value(table.RECONNECT_MAX_DELAY, args, environ),
        keepalive=value(table.KEEPALIVE, args, environ),
        protocol=value(table.PROTOCOL, args, environ),
    )
