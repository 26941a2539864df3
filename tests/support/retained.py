"""What a brand-new subscriber of any MQTT version sees as retained: the broker matrix's reader.

`tests.support.mqtt.Watcher` needs MQTT 5 (Retain As Published). These speak 5 or
3.1.1 and keep only the messages a broker sends because of a new subscription
(the retain flag is set on those under either version). Against a broker that
sends no retained messages to wildcard subscriptions (RabbitMQ) give the exact topics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tests.support.mqtt import wait_for
from tests.support.mqtt311 import Client311, Received


def read_tree(
    host: str, port: int, filters: Iterable[str], version: str = "3.1.1"
) -> dict[str, bytes]:
    """Return the retained messages a new subscriber of `filters` gets (clears never show)."""
    with Client311(host, port, version=version) as client:
        client.subscribe(*filters)
        burst = client.settle()
    return {message.topic: message.payload for message in burst if message.retain}


def wait_retained(
    read: Callable[[], dict[str, bytes]],
    check: Callable[[dict[str, bytes]], bool],
    timeout: float = 5.0,
) -> dict[str, bytes]:
    """Read the retained tree with fresh subscribers until `check` holds; return it."""
    last: dict[str, bytes] = {}

    def holds() -> bool:
        nonlocal last
        try:
            last = read()
        except (OSError, AssertionError):
            return False
        return check(last)

    try:
        wait_for(holds, timeout, "the retained tree")
    except AssertionError:
        msg = f"retained tree {last!r} never matched"
        # A predicate that checks the topic contract (expect.TreeCheck) says what broke it.
        violation = getattr(check, "violation", None)
        if violation:
            msg += f"; the last tree broke the contract: {violation}"
        raise AssertionError(msg) from None
    return last


def publish_as(
    host: str, port: int, version: str, topic: str, payload: bytes, *, retain: bool = True
) -> None:
    """Publish one message (QoS 1) as an unrelated client of MQTT `version`; wait for the PUBACK."""
    with Client311(host, port, version=version) as client:
        client.publish(topic, payload, retain=retain)


def payloads(messages: list[Received], topic: str, since: int = 0) -> list[bytes]:
    """Return the payloads on `topic` among `messages[since:]`, in arrival order."""
    return [message.payload for message in messages[since:] if message.topic == topic]
