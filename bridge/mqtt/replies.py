"""The MQTT side of logs on demand: a request arriving, and the replies and lines going out.

A paho per-topic callback turns a message on `<prefix>/$bridge/logs/request`
into LogsAsked with its MQTT 5 Response Topic and Correlation Data, so it never
reaches the mirror; replies and lines are published not retained, the replies
with the request's Correlation Data under MQTT 5.
"""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridge.core.inputs import Input
from bridge.core.loginputs import LogsAsked, Outgoing
from bridge.core.logrequests import request_topic

OnMessage = Callable[[mqtt.Client, object, mqtt.MQTTMessage], None]


def listen(client: mqtt.Client, prefix: str, sink: Callable[[Input], None]) -> None:
    """Hand each logs request to `sink`; never show the mirror a reply or a line.

    Under MQTT 3.1.1 the broker sends the bridge its own replies and lines back: they
    are no topics of the contract, and a reply topic would stay in the mirror's view.
    """
    client.message_callback_add(request_topic(prefix), on_request(sink))
    client.message_callback_add(f"{prefix}/$bridge/logs/reply/#", _ignore)
    client.message_callback_add(f"{prefix}/+/+/+/logs", _ignore)


def _ignore(_client: mqtt.Client, _userdata: object, _message: mqtt.MQTTMessage) -> None:
    return


def on_request(sink: Callable[[Input], None]) -> OnMessage:
    """Return the paho callback that hands each logs request to `sink`."""

    def asked(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        properties = getattr(message, "properties", None)
        topic = getattr(properties, "ResponseTopic", None)
        correlation = getattr(properties, "CorrelationData", None)
        sink(
            LogsAsked(
                bytes(message.payload),
                topic if isinstance(topic, str) and topic else None,
                bytes(correlation) if correlation else None,
            )
        )

    return asked


def send_message(client: mqtt.Client | None, message: Outgoing) -> bool:
    """Publish a reply or a log line, not retained; False when not connected (nothing queued)."""
    if client is None or not client.is_connected():
        return False
    properties = None
    if message.correlation is not None and client.protocol == mqtt.MQTTv5:
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.CorrelationData = message.correlation
    info = client.publish(
        message.topic, message.payload, qos=message.qos, retain=False, properties=properties
    )
    return info.rc == mqtt.MQTT_ERR_SUCCESS
