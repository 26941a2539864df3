"""The watchdog's own options and its settings (pure; the broker options are the bridge's).

Each option is declared once here, like the bridge's in bridge.settings.commands;
the settings are built from the declarations by field name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from bridge.settings.broker import MqttSettings, add_mqtt_arguments, mqtt_settings
from bridge.settings.commands import LOG_LEVEL
from bridge.settings.options import (
    ConfigError,
    Declared,
    Option,
    OptionParser,
    RejectedError,
    add_options,
    build,
    integer,
    number,
    value,
)

T = TypeVar("T")
WATCHDOG_PROG = "ankaios-mqtt-watchdog"
# Upstream ankaios_api/common_constants.rs: ALLOWED_CHAR_SET, MAX_FIELD_LENGTH. A
# leading `-` would read as a flag of `ank`.
_WORKLOAD_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}")


def _workload(given: str) -> str:
    if not _WORKLOAD_NAME.fullmatch(given):
        msg = "is not valid; expected an Ankaios workload name: 1 to 63 of A-Z a-z 0-9 _ -"
        raise RejectedError(msg)
    return given


WORKLOAD: Option[str | None] = Option(
    "--workload",
    "WATCHDOG_WORKLOAD",
    None,
    _workload,
    "the bridge's workload name, as ank get workloads lists it",
    shown="required",
    metavar="NAME",
)
MANIFEST: Option[Path | None] = Option(
    "--manifest",
    "WATCHDOG_MANIFEST",
    None,
    Path,
    "the manifest ank apply re-creates the bridge's workload from",
    shown="required",
    metavar="PATH",
)
ANK = Option("--ank", "WATCHDOG_ANK", "ank", str, "the ank program, a path or a name on PATH")
MAX_RECREATIONS = Option(
    "--max-recreations",
    "WATCHDOG_MAX_RECREATIONS",
    4,
    integer(1),
    "re-creations allowed within any hour",
)
BACKOFF = Option(
    "--backoff",
    "WATCHDOG_BACKOFF",
    10.0,
    number(0),
    "seconds to wait after a re-creation (or a failed one) before the next; doubles each time",
)
MAX_BACKOFF = Option(
    "--max-backoff",
    "WATCHDOG_MAX_BACKOFF",
    300.0,
    number(0),
    "cap of the doubling wait, seconds; after a bridge online this long, the wait starts over",
)
DELETE_TIMEOUT = Option(
    "--delete-timeout",
    "WATCHDOG_DELETE_TIMEOUT",
    60.0,
    number(0, above=True),
    "seconds to wait, after ank delete, for ank get workloads to stop listing the workload",
)
WATCHDOG_OWN_OPTIONS: tuple[Declared, ...] = (
    WORKLOAD,
    MANIFEST,
    ANK,
    MAX_RECREATIONS,
    BACKOFF,
    MAX_BACKOFF,
    DELETE_TIMEOUT,
    LOG_LEVEL,
)


@dataclass(frozen=True, slots=True)
class WatchdogSettings:
    """Everything the watchdog needs; the manifest and `ank` are checked when it starts."""

    mqtt: MqttSettings
    workload: str
    manifest: Path
    ank: str
    max_recreations: int
    backoff: float
    max_backoff: float
    delete_timeout: float
    log_level: str


def build_parser() -> OptionParser:
    """Return the watchdog's command-line parser."""
    parser = OptionParser(
        prog=WATCHDOG_PROG,
        description="Re-create the bridge's Ankaios workload when the bridge says it must stop.",
    )
    add_mqtt_arguments(parser, f"{WATCHDOG_PROG}-<random hex>")
    add_options(parser, WATCHDOG_OWN_OPTIONS)
    return parser


def load_watchdog_settings(
    argv: Sequence[str], environ: Mapping[str, str], client_id: str
) -> WatchdogSettings:
    """Return the watchdog's settings: flag beats environment beats default.

    `client_id` is always the watchdog's own, whatever MQTT_CLIENT_ID says: it reads
    the bridge's broker variables, and a second connection with the bridge's client id
    would disconnect the bridge.
    """
    args = build_parser().parse_args(list(argv))
    mqtt = replace(mqtt_settings(args, environ, client_id, qos=1), client_id=client_id)
    return build(
        WatchdogSettings,
        WATCHDOG_OWN_OPTIONS,
        args,
        environ,
        mqtt=mqtt,
        workload=_required(value(WORKLOAD, args, environ), WORKLOAD),
        manifest=_required(value(MANIFEST, args, environ), MANIFEST),
    )


def _required(given: T | None, option: Declared) -> T:
    if given is None:
        msg = f"{option.names} is required: {option.help}"
        raise ConfigError(msg)
    return given
