"""Test-side MQTT helpers: read the retained tree, watch topics, wait on conditions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions


def wait_for(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.01)


def close(client: mqtt.Client) -> None:
    """Stop the client's network thread and close its sockets now, not at garbage collection.

    A socket left to the collector is reported as unraisable, which fails whichever
    test happens to be running then.
    """
    client.loop_stop()
    sock = client.socket()
    if sock is not None:
        sock.close()
    reset = getattr(client, "_reset_sockets", None)
    if callable(reset):
        reset()


class Watcher:
    """A subscriber that mirrors the retained tree under a filter as a live dict.

    Only retained publishes count (MQTT 5 Retain As Published); an empty payload
    removes the topic, exactly as a retained clear does for a new subscriber.
    `messages` keeps every message in arrival order.
    """

    def __init__(self, host: str, port: int, topic_filter: str = "ankaios/#") -> None:
        self.host = host
        self.port = port
        self.topic_filter = topic_filter
        self.tree: dict[str, bytes] = {}
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._marker = f"test-marker/{uuid.uuid4().hex}"
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex}", protocol=mqtt.MQTTv5
        )
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def __enter__(self) -> Watcher:
        try:
            self._client.connect(self.host, self.port)
            self._client.loop_start()
            ready = self._ready.wait(10)
        except BaseException:
            # A connect that fails half-way (a broker restarting) keeps its socket.
            close(self._client)
            raise
        if not ready:
            close(self._client)
            msg = "the watcher never saw the end of the retained burst"
            raise AssertionError(msg)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._client.disconnect()
        close(self._client)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: object,
        _rc: ReasonCode,
        _props: object,
    ) -> None:
        # Retain As Published: the tree mirrors only retained publishes and clears.
        options = SubscribeOptions(qos=0, retainAsPublished=True)
        client.subscribe([(self.topic_filter, options), (self._marker, SubscribeOptions(qos=0))])
        # Messages on one connection arrive in order: once the marker is back, the
        # retained burst of the filter has arrived.
        client.publish(self._marker, b"x")

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self._marker:
            self._ready.set()
            return
        with self._lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            if not msg.retain:
                return
            if msg.payload:
                self.tree[msg.topic] = bytes(msg.payload)
            else:
                self.tree.pop(msg.topic, None)

    def snapshot(self) -> dict[str, bytes]:
        """Return a copy of the mirrored tree."""
        with self._lock:
            return dict(self.tree)

    def wait_tree(
        self, expected: Callable[[dict[str, bytes]], bool] | dict[str, bytes], timeout: float = 5.0
    ) -> dict[str, bytes]:
        """Wait until the tree equals `expected` (or satisfies it) and return the tree."""
        check = expected if callable(expected) else (lambda tree: tree == expected)
        try:
            wait_for(lambda: check(self.snapshot()), timeout, "the retained tree")
        except AssertionError:
            shown = expected if not callable(expected) else "a condition"
            msg = f"retained tree {self.snapshot()!r} never became {shown!r}"
            # A predicate that checks the topic contract says what broke it.
            violation = getattr(expected, "violation", None)
            if violation:
                msg += f"; the last tree broke the contract: {violation}"
            raise AssertionError(msg) from None
        return self.snapshot()


def read_retained(host: str, port: int, topic_filter: str = "ankaios/#") -> dict[str, bytes]:
    """Return what a brand-new subscriber receives as retained under `topic_filter`."""
    with Watcher(host, port, topic_filter) as watcher:
        return watcher.snapshot()


def publish(
    host: str, port: int, topic: str, payload: bytes, *, retain: bool = True, qos: int = 1
) -> None:
    """Publish one message as an unrelated client and wait until the broker has it."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex}")
    try:
        client.connect(host, port)
        client.loop_start()
        client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)
    finally:
        client.disconnect()
        close(client)
