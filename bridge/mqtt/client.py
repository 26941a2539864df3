"""paho clients: the one place that builds a configured one (TLS, credentials, will)."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from bridge.mqtt.version import MQTT5
from bridge.settings import broker
from bridge.settings.broker import MqttSettings, TlsSettings
from bridge.settings.options import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

LOG = logging.getLogger(__name__)
_CA_FILE = broker.CA_FILE.names
_CERT_FILE = broker.CERT_FILE.names
_KEY_FILE = broker.KEY_FILE.names
_PASSWORD_FILE = broker.PASSWORD_FILE.names


@dataclass(frozen=True, slots=True)
class Will:
    """The last will the broker publishes when the connection dies uncleanly."""

    topic: str
    payload: bytes
    qos: int
    retain: bool = True


class SocketErrors(logging.Handler):
    """paho's error lines (why a socket failed), the last one kept, for one log line.

    A logger, not `on_log`: for that callback paho formats every debug line, two
    per message on its network thread, the bridge's bottleneck under load. The
    logger is outside the hierarchy, so nothing propagates and no level lowers it.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.text: str | None = None
        self.logger = logging.Logger("bridge.paho", logging.ERROR)  # noqa: LOG001
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the line's text."""
        self.text = record.getMessage()

    def closed_plainly(self, reason: ReasonCode) -> bool:
        """Whether a connection ended by a plain close: no socket or TLS error, no keepalive.

        Before any CONNACK that is how RabbitMQ 3.10 refuses an MQTT 5 CONNECT. paho
        says "Unspecified error" for a lost connection, "Keep alive timeout" for its own.
        """
        return self.text is None and str(reason) == "Unspecified error"


def read_password(settings: MqttSettings) -> str | None:
    """Return the broker password: the password file wins over MQTT_PASSWORD."""
    if settings.password_file is None:
        return settings.password
    try:
        # Docker secrets and `echo secret > file` end with a newline that is no part of it.
        return settings.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{_PASSWORD_FILE}: cannot read {settings.password_file}: {why(err)}"
        raise ConfigError(msg) from None


def why(err: Exception) -> str:
    """Return the short cause of a failed connect or file read, for one log line."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    if isinstance(err, UnicodeDecodeError):
        return "not UTF-8 text"
    return str(err) or type(err).__name__


def _check_readable(path: Path | None, option: str) -> None:
    if path is None:
        return
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        msg = f"{option}: cannot read {path}: {why(err)}"
        raise ConfigError(msg) from None


def _refuse_passphrase(key_file: Path) -> Callable[[], bytes]:
    # Without a callback OpenSSL would prompt on the terminal and block the bridge.
    def refuse() -> bytes:
        msg = f"{_KEY_FILE}: {key_file} is encrypted; give the bridge an unencrypted key"
        raise ConfigError(msg)

    return refuse


class _ClosingSSLSocket(ssl.SSLSocket):
    """paho drops a socket whose handshake failed without closing it; close it here."""

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def _tls_context(tls: TlsSettings) -> ssl.SSLContext:
    _check_readable(tls.ca_file, _CA_FILE)
    _check_readable(tls.cert_file, _CERT_FILE)
    _check_readable(tls.key_file, _KEY_FILE)
    # Verifies the chain and the host name; nothing here turns either off but `insecure`.
    try:
        context = ssl.create_default_context(
            cafile=str(tls.ca_file) if tls.ca_file is not None else None
        )
    except ssl.SSLError as err:
        msg = f"{_CA_FILE}: {tls.ca_file} holds no PEM certificate ({err.reason or err})"
        raise ConfigError(msg) from None
    if tls.cert_file is not None and tls.key_file is not None:
        try:
            context.load_cert_chain(
                str(tls.cert_file), str(tls.key_file), _refuse_passphrase(tls.key_file)
            )
        except ssl.SSLError as err:
            msg = (
                f"{_CERT_FILE} and {_KEY_FILE}: {tls.cert_file} and {tls.key_file} are not "
                f"a PEM certificate and its private key ({err.reason or 'no PEM data'})"
            )
            raise ConfigError(msg) from None
    if tls.insecure:
        context.check_hostname = False
    context.sslsocket_class = _ClosingSSLSocket
    return context


def warn_if_insecure(settings: MqttSettings) -> None:
    """Log the start-up warning for `--mqtt-tls-insecure`, once per process."""
    if settings.tls is not None and settings.tls.insecure:
        LOG.warning(
            "--mqtt-tls-insecure: the broker's host name is not checked; any server "
            "with a certificate from the trusted CAs can pose as %s",
            settings.host,
        )


def create_client(
    settings: MqttSettings, client_id: str, will: Will | None = None, version: str = MQTT5
) -> mqtt.Client:
    """Return a paho client of MQTT `version` with TLS, credentials and will; nothing connects yet.

    paho's own reconnecting is off (`loop_forever` returns when the connection
    drops): bridge.mqtt.reconnect runs the loop instead, since paho cannot say why an
    attempt failed. Raises ConfigError when a certificate, key or password file cannot be used.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if version == MQTT5 else mqtt.MQTTv311,
        reconnect_on_failure=False,
    )
    if settings.tls is not None:
        # paho reads check_hostname off the context: no separate tls_insecure_set.
        client.tls_set_context(_tls_context(settings.tls))
    password = read_password(settings)
    if settings.username is not None or password is not None:
        client.username_pw_set(settings.username, password)
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
    return client


def release(client: mqtt.Client) -> None:
    """Close the sockets of a client that is done with.

    Every loop_start() makes a new wake-up socket pair, and paho closes the old
    one only in its __del__, which a client caught in a reference cycle reaches
    too late (or never, across reconnects of one client).
    """
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()


def describe_settings(settings: MqttSettings) -> str:
    """Return the effective broker settings for the start-up log line, secrets redacted."""
    tls = "off"
    if settings.tls is not None:
        tls = f"on (ca={settings.tls.ca_file or 'system'}"
        tls += f", client-cert={settings.tls.cert_file or 'none'}"
        tls += ", hostname-check=off)" if settings.tls.insecure else ")"
    password = "set" if (settings.password or settings.password_file) else "none"
    return (
        f"broker={settings.address} client-id={settings.client_id} "
        f"prefix={settings.prefix} qos={settings.qos} protocol={settings.protocol} tls={tls} "
        f"username={settings.username or 'none'} password={password}"
    )
