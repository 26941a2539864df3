"""What a brand-new subscriber of any MQTT version sees as retained: the broker matrix's reader.

`tests.support.mqtt.Watcher` needs MQTT 5 (Retain As Published). This reader
speaks 5 or 3.1.1 and keeps only the messages the broker sends because of the new
subscription (retain flag set under either version). Against a broker that sends
no retained messages to wildcard subscriptions (RabbitMQ) it subscribes to each
exact topic it is given.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt import close, wait_for

VERSIONS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


def read_tree(
    host: str, port: int, filters: Iterable[str], version: str = "3.1.1", timeout: float = 10.0
) -> dict[str, bytes]:
    """Return the retained messages a new subscriber of `filters` gets (clears never show)."""
    tree: dict[str, bytes] = {}
    done = threading.Event()
    wanted = list(filters)
    # The broker answers one connection's packets in order: the UNSUBACK of a filter
    # never subscribed comes after every retained message of the SUBSCRIBE before it.
    end = f"test-end/{uuid.uuid4().hex}"
    lock = threading.Lock()
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"read-{uuid.uuid4().hex[:12]}",
        protocol=VERSIONS[version],
    )
    marker: list[int | None] = []

    def on_connect(c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            return
        c.subscribe([(topic, 0) for topic in wanted])
        marker.append(c.unsubscribe(end)[1])

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            with lock:
                tree[msg.topic] = bytes(msg.payload)

    def on_unsubscribe(_c: mqtt.Client, _u: object, mid: int, _r: object, _p: object) -> None:
        if marker and mid == marker[0]:
            done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.on_unsubscribe = on_unsubscribe
    try:
        client.connect(host, port)
        client.loop_start()
        if not done.wait(timeout):
            msg = f"no end of the retained burst of {wanted} from {host}:{port}"
            raise AssertionError(msg)
    finally:
        client.disconnect()
        close(client)
    with lock:
        return dict(tree)


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
        raise AssertionError(msg) from None
    return last


def publish_as(
    host: str, port: int, version: str, topic: str, payload: bytes, *, retain: bool = True
) -> None:
    """Publish one message (QoS 1) as an unrelated client of MQTT `version`; wait for the PUBACK."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"pub-{uuid.uuid4().hex[:12]}",
        protocol=VERSIONS[version],
    )
    try:
        client.connect(host, port)
        client.loop_start()
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        close(client)


class LiveLog:
    """A subscriber of any MQTT version that keeps every message under a filter, in order."""

    def __init__(self, host: str, port: int, topic_filter: str, version: str) -> None:
        self.host = host
        self.port = port
        self.topic_filter = topic_filter
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"log-{uuid.uuid4().hex[:12]}",
            protocol=VERSIONS[version],
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def __enter__(self) -> LiveLog:
        try:
            self._client.connect(self.host, self.port)
            self._client.loop_start()
            subscribed = self._subscribed.wait(10)
        except BaseException:
            close(self._client)
            raise
        if not subscribed:
            close(self._client)
            msg = f"no SUBACK for {self.topic_filter}"
            raise AssertionError(msg)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._client.disconnect()
        close(self._client)

    def _on_connect(self, c: mqtt.Client, _u: object, _f: object, _rc: object, _p: object) -> None:
        c.subscribe(self.topic_filter, qos=0)

    def _on_subscribe(self, _c: mqtt.Client, _u: object, _mid: int, _r: object, _p: object) -> None:
        self._subscribed.set()

    def _on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def mark(self) -> int:
        """Return a mark: `on(topic, since=mark)` shows only what arrives after now."""
        with self._lock:
            return len(self.messages)

    def on(self, topic: str, since: int = 0) -> list[bytes]:
        """Return every payload seen on `topic` so far (after mark `since`), in order."""
        with self._lock:
            return [payload for seen, payload in self.messages[since:] if seen == topic]
