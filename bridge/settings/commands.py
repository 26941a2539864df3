"""The bridge's, the dashboard's and the health check's own options, and the bridge's settings.

Each option is declared once here; the settings are built from the declarations
by field name (bridge.settings.options.build), so a new option is one declaration
and one field beside it (pure).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bridge.core.model import STATES, UNKNOWN
from bridge.settings.broker import BROKER_OPTIONS, MqttSettings, add_mqtt_arguments, mqtt_settings
from bridge.settings.logs import LOGS_OPTIONS, LogsSettings
from bridge.settings.options import (
    Declared,
    Option,
    OptionParser,
    Repeated,
    add_options,
    boolean,
    build,
    number,
    one_of,
    value,
)

BRIDGE_PROG = "ankaios-mqtt-bridge"
DASHBOARD_PROG = "ankaios-mqtt-dashboard"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# What `--state` accepts: every execution state, and UNKNOWN for a state a newer Ankaios added.
STATE_NAMES = (*STATES, UNKNOWN)

# The bridge's own.
CONTROL_INTERFACE = Option(
    "--control-interface",
    "ANKAIOS_CONTROL_INTERFACE_PATH",
    Path("/run/ankaios/control_interface"),
    Path,
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
    *LOGS_OPTIONS,
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
    "--agent",
    str,
    "show only the instances of this agent",
    shown_default="all agents",
    metavar="NAME",
    dest="agents",
)
STATES_SHOWN = Repeated(
    "--state",
    one_of({name: name for name in STATE_NAMES}),
    "show only the instances in this execution state, e.g. FAILED (any case)",
    shown_default="all states",
    metavar="STATE",
    dest="states",
)
DASHBOARD_OWN_OPTIONS: tuple[Declared, ...] = (ONCE, TIMEOUT, FORMAT, AGENTS, STATES_SHOWN)

# The container health check's own (besides the broker options).
HEALTH_TIMEOUT = Option(
    "--timeout",
    None,
    3.0,  # below compose's 5 s healthcheck timeout
    number(0, above=True),
    "seconds to wait for the broker and the bridge's status",
)
HEALTHCHECK_OWN_OPTIONS: tuple[Declared, ...] = (HEALTH_TIMEOUT,)


@dataclass(frozen=True, slots=True)
class AnkaiosSettings:
    """Where the control interface is and how patient to be with it."""

    control_interface: Path
    handshake_timeout: float
    # 0: wait for a lost agent as long as it takes.
    agent_reconnect_timeout: float
    resync_interval: float
    request_timeout: float
    probe_interval: float


@dataclass(frozen=True, slots=True)
class MirrorSettings:
    """How often the mirror may republish what changes all the time (0: every change)."""

    agent_status_interval: float
    info_interval: float


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything the bridge needs, validated."""

    mqtt: MqttSettings
    ankaios: AnkaiosSettings
    mirror: MirrorSettings
    log_level: str
    logs: LogsSettings


def build_parser() -> OptionParser:
    """Return the bridge's command-line parser; each help text names the environment twin."""
    parser = OptionParser(prog=BRIDGE_PROG, description="Configuration of the bridge.")
    add_mqtt_arguments(parser)
    add_options(parser, BRIDGE_OWN_OPTIONS)
    return parser


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str], hostname: str = "localhost"
) -> BridgeSettings:
    """Return the bridge's settings: flag beats environment beats default."""
    args = build_parser().parse_args(list(argv))
    qos = value(QOS, args, environ)
    own = (args, environ)
    return build(
        BridgeSettings,
        BRIDGE_OWN_OPTIONS,
        *own,
        mqtt=mqtt_settings(args, environ, f"{BRIDGE_PROG}-{hostname}", qos),
        ankaios=build(AnkaiosSettings, BRIDGE_OWN_OPTIONS, *own),
        mirror=build(MirrorSettings, BRIDGE_OWN_OPTIONS, *own),
        logs=build(LogsSettings, BRIDGE_OWN_OPTIONS, *own),
    )


def default_settings() -> BridgeSettings:
    """Return the bridge's settings when nothing is given (tests replace single fields)."""
    return load_settings([], {})
