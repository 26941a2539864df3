"""A logs request from MQTT: its JSON payload read and checked, and the replies' payloads (pure).

The request topic is `<prefix>/$bridge/logs/request`. The reply topic is the MQTT 5
Response Topic when there is one, else the payload's `replyTo`; the correlation
is echoed in every reply's payload, and a Correlation Data property as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.core.loginputs import LogsAsked
from bridge.core.topics import InstanceKey, bridge_topic

# Ankaios names: ALLOWED_CHAR_SET, at most 63 characters (upstream ankaios_api/src/lib.rs).
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_ID = re.compile(r"^[0-9A-Za-z]{1,128}$")
_MAX_PAYLOAD = 4096
_MAX_CORRELATION = 256
_LONGEST_FOLLOW = 1e9
_KEYS = ("workload", "agent", "id", "tail", "follow", "since", "replyTo", "correlation")
ACCEPTED_KEYS = ", ".join(_KEYS)


def request_topic(prefix: str) -> str:
    """Return the topic logs requests are published to."""
    return bridge_topic(prefix, "logs/request")


def logs_topic(prefix: str, key: InstanceKey) -> str:
    """Return the topic an instance's log lines go to (not retained)."""
    return f"{prefix}/{key.agent}/{key.workload}/{key.instance_id}/logs"


@dataclass(frozen=True, slots=True)
class ReplyTo:
    """Where the replies to one request go, and what they echo."""

    topic: str
    correlation: str | None = None
    correlation_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Ask:
    """A valid logs request: which instances, how much of their log, where to reply."""

    reply: ReplyTo
    workload: str
    agent: str | None = None
    instance_id: str | None = None
    tail: int | None = None
    follow: float = 0.0
    since: str | None = None

    def instances(self, known: Iterable[InstanceKey]) -> tuple[InstanceKey, ...]:
        """Return the scheduled instances of `known` this request names, sorted."""
        return tuple(
            sorted(
                key
                for key in known
                if key.workload == self.workload
                and key.agent  # not scheduled: no agent has its log
                and self.agent in (None, key.agent)
                and self.instance_id in (None, key.instance_id)
            )
        )


@dataclass(frozen=True, slots=True)
class Cancel:
    """`{"cancel": <correlation>}`: end the streams of that correlation early."""

    correlation: str
    reply: ReplyTo | None


@dataclass(frozen=True, slots=True)
class Malformed:
    """A request the bridge cannot serve; `reply` None when it named no reply topic either."""

    reason: str
    reply: ReplyTo | None


Parsed = Ask | Cancel | Malformed


class _BadRequestError(Exception):
    pass


def parse_request(asked: LogsAsked) -> Parsed:
    """Return what a message on the request topic asks for."""
    document: object = None
    if len(asked.payload) > _MAX_PAYLOAD:
        reason = f"the request has {len(asked.payload)} bytes; at most {_MAX_PAYLOAD} are accepted"
    else:
        try:
            document = json.loads(asked.payload.decode("utf-8"))
            reason = "" if isinstance(document, dict) else "the request is not a JSON object"
        except (UnicodeDecodeError, ValueError):
            reason = "the request is not JSON (a UTF-8 JSON object is accepted)"
    fields = document if isinstance(document, dict) else {}
    try:
        reply = _reply(asked, fields)
    except _BadRequestError as err:
        return Malformed(str(err), None)
    if reason:
        return Malformed(reason, reply)
    try:
        if "cancel" in fields:
            return Cancel(_text(fields, "cancel", _MAX_CORRELATION, required=True) or "", reply)
        if reply is None:
            return Malformed("the request names no reply topic (replyTo)", None)
        return _ask(fields, reply)
    except _BadRequestError as err:
        return Malformed(str(err), reply)


def _ask(fields: dict[str, object], reply: ReplyTo) -> Ask:
    unknown = sorted(set(fields) - set(_KEYS))
    if unknown:
        msg = f"unknown key {unknown[0]!r}; accepted keys: {ACCEPTED_KEYS}, or cancel"
        raise _BadRequestError(msg)
    workload = _name(fields, "workload", required=True)
    assert workload is not None  # noqa: S101 - required
    instance_id = _text(fields, "id", 128)
    if instance_id is not None and not _ID.match(instance_id):
        raise _BadRequestError(f"id {instance_id!r} is not an Ankaios instance id")
    tail = _whole(fields, "tail")
    follow = fields.get("follow", 0)
    if (
        isinstance(follow, bool)
        or not isinstance(follow, int | float)
        or not 0 <= follow < _LONGEST_FOLLOW
    ):
        raise _BadRequestError(
            f"follow {follow!r} is not accepted; seconds >= 0 are (0: no follow)"
        )
    return Ask(
        reply, workload, _name(fields, "agent"), instance_id, tail, float(follow), _since(fields)
    )


def _reply(asked: LogsAsked, fields: dict[str, object]) -> ReplyTo | None:
    correlation = _text(fields, "correlation", _MAX_CORRELATION)
    topic = asked.response_topic or _text(fields, "replyTo", 1024)
    if topic is None:
        return None
    if any(char in topic for char in "+#\x00"):
        raise _BadRequestError(f"reply topic {topic!r} has a wildcard or NUL")
    return ReplyTo(topic, correlation, asked.correlation_data)


def _text(
    fields: dict[str, object], key: str, longest: int, *, required: bool = False
) -> str | None:
    value = fields.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > longest:
        msg = f"{key} must be a string of 1 to {longest} characters"
        raise _BadRequestError(msg)
    return value


def _name(fields: dict[str, object], key: str, *, required: bool = False) -> str | None:
    value = _text(fields, key, 63, required=required)
    if value is not None and not _NAME.match(value):
        msg = f"{key} {value!r} is not an Ankaios name (letters, digits, '_' and '-')"
        raise _BadRequestError(msg)
    return value


def _whole(fields: dict[str, object], key: str) -> int | None:
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise _BadRequestError(f"{key} {value!r} is not accepted; a whole number >= 0 is")
    return value


def _since(fields: dict[str, object]) -> str | None:
    value = _text(fields, "since", 64)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        msg = f"since {value!r} is not an ISO-8601 time (e.g. 2026-11-28T02:10:00Z)"
        raise _BadRequestError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # What podman logs --since takes: RFC 3339.
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def instance_document(key: InstanceKey) -> dict[str, str]:
    """Return an instance as replies name it."""
    return {"agent": key.agent, "workload": key.workload, "id": key.instance_id}


def reply_payload(reply: ReplyTo, event: str, **fields: object) -> bytes:
    """Return a reply's JSON payload, carrying the request's correlation when it had one."""
    document: dict[str, object] = {"event": event, **fields}
    if reply.correlation is not None:
        document["correlation"] = reply.correlation
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
