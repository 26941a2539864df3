"""A logs requester as an operator's client would be: it asks, and collects replies and lines."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.support.contract import ContractError, validate_payload
from tests.support.mqtt import close, wait_for


@dataclass(frozen=True)
class Got:
    """One message the requester received; `correlation` is its MQTT 5 Correlation Data."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    correlation: bytes | None


class LogRequester:
    """An MQTT client (version "5" or "3.1.1") subscribed to its reply topic and `lines`."""

    def __init__(
        self,
        host: str,
        port: int,
        version: str,
        lines: str | None = None,
        prefix: str = "ankaios",
    ) -> None:
        self.host, self.port, self.version, self.prefix = host, port, version, prefix
        self.request_topic = f"{prefix}/$bridge/logs/request"
        self.reply_topic = f"{prefix}/$bridge/logs/reply/{uuid.uuid4().hex}"
        self.lines_filter = lines or f"{prefix}/+/+/+/logs"
        self.got: list[Got] = []
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"logs-{uuid.uuid4().hex}", protocol=protocol
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message

    def __enter__(self) -> LogRequester:
        self.client.connect(self.host, self.port)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            close(self.client)
            msg = "the requester was never subscribed"
            raise AssertionError(msg)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.client.disconnect()
        close(self.client)

    def _on_connect(self, client: mqtt.Client, *_: object) -> None:
        client.subscribe([(self.reply_topic, 1), (self.lines_filter, 0)])

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        properties = getattr(msg, "properties", None)
        correlation = getattr(properties, "CorrelationData", None)
        got = Got(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, correlation)
        with self._lock:
            self.got.append(got)
            # Every reply and line must be what docs/asyncapi.yaml declares.
            try:
                validate_payload(got.topic, got.payload, self.prefix)
            except ContractError as err:
                self.violations.append(str(err))

    def ask(self, correlation: str | None = None, **fields: Any) -> None:
        """Publish a request: under MQTT 5 with Response Topic and Correlation Data."""
        document = dict(fields)
        properties = None
        if self.version == "5":
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.ResponseTopic = self.reply_topic
            if correlation is not None:
                properties.CorrelationData = correlation.encode()
        else:
            document.setdefault("replyTo", self.reply_topic)
        if correlation is not None:
            document["correlation"] = correlation
        self.raw(json.dumps(document).encode(), properties)

    def raw(self, payload: bytes, properties: Properties | None = None) -> None:
        """Publish `payload` to the request topic as it is."""
        sent = self.client.publish(self.request_topic, payload, qos=1, properties=properties)
        sent.wait_for_publish(5)

    def replies(self) -> list[dict[str, Any]]:
        """Return the replies so far, decoded."""
        with self._lock:
            assert not self.violations, self.violations
            return [json.loads(g.payload) for g in self.got if g.topic == self.reply_topic]

    def reply_messages(self) -> list[Got]:
        """Return the replies so far as they arrived."""
        with self._lock:
            return [g for g in self.got if g.topic == self.reply_topic]

    def lines(self, topic: str | None = None) -> list[str]:
        """Return the log lines so far (of one topic), in order."""
        with self._lock:
            assert not self.violations, self.violations
            return [
                g.payload.decode()
                for g in self.got
                if g.topic != self.reply_topic and (topic is None or g.topic == topic)
            ]

    def wait_replies(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Wait until `count` replies arrived; return them."""
        wait_for(
            lambda: len(self.replies()) >= count, timeout, f"{count} replies ({self.replies()})"
        )
        return self.replies()

    def wait_lines(self, count: int, timeout: float = 5.0) -> list[str]:
        """Wait until `count` log lines arrived; return them."""
        wait_for(lambda: len(self.lines()) >= count, timeout, f"{count} lines ({self.lines()})")
        return self.lines()
