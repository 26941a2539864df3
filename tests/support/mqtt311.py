"""A recording test client of either MQTT version, with the UNSUBACK marker that ends a retained burst."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.mqtt import close, wait_for


@dataclass(frozen=True, slots=True)
class Received:
    """One message as the client saw it."""

    topic: str
    payload: bytes
    retain: bool
    qos: int


VERSIONS = {"5": mqtt.MQTTv5, "3.1.1": mqtt.MQTTv311}


class Client311:
    """A paho client (MQTT 3.1.1 unless told) that records messages and acknowledgements in order.

    A broker answers one connection's packets in order, so the retained burst a SUBSCRIBE
    triggers arrives before the UNSUBACK of an UNSUBSCRIBE sent after it: `settle()` uses
    that to assert "never arrives" without sleeping. It holds for QoS 0 subscriptions on
    mosquitto, NATS and RabbitMQ (tests/test_broker_helpers.py). Under QoS 1 a broker may
    hold back what exceeds its in-flight window: mosquitto sends 20 (max_inflight_messages)
    before the UNSUBACK and the rest as PUBACKs come back, hence subscriptions default to QoS 0.
    Unlike the Watcher's published marker, it needs neither publish permission nor MQTT 5.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        will: tuple[str, bytes] | None = None,
        timeout: float = 5.0,
        version: str = "3.1.1",
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._lock = threading.Lock()
        self._messages: list[Received] = []
        self._subacks: dict[int, list[int]] = {}
        self._unsubacks: dict[int, int] = {}
        self._connack: list[ReasonCode] = []
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"t311-{uuid.uuid4().hex[:16]}",
            protocol=VERSIONS[version],
        )
        if will is not None:
            self._client.will_set(will[0], will[1], qos=1, retain=False)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe

    def __enter__(self) -> Client311:
        try:
            self._client.connect(self.host, self.port)
            self._client.loop_start()
            wait_for(lambda: bool(self._connack), self.timeout, "the CONNACK")
        except BaseException:
            close(self._client)
            raise
        if self._connack[0].is_failure:
            close(self._client)
            msg = f"connection refused: {self._connack[0]}"
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

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, as a crashed client would (its will fires)."""
        close(self._client)

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason: ReasonCode,
        _props: object,
    ) -> None:
        self._connack.append(reason)

    def _on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._messages.append(
                Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos)
            )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _props: object,
    ) -> None:
        with self._lock:
            self._subacks[mid] = [reason.value for reason in reasons]

    def _on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reasons: list[ReasonCode],
        _props: object,
    ) -> None:
        with self._lock:
            self._unsubacks[mid] = len(self._messages)

    @property
    def messages(self) -> list[Received]:
        """Every message so far, in arrival order."""
        with self._lock:
            return list(self._messages)

    def subscribe(self, *filters: str, qos: int = 0) -> list[int]:
        """Subscribe to `filters` in one SUBSCRIBE; return the granted QoS per filter (0x80: refused)."""
        _result, mid = self._client.subscribe([(topic_filter, qos) for topic_filter in filters])
        assert mid is not None
        wait_for(lambda: mid in self._subacks, self.timeout, f"the SUBACK for {filters}")
        return self._subacks[mid]

    def settle(self) -> list[Received]:
        """Return every message that arrived before the UNSUBACK of a filter never subscribed.

        Everything the broker owed this connection for earlier packets (a retained burst,
        an echo of an acknowledged publish) is in the list; what is missing never comes.
        """
        _result, mid = self._client.unsubscribe(f"test-never/{uuid.uuid4().hex}")
        assert mid is not None
        wait_for(lambda: mid in self._unsubacks, self.timeout, "the marker's UNSUBACK")
        with self._lock:
            return self._messages[: self._unsubacks[mid]]

    def publish(
        self, topic: str, payload: bytes, *, retain: bool = False, qos: int = 1, wait: bool = True
    ) -> None:
        """Publish one message; with `wait`, return once the broker acknowledged it (QoS 1)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if wait:
            info.wait_for_publish(self.timeout)
            if not info.is_published():
                msg = f"no PUBACK for {topic} within {self.timeout} s"
                raise AssertionError(msg)
