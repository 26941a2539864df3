"""Configuration of the bridge: one pure function of argv and environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.broker_options import (
    ConfigError,
    MqttSettings,
    OptionParser,
    TlsSettings,
    add_mqtt_arguments,
    env_or,
    flag_number,
    mqtt_settings,
)

__all__ = [
    "BridgeSettings",
    "ConfigError",
    "MqttSettings",
    "TlsSettings",
    "add_mqtt_arguments",
    "load_settings",
    "mqtt_settings",
]

DEFAULT_CONTROL_INTERFACE = Path("/run/ankaios/control_interface")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything the bridge needs, validated."""

    control_interface: Path = DEFAULT_CONTROL_INTERFACE
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    log_level: str = "INFO"
    resync_interval: float = 60.0
    handshake_timeout: float = 5.0
    # 0: wait for a lost agent as long as it takes.
    agent_reconnect_timeout: float = 0.0
    request_timeout: float = 5.0
    probe_interval: float = 5.0
    agent_status_interval: float = 10.0
    info_interval: float = 60.0


def build_parser() -> OptionParser:
    """Return the bridge's command-line parser; each help text names the environment twin."""
    parser = OptionParser(prog="ankaios-mqtt-bridge", description=__doc__)
    parser.add_argument(
        "--control-interface",
        help="directory holding the control interface FIFOs "
        f"(ANKAIOS_CONTROL_INTERFACE_PATH, default {DEFAULT_CONTROL_INTERFACE})",
    )
    add_mqtt_arguments(parser)
    parser.add_argument("--mqtt-qos", help="QoS of the retained topics, 0 or 1 (MQTT_QOS)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (LOG_LEVEL)")
    parser.add_argument(
        "--resync-interval",
        help="seconds between full re-reads of the Ankaios state (RESYNC_INTERVAL, default 60)",
    )
    parser.add_argument(
        "--handshake-timeout",
        help="seconds to wait for the agent to accept the connection "
        "(ANKAIOS_HANDSHAKE_TIMEOUT, default 5)",
    )
    parser.add_argument(
        "--agent-reconnect-timeout",
        help="seconds to wait for a lost agent before giving up, 0 = as long as it takes "
        "(ANKAIOS_AGENT_RECONNECT_TIMEOUT, default 0)",
    )
    parser.add_argument(
        "--request-timeout",
        help="seconds an Ankaios request may stay unanswered before $bridge/ankaios says "
        "disconnected (ANKAIOS_REQUEST_TIMEOUT, default 5)",
    )
    parser.add_argument(
        "--probe-interval",
        help="seconds between liveness probes of Ankaios (ANKAIOS_PROBE_INTERVAL, default 5)",
    )
    return parser


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str], hostname: str = "localhost"
) -> BridgeSettings:
    """Return the bridge's settings: flag beats environment beats default."""
    args = build_parser().parse_args(list(argv))
    qos = flag_number(args, environ, "mqtt_qos", "MQTT_QOS", int, 0, 1)
    if qos not in (0, 1):
        msg = f"--mqtt-qos / MQTT_QOS: {qos} is not valid; expected 0 or 1"
        raise ConfigError(msg)
    level = env_or(args.log_level, environ, "LOG_LEVEL", str, "INFO").upper()
    if level not in LOG_LEVELS:
        accepted = ", ".join(LOG_LEVELS)
        msg = f"--log-level / LOG_LEVEL: {level!r} is not valid; expected one of {accepted}"
        raise ConfigError(msg)
    control_interface = env_or(
        args.control_interface,
        environ,
        "ANKAIOS_CONTROL_INTERFACE_PATH",
        Path,
        DEFAULT_CONTROL_INTERFACE,
    )
    return BridgeSettings(
        control_interface=Path(control_interface),
        mqtt=mqtt_settings(args, environ, f"ankaios-mqtt-bridge-{hostname}", qos),
        log_level=level,
        resync_interval=flag_number(
            args, environ, "resync_interval", "RESYNC_INTERVAL", float, 0.1, 60.0
        ),
        handshake_timeout=flag_number(
            args, environ, "handshake_timeout", "ANKAIOS_HANDSHAKE_TIMEOUT", float, 0.1, 5.0
        ),
        agent_reconnect_timeout=flag_number(
            args,
            environ,
            "agent_reconnect_timeout",
            "ANKAIOS_AGENT_RECONNECT_TIMEOUT",
            float,
            0.0,
            0.0,
        ),
        request_timeout=flag_number(
            args, environ, "request_timeout", "ANKAIOS_REQUEST_TIMEOUT", float, 0.1, 5.0
        ),
        probe_interval=flag_number(
            args, environ, "probe_interval", "ANKAIOS_PROBE_INTERVAL", float, 0.1, 5.0
        ),
    )
