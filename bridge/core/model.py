"""The state model: execution states, instance records and their MQTT payloads (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from bridge.core.topics import InstanceKey

UNKNOWN = "UNKNOWN"
# Additional info longer than this many characters is cut and ends in an ellipsis:
# upstream puts whole error outputs there, and subscribers want the gist.
MAX_INFO_CHARS = 1000
_ELLIPSIS = "\u2026"
# A status document is at most about 12 KB (1,000 characters of additional info that
# JSON escapes), an agent's far less; a larger payload is not one a bridge wrote.
MAX_PAYLOAD_BYTES = 16384

# Execution states and sub-states by the names the ankaios-sdk gives them; the
# protobuf enum value names in ank_base.proto are the same strings.
SUBSTATES: dict[str, tuple[str, ...]] = {
    "AGENT_DISCONNECTED": ("AGENT_DISCONNECTED",),
    "PENDING": (
        "PENDING_INITIAL",
        "PENDING_WAITING_TO_START",
        "PENDING_STARTING",
        "PENDING_STARTING_FAILED",
    ),
    "RUNNING": ("RUNNING_OK",),
    "STOPPING": (
        "STOPPING",
        "STOPPING_WAITING_TO_STOP",
        "STOPPING_REQUESTED_AT_RUNTIME",
        "STOPPING_DELETE_FAILED",
    ),
    "SUCCEEDED": ("SUCCEEDED_OK",),
    "FAILED": ("FAILED_EXEC_FAILED", "FAILED_UNKNOWN", "FAILED_LOST"),
    "NOT_SCHEDULED": ("NOT_SCHEDULED",),
    "REMOVED": ("REMOVED",),
}
STATES: tuple[str, ...] = tuple(SUBSTATES)


class ExecutionState(NamedTuple):
    """An execution state and its sub-state as Ankaios reports them (names may be UNKNOWN).

    A NamedTuple for the same reason as InstanceKey: compared on every change.
    """

    state: str
    substate: str


@dataclass(frozen=True, slots=True)
class InstanceStatus:
    """What the bridge publishes for one instance: its execution state and since when."""

    key: InstanceKey
    execution: ExecutionState
    since: str
    # The text Ankaios attaches to the execution state (why starting failed), clipped.
    info: str = ""


def clip_info(text: str) -> str:
    """Return additional info cut to MAX_INFO_CHARS characters, ending in `…` when cut."""
    if len(text) <= MAX_INFO_CHARS:
        return text
    return text[: MAX_INFO_CHARS - 1] + _ELLIPSIS


def format_since(moment: datetime) -> str:
    """Return `moment` as UTC ISO-8601 with millisecond precision ending in `Z`."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


_PLAIN = re.compile(r"[A-Za-z0-9_.:-]*")
_STATUS_KEYS = ("state", "substate", "additionalInfo", "agent", "workload", "id", "since")
# additionalInfo goes in as a ready JSON string: it is free text.
_STATUS_TEMPLATE = (
    "{{"
    + ",".join(
        f'"{name}":{{}}' if name == "additionalInfo" else f'"{name}":"{{}}"'
        for name in _STATUS_KEYS
    )
    + "}}"
)
_SINCE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def is_since(text: str) -> bool:
    """Return whether `text` is a UTC ISO-8601 time ending in `Z`."""
    return _SINCE.fullmatch(text) is not None


def encode_state(status: InstanceStatus) -> bytes:
    """Return the payload of the `state` topic: the bare execution state name."""
    return status.execution.state.encode()


def encode_status(status: InstanceStatus) -> bytes:
    """Return the payload of the `status` topic: a compact JSON document."""
    key, execution = status.key, status.execution
    names = (execution.state, execution.substate, key.agent, key.workload, key.instance_id)
    if _PLAIN.fullmatch("".join(names)) and _PLAIN.fullmatch(status.since):
        # Ankaios names are [a-zA-Z0-9_-]: nothing to escape, and formatting is
        # four times faster than json.dumps on the 10,000-instance sync path.
        info = json.dumps(status.info, ensure_ascii=False) if status.info else '""'
        return _STATUS_TEMPLATE.format(*names[:2], info, *names[2:], status.since).encode()
    values = (*names[:2], status.info, *names[2:], status.since)
    document = dict(zip(_STATUS_KEYS, values, strict=True))
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class DecodedStatus:
    """The fields of a `status` payload that a reader relies on."""

    state: str
    substate: str
    since: str


def decode_status(payload: bytes) -> DecodedStatus | None:
    """Return the parsed `status` payload, or None when it is not one."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        # Anyone who may write under the prefix can publish deeply nested JSON or
        # numbers too long to convert: not a status, never a crash.
        return None
    if not isinstance(document, dict):
        return None
    fields = (document.get("state"), document.get("substate"), document.get("since"))
    if not all(isinstance(value, str) for value in fields):
        return None
    state, substate, since = fields
    return DecodedStatus(str(state), str(substate), str(since))
