"""The state model: execution states, the instance record and its payloads both ways (pure)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
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
# What a `state` payload may say.
STATE_NAMES = frozenset((*STATES, UNKNOWN))


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
    """A `status` payload as a reader takes it."""

    state: str
    substate: str
    since: datetime
    # Older bridges send no `additionalInfo`: the same as none.
    additional_info: str = ""


def decode_state(payload: bytes) -> str | None:
    """Return the state name of a `state` payload, or None for garbage."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return None
    return text if text in STATE_NAMES else None


def decode_status(payload: bytes) -> DecodedStatus | None:
    """Return the parsed `status` payload, or None for garbage."""
    document = _document(payload)
    if document is None:
        return None
    state, substate = document.get("state"), document.get("substate")
    info = document.get("additionalInfo", "")
    if not (isinstance(state, str) and isinstance(substate, str) and isinstance(info, str)):
        return None
    if state not in STATE_NAMES:
        return None
    if substate != UNKNOWN and substate not in SUBSTATES.get(state, ()):
        return None
    since = parse_since(document.get("since"))
    return None if since is None else DecodedStatus(state, substate, since, info)


def parse_since(text: object) -> datetime | None:
    """Return an ISO-8601 time with a time zone, or None."""
    if not isinstance(text, str):
        return None
    try:
        since = datetime.fromisoformat(text)
    except ValueError:
        return None
    return since if since.tzinfo is not None else None


def retained_since(payload: bytes | None, **shows: str) -> str | None:
    """Return the `since` of a retained document whose fields equal `shows`, else None.

    A restarted bridge keeps the time an instance's state or an agent was first
    seen (from its retained `status`), not its own start.
    """
    document = _document(payload) if payload else None
    if document is None:
        return None
    since = document.get("since")
    if not isinstance(since, str) or not is_since(since):
        return None
    if any(document.get(name) != value for name, value in shows.items()):
        return None
    return since


def _document(payload: bytes) -> dict[str, object] | None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        return None
    try:
        document = json.loads(payload)
    except (ValueError, RecursionError):
        # Anyone who may write under the prefix can publish deeply nested JSON or
        # numbers too long to convert: not a document, never a crash.
        return None
    return document if isinstance(document, dict) else None
