"""Configuration of the bridge: one pure function of argv and environment."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bridge.settings import tables as table
from bridge.settings.broker import MqttSettings, add_mqtt_arguments, mqtt_settings
from bridge.settings.options import OptionParser, add_options, value


@dataclass(frozen=True, slots=True)
class BridgeSettings:
    """Everything the bridge needs, validated."""

    control_interface: Path = table.CONTROL_INTERFACE.default
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    log_level: str = table.LOG_LEVEL.default
    resync_interval: float = table.RESYNC_INTERVAL.default
    handshake_timeout: float = table.HANDSHAKE_TIMEOUT.default
    # 0: wait for a lost agent as long as it takes.
    agent_reconnect_timeout: float = table.AGENT_RECONNECT_TIMEOUT.default
    request_timeout: float = table.REQUEST_TIMEOUT.default
    probe_interval: float = table.PROBE_INTERVAL.default
    # 0: publish every load-only change of an agent / the info counters with every change.
    agent_status_interval: float = table.AGENT_STATUS_INTERVAL.default
    info_interval: float = table.INFO_INTERVAL.default


def build_parser() -> OptionParser:
    """Return the bridge's command-line parser; each help text names the environment twin."""
    parser = OptionParser(prog=table.BRIDGE_PROG, description=__doc__)
    add_mqtt_arguments(parser)
    add_options(parser, table.BRIDGE_OWN_OPTIONS)
    return parser


def load_settings(
    argv: Sequence[str], environ: Mapping[str, str], hostname: str = "localhost"
) -> BridgeSettings:
    """Return the bridge's settings: flag beats environment beats default."""
    args = build_parser().parse_args(list(argv))
    qos = value(table.QOS, args, environ)
    return BridgeSettings(
        control_interface=value(table.CONTROL_INTERFACE, args, environ),
        mqtt=mqtt_settings(args, environ, f"{table.BRIDGE_PROG}-{hostname}", qos),
        log_level=value(table.LOG_LEVEL, args, environ),
        resync_interval=value(table.RESYNC_INTERVAL, args, environ),
        handshake_timeout=value(table.HANDSHAKE_TIMEOUT, args, environ),
        agent_reconnect_timeout=value(table.AGENT_RECONNECT_TIMEOUT, args, environ),
        request_timeout=value(table.REQUEST_TIMEOUT, args, environ),
        probe_interval=value(table.PROBE_INTERVAL, args, environ),
        agent_status_interval=value(table.AGENT_STATUS_INTERVAL, args, environ),
        info_interval=value(table.INFO_INTERVAL, args, environ),
    )
