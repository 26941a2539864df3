"""The options of workload logs on demand (`--logs` and its limits), and `LogsSettings` (pure).

Logs are off by default: a workload's output can hold secrets and personal data,
so an operator turns them on knowingly (and grants the bridge a LogRule).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.settings.options import Declared, Option, boolean, integer, number

LOGS = Option(
    "--logs",
    "LOGS",
    False,  # noqa: FBT003
    boolean,
    "serve workload logs on request over MQTT (off: a request is refused)",
    switch=True,
    setting="enabled",
)
LOGS_MAX_STREAMS = Option(
    "--logs-max-streams",
    "LOGS_MAX_STREAMS",
    4,
    integer(1, 64),
    "log requests served at once; one more is refused",
    setting="max_streams",
)
LOGS_MAX_FOLLOW = Option(
    "--logs-max-follow",
    "LOGS_MAX_FOLLOW",
    300.0,
    number(1),
    "seconds a log request may follow a workload at most (a longer follow is cut to it)",
    setting="max_follow",
)
LOGS_MAX_RATE = Option(
    "--logs-max-rate",
    "LOGS_MAX_RATE",
    100,
    integer(1),
    "log lines per second published per request; the rest are counted in a dropped line",
    setting="max_rate",
)
LOGS_MAX_LINE = Option(
    "--logs-max-line",
    "LOGS_MAX_LINE",
    4096,
    integer(16),
    "characters of one log line; a longer one is cut, ending in …",
    setting="max_line",
)
LOGS_OPTIONS: tuple[Declared, ...] = (
    LOGS,
    LOGS_MAX_STREAMS,
    LOGS_MAX_FOLLOW,
    LOGS_MAX_RATE,
    LOGS_MAX_LINE,
)


@dataclass(frozen=True, slots=True)
class LogsSettings:
    """Whether the bridge serves logs, and the bounds of what it serves."""

    enabled: bool = False
    max_streams: int = 4
    max_follow: float = 300.0
    max_rate: int = 100
    max_line: int = 4096
