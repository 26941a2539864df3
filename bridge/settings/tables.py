"""The option tables of the bridge and the dashboard: every setting declared once (pure)."""

from __future__ import annotations

from pathlib import Path

from bridge.core.model import STATES, UNKNOWN
from bridge.core.topics import DEFAULT_PREFIX, validate_prefix
from bridge.mqtt.version import AUTO, CHOICES
from bridge.settings.options import (
    Declared,
    Option,
    RejectedError,
    Repeated,
    boolean,
    integer,
    number,
    one_of,
    path,
    text,
)

BRIDGE_PROG = "ankaios-mqtt-bridge"
DASHBOARD_PROG = "ankaios-mqtt-dashboard"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
PLAIN_PORT = 1883
TLS_PORT = 8883
# What `--state` accepts: every execution state, and UNKNOWN for a state a newer Ankaios added.
STATE_NAMES = (*STATES, UNKNOWN)


def _prefix(given: str) -> str:
    problem = validate_prefix(given)
    if problem is not None:
        raise RejectedError(problem)
    return given


# Shared by the bridge, the dashboard and the health check.
HOST = Option("--mqtt-host", "MQTT_HOST", "localhost", text, "broker host name")
PORT = Option(
    "--mqtt-port",
    "MQTT_PORT",
    PLAIN_PORT,
    integer(1, 65535),
    "broker port",
    shown=f"{PLAIN_PORT}, {TLS_PORT} with TLS",
)
# The default depends on the command: each passes its own to mqtt_settings, and the
# dashboard shows its own with add_mqtt_arguments.
CLIENT_ID: Option[str | None] = Option(
    "--mqtt-client-id",
    "MQTT_CLIENT_ID",
    None,
    text,
    "MQTT client id",
    shown=f"{BRIDGE_PROG}-<hostname>",
)
PREFIX = Option("--topic-prefix", "MQTT_TOPIC_PREFIX", DEFAULT_PREFIX, _prefix, "topic prefix")
TLS = Option("--mqtt-tls", "MQTT_TLS", False, boolean, "use TLS", switch=True)  # noqa: FBT003
CA_FILE: Option[Path | None] = Option(
    "--mqtt-ca-file", "MQTT_CA_FILE", None, path, "CA bundle; implies TLS", shown="system CAs"
)
CERT_FILE: Option[Path | None] = Option(
    "--mqtt-cert-file", "MQTT_CERT_FILE", None, path, "client certificate for mutual TLS"
)
KEY_FILE: Option[Path | None] = Option(
    "--mqtt-key-file", "MQTT_KEY_FILE", None, path, "client key for mutual TLS"
)
TLS_INSECURE = Option(
    "--mqtt-tls-insecure",
    "MQTT_TLS_INSECURE",
    False,  # noqa: FBT003
    boolean,
    "skip the hostname check; implies TLS; for tests only",
    switch=True,
)
USERNAME: Option[str | None] = Option("--mqtt-username", "MQTT_USERNAME", None, text, "user name")
PASSWORD_FILE: Option[Path | None] = Option(
    "--mqtt-password-file",
    "MQTT_PASSWORD_FILE",
    None,
    path,
    "file holding the password; wins over MQTT_PASSWORD",
)
# No flag: it would show in `ps`.
PASSWORD: Option[str | None] = Option(None, "MQTT_PASSWORD", None, text, "the password")
KEEPALIVE = Option(
    "--mqtt-keepalive", "MQTT_KEEPALIVE", 60, integer(1), "MQTT keepalive in seconds"
)
RECONNECT_MAX_DELAY = Option(
    "--mqtt-reconnect-max-delay",
    "MQTT_RECONNECT_MAX_DELAY",
    2.0,
    number(0.1),
    "cap of the reconnect backoff in seconds",
)
PROTOCOL = Option(
    "--mqtt-protocol",
    "MQTT_PROTOCOL",
    AUTO,
    one_of({name: name for name in CHOICES}),
    "MQTT version: auto (5, then 3.1.1 when the broker refuses 5), 5 or 3.1.1",
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

# The bridge's own.
CONTROL_INTERFACE = Option(
    "--control-interface",
    "ANKAIOS_CONTROL_INTERFACE_PATH",
    Path("/run/ankaios/control_interface"),
    path,
    "directory holding the control interface FIFOs",
)
QOS = Option(
    "--mqtt-qos", "MQTT_QOS", 1, one_of({"0": 0, "1": 1}), "QoS of the retained topics, 0 or 1"
)
LOG_LEVEL = Option(
    "--log-level",
    "LOG_LEVEL",
    "INFO",
    one_of({level: level for level in LOG_LEVELS}),
    f"{', '.join(LOG_LEVELS[:-1])} or {LOG_LEVELS[-1]}",
)
RESYNC_INTERVAL = Option(
    "--resync-interval",
    "RESYNC_INTERVAL",
    60.0,
    number(0.1),
    "seconds between full re-reads of the Ankaios state",
)
HANDSHAKE_TIMEOUT = Option(
    "--handshake-timeout",
    "ANKAIOS_HANDSHAKE_TIMEOUT",
    5.0,
    number(0.1),
    "seconds to wait for the agent to accept the first handshake",
)
AGENT_RECONNECT_TIMEOUT = Option(
    "--agent-reconnect-timeout",
    "ANKAIOS_AGENT_RECONNECT_TIMEOUT",
    0.0,
    number(0),
    "seconds to wait for a lost agent before giving up, 0 = as long as it takes",
)
REQUEST_TIMEOUT = Option(
    "--request-timeout",
    "ANKAIOS_REQUEST_TIMEOUT",
    5.0,
    number(0.1),
    "seconds an Ankaios request may stay unanswered before $bridge/ankaios says disconnected",
)
PROBE_INTERVAL = Option(
    "--probe-interval",
    "ANKAIOS_PROBE_INTERVAL",
    5.0,
    number(0.1),
    "seconds between liveness probes of Ankaios",
)
AGENT_STATUS_INTERVAL = Option(
    "--agent-status-interval",
    "AGENT_STATUS_INTERVAL",
    10.0,
    number(0),
    "seconds: a load-only change of an agent is published at most once per interval, "
    "always with the latest values; 0 = every change",
)
INFO_INTERVAL = Option(
    "--info-interval",
    "INFO_INTERVAL",
    60.0,
    number(0),
    "seconds: $bridge/info counters are republished at most once per interval; "
    "0 = with every change",
)
BRIDGE_OWN_OPTIONS: tuple[Declared, ...] = (
    CONTROL_INTERFACE,
    QOS,
    LOG_LEVEL,
    RESYNC_INTERVAL,
    HANDSHAKE_TIMEOUT,
    AGENT_RECONNECT_TIMEOUT,
    REQUEST_TIMEOUT,
    PROBE_INTERVAL,
    AGENT_STATUS_INTERVAL,
    INFO_INTERVAL,
)
BRIDGE_OPTIONS = (*BROKER_OPTIONS, *BRIDGE_OWN_OPTIONS)

# The dashboard's own (besides the broker options).
ONCE = Option(
    "--once",
    None,
    False,  # noqa: FBT003
    boolean,
    "print the retained snapshot once as text and exit",
    switch=True,
)
TIMEOUT = Option(
    "--timeout",
    None,
    10.0,
    number(0, above=True),
    "seconds --once waits for the broker and the snapshot",
)
FORMAT = Option(
    "--format",
    None,
    "text",
    one_of({"text": "text", "json": "json"}),
    "output format, text or json",
)
AGENTS = Repeated(
    "--agent", text, "show only the instances of this agent", shown="all agents", metavar="NAME"
)
STATES_SHOWN = Repeated(
    "--state",
    one_of({name: name for name in STATE_NAMES}),
    "show only the instances in this execution state, e.g. FAILED (any case)",
    shown="all states",
    metavar="STATE",
)
DASHBOARD_OWN_OPTIONS: tuple[Declared, ...] = (ONCE, TIMEOUT, FORMAT, AGENTS, STATES_SHOWN)
DASHBOARD_OPTIONS = (*BROKER_OPTIONS, *DASHBOARD_OWN_OPTIONS)

# The container health check's own (besides the broker options).
HEALTH_TIMEOUT = Option(
    "--timeout",
    None,
    3.0,  # below compose's 5 s healthcheck timeout
    number(0, above=True),
    "seconds to wait for the broker and the bridge's status",
)
HEALTHCHECK_OWN_OPTIONS: tuple[Declared, ...] = (HEALTH_TIMEOUT,)
