"""The topic contract as docs/asyncapi.yaml declares it: which channel a topic is, and its payloads.

The end-to-end tests check every payload they read from a broker here, so the
document cannot drift from what the bridge publishes without a test failing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

DOCUMENT = Path(__file__).resolve().parent.parent.parent / "docs" / "asyncapi.yaml"
# The document's own URI in the schema registry: its payload schemas `$ref` into it.
_BASE = "urn:ankaios-mqtt-bridge:asyncapi"
_CLEARED = "#/components/messages/cleared"
_JSON = "application/json"
_PARAMETER = re.compile(r"\{(\w+)\}")
# JSON keys that repeat a topic level (or the prefix), by channel: the schema cannot
# compare a payload with its topic, so these are checked here.
_ECHOED: dict[str, tuple[str, ...]] = {
    "instanceStatus": ("agent", "workload", "id"),
    "agentStatus": ("agent",),
    "bridgeInfo": ("prefix",),
}


class ContractError(AssertionError):
    """A topic or payload that docs/asyncapi.yaml does not allow."""


@dataclass(frozen=True, slots=True)
class Message:
    """One kind of payload a channel carries, and how to check it."""

    name: str
    is_json: bool
    validator: Draft7Validator


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of the document: its address, its payloads, and whether it is ever cleared."""

    name: str
    address: str
    # Parameters that may be an empty level: those the document gives '' as an example of.
    may_be_empty: frozenset[str]
    messages: tuple[Message, ...]
    clearable: bool

    def match(self, topic: str, prefix: str) -> dict[str, str] | None:
        """Return the parameters `topic` gives this channel's address, or None when it is not one."""
        parts = _PARAMETER.split(self.address)
        pattern = ""
        for index, part in enumerate(parts):
            if index % 2 == 0:
                pattern += re.escape(part)
            elif part == "prefix":
                pattern += re.escape(prefix)
            else:
                level = "[^/]*" if part in self.may_be_empty else "[^/]+"
                pattern += f"(?P<{part}>{level})"
        found = re.fullmatch(pattern, topic)
        return None if found is None else {"prefix": prefix, **found.groupdict()}


def _pointer(document: dict[str, Any], ref: str) -> Any:
    """Return what a local `$ref` (`#/a/b`) points to."""
    target: Any = document
    for token in ref.removeprefix("#/").split("/"):
        target = target[token.replace("~1", "/").replace("~0", "~")]
    return target


@cache
def document() -> dict[str, Any]:
    """Return docs/asyncapi.yaml, parsed once."""
    loaded = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{DOCUMENT} is not a mapping"
    return loaded


@cache
def channels() -> tuple[Channel, ...]:
    """Return the document's channels, each with a validator per payload."""
    spec = document()
    registry: Registry[Any] = Registry().with_resource(
        _BASE, Resource.from_contents(spec, default_specification=DRAFT7)
    )
    found: list[Channel] = []
    for name, channel in spec["channels"].items():
        messages: list[Message] = []
        clearable = False
        for key, message in channel["messages"].items():
            ref = message.get("$ref", f"#/channels/{name}/messages/{key}")
            if ref == _CLEARED:
                clearable = True
                continue
            resolved = _pointer(spec, ref)
            validator = Draft7Validator(
                {"$ref": f"{_BASE}{ref}/payload"}, registry=registry, format_checker=None
            )
            is_json = resolved.get("contentType", spec.get("defaultContentType")) == _JSON
            messages.append(Message(key, is_json, validator))
        empty = set()
        for parameter, value in channel.get("parameters", {}).items():
            resolved = _pointer(spec, value["$ref"]) if "$ref" in value else value
            if "" in resolved.get("examples", ()):
                empty.add(parameter)
        found.append(
            Channel(name, channel["address"], frozenset(empty), tuple(messages), clearable)
        )
    names = {channel.name for channel in found}
    assert set(_ECHOED) <= names, f"{DOCUMENT} lacks the channels {set(_ECHOED) - names}"
    return tuple(found)


def channel_of(topic: str, prefix: str = "ankaios") -> tuple[Channel, dict[str, str]]:
    """Return the one channel `topic` belongs to, with its parameters; ContractError otherwise."""
    matched = [
        (channel, levels)
        for channel in channels()
        if (levels := channel.match(topic, prefix)) is not None
    ]
    if len(matched) != 1:
        names = [channel.name for channel, _ in matched] or "no channel"
        msg = f"{topic}: matches {names} of {DOCUMENT.name} (prefix {prefix!r})"
        raise ContractError(msg)
    return matched[0]


def _decode(message: Message, payload: bytes) -> object:
    """Return the payload as the message's schema sees it; ValueError when it cannot be read."""
    if message.is_json:
        try:
            return json.loads(payload)
        except RecursionError as err:
            msg = "JSON nested too deeply"
            raise ValueError(msg) from err
    return payload.decode()


def validate_payload(topic: str, payload: bytes, prefix: str = "ankaios") -> None:
    """Raise ContractError naming `topic` unless docs/asyncapi.yaml allows `payload` on it.

    A zero-length payload (a clear) is allowed where the channel lists the `cleared`
    message, and not checked further.
    """
    channel, levels = channel_of(topic, prefix)
    if not payload:
        if not channel.clearable:
            msg = f"{topic}: zero-length payload, but channel {channel.name} is never cleared"
            raise ContractError(msg)
        return
    reasons: list[str] = []
    for message in channel.messages:
        try:
            decoded = _decode(message, payload)
        except ValueError as err:
            reasons.append(f"message {message.name!r}: not readable ({err})")
            continue
        error = best_match(message.validator.iter_errors(decoded))
        if error is not None:
            reasons.append(f"message {message.name!r}: {error.message} at {error.json_path}")
            continue
        wrong: list[str] = []
        if isinstance(decoded, dict):
            wrong = [key for key in _ECHOED.get(channel.name, ()) if decoded[key] != levels[key]]
        if not wrong:
            return
        reasons += [
            f"message {message.name!r}: {key} is not the topic's {levels[key]!r}" for key in wrong
        ]
    shown = payload[:200]
    msg = (
        f"{topic}: payload {shown!r} breaks {DOCUMENT.name} ({channel.name}): {'; '.join(reasons)}"
    )
    raise ContractError(msg)


def validated_json(topic: str, payload: bytes, prefix: str = "ankaios") -> Any:
    """Return the JSON document of a payload read from a broker, once it passed validate_payload."""
    validate_payload(topic, payload, prefix)
    return json.loads(payload)
