"""The NATS and RabbitMQ helpers run real brokers, and what each one does for MQTT 3.1.1 clients."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.broker import Mosquitto
from tests.support.brokers import Broker, Nats, mqtt_protocols
from tests.support.mqtt import close, wait_for
from tests.support.mqtt311 import Client311, Received
from tests.support.rabbitmq import RabbitMq
from tests.support.wire import MQTT_5, MQTT_311, connack_code

STATE = "ankaios/hpc1/nginx/1f0c/state"
# The 3.1.1 CONNACK return code "unacceptable protocol version".
_REFUSED_PROTOCOL_VERSION = 1


def _publish_retained(broker: Broker, topic: str, payload: bytes) -> None:
    with Client311(broker.host, broker.port) as publisher:
        publisher.publish(topic, payload, retain=True)


def _retained_for(broker: Broker, *filters: str) -> list[Received]:
    """Return what a new 3.1.1 subscriber to `filters` receives before the marker."""
    with Client311(broker.host, broker.port) as reader:
        assert reader.subscribe(*filters) == [0] * len(filters)
        return reader.settle()


def _paho_mqtt5_connack(broker: Broker) -> ReasonCode | None:
    """Connect with paho as an MQTT 5 client; return the CONNACK's reason, None when closed first."""
    reasons: list[ReasonCode] = []
    closed: list[ReasonCode] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="mqtt5-probe", protocol=mqtt.MQTTv5)
    client.on_connect = lambda _c, _u, _f, reason, _p: reasons.append(reason)
    client.on_disconnect = lambda _c, _u, _f, reason, _p: closed.append(reason)

    def ended() -> bool:
        # Driven here rather than by loop_start: stopping that thread costs its 1 s select.
        client.loop(0.05)
        return bool(closed)

    try:
        client.connect(broker.host, broker.port)
        wait_for(ended, 5.0, "the broker to end the MQTT 5 connection")
    finally:
        close(client)
    return reasons[0] if reasons else None


def test_each_helper_names_the_mqtt_versions_its_broker_speaks() -> None:
    """mqtt_protocols says mosquitto speaks 5 and 3.1.1, NATS and RabbitMQ only 3.1.1."""
    assert mqtt_protocols(Mosquitto()) == (MQTT_5, MQTT_311)
    assert mqtt_protocols(Nats()) == (MQTT_311,)
    assert mqtt_protocols(RabbitMq()) == (MQTT_311,)
    assert [Mosquitto.name, Nats.name, RabbitMq.name] == ["mosquitto", "nats", "rabbitmq"]


def test_nats_retained_message_reaches_a_later_wildcard_subscriber(nats_broker: Nats) -> None:
    """On NATS a retained message reaches a client that subscribes to `ankaios/#` later, flagged retained."""
    _publish_retained(nats_broker, STATE, b"RUNNING")
    assert _retained_for(nats_broker, "ankaios/#") == [
        Received(STATE, b"RUNNING", retain=True, qos=0)
    ]


def test_nats_zero_length_retained_publish_clears(nats_broker: Nats) -> None:
    """On NATS a zero-length retained publish removes the retained message, and is not retained itself."""
    _publish_retained(nats_broker, STATE, b"RUNNING")
    _publish_retained(nats_broker, STATE, b"")
    assert _retained_for(nats_broker, "ankaios/#") == []


def test_nats_topic_with_an_empty_level_works(nats_broker: Nats) -> None:
    """On NATS a retained topic with an empty level (an unscheduled workload) reaches `ankaios/#` and `+`."""
    topic = "ankaios//maps/77ab/state"
    _publish_retained(nats_broker, topic, b"NOT_SCHEDULED")
    expected = [Received(topic, b"NOT_SCHEDULED", retain=True, qos=0)]
    assert _retained_for(nats_broker, "ankaios/#") == expected
    assert _retained_for(nats_broker, "ankaios/+/maps/+/state") == expected


def test_nats_retained_messages_survive_restart(nats_broker: Nats) -> None:
    """NATS restart() keeps the MQTT port and JetStream's store, so retained messages survive."""
    _publish_retained(nats_broker, STATE, b"RUNNING")
    port = nats_broker.port
    nats_broker.restart()
    assert nats_broker.port == port
    assert _retained_for(nats_broker, "ankaios/#") == [
        Received(STATE, b"RUNNING", retain=True, qos=0)
    ]


def test_nats_refuses_an_mqtt5_connect_with_a_connack(nats_broker: Nats) -> None:
    """NATS answers an MQTT 5 CONNECT with a refusing 3.1.1 CONNACK, which paho reports as reason 132."""
    assert connack_code(nats_broker.host, nats_broker.port, MQTT_5) == _REFUSED_PROTOCOL_VERSION
    reason = _paho_mqtt5_connack(nats_broker)
    assert reason is not None
    assert (reason.value, str(reason)) == (132, "Unsupported protocol version")


def test_rabbitmq_sends_retained_messages_only_to_exact_topic_subscribers(
    rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """RabbitMQ sends a retained message to an exact-topic subscriber but to no wildcard one (rabbitmq-server#8096)."""
    topic = f"{unique_prefix}/hpc1/nginx/1f0c/state"
    _publish_retained(rabbitmq_broker, topic, b"RUNNING")
    wildcards = ("ankaios/#", f"{unique_prefix}/#", f"{unique_prefix}/+/nginx/1f0c/state")
    # The day this fails, RabbitMQ serves wildcards: the bridge's 3.1.1 caveats can go.
    assert _retained_for(rabbitmq_broker, *wildcards) == []
    assert _retained_for(rabbitmq_broker, topic) == [
        Received(topic, b"RUNNING", retain=True, qos=0)
    ]


def test_rabbitmq_closes_an_mqtt5_connect_before_any_connack(rabbitmq_broker: RabbitMq) -> None:
    """RabbitMQ 3.10 closes an MQTT 5 connection without a CONNACK, and still accepts 3.1.1."""
    assert connack_code(rabbitmq_broker.host, rabbitmq_broker.port, MQTT_5) is None
    assert _paho_mqtt5_connack(rabbitmq_broker) is None
    assert connack_code(rabbitmq_broker.host, rabbitmq_broker.port, MQTT_311) == 0


def test_rabbitmq_restart_keeps_port_and_retained_messages(
    rabbitmq_broker: RabbitMq, unique_prefix: str
) -> None:
    """RabbitMQ restart() (stop_app, start_app) keeps the MQTT port and the retained messages."""
    topic = f"{unique_prefix}/hpc1/nginx/1f0c/state"
    _publish_retained(rabbitmq_broker, topic, b"RUNNING")
    port = rabbitmq_broker.port
    rabbitmq_broker.restart()
    assert rabbitmq_broker.port == port
    assert _retained_for(rabbitmq_broker, topic) == [
        Received(topic, b"RUNNING", retain=True, qos=0)
    ]


# Slow (a second boot of the Erlang VM, about 8 s) and only a safety net of the
# fixtures: no test kills the node, so it runs with the slow tests.
@pytest.mark.slow
def test_rabbitmq_kill_ends_the_vm_and_ensure_running_brings_the_node_back(
    rabbitmq_broker: RabbitMq,
) -> None:
    """RabbitMQ kill() SIGKILLs the node's VM; ensure_running() (run after every such test) starts it again."""
    beam = rabbitmq_broker.beam_pid()
    assert beam is not None
    rabbitmq_broker.kill()
    assert not Path(f"/proc/{beam}").exists()
    with pytest.raises(ConnectionRefusedError):
        connack_code(rabbitmq_broker.host, rabbitmq_broker.port)
    rabbitmq_broker.ensure_running()
    assert connack_code(rabbitmq_broker.host, rabbitmq_broker.port) == 0


def _publish_all_retained(broker: Broker, topics: list[str]) -> None:
    with Client311(broker.host, broker.port) as publisher:
        for topic in topics:
            publisher.publish(topic, b"RUNNING", retain=True)


@pytest.mark.parametrize("fixture", ["broker", "nats_broker", "rabbitmq_broker"])
def test_a_retained_burst_arrives_before_the_unsuback_of_a_later_unsubscribe(
    fixture: str, request: pytest.FixtureRequest, unique_prefix: str
) -> None:
    """Each broker sends a QoS 0 SUBSCRIBE's whole retained burst before answering a later UNSUBSCRIBE."""
    broker: Broker = request.getfixturevalue(fixture)
    topics = [f"{unique_prefix}/agent{number}/nginx/1f0c/state" for number in range(200)]
    _publish_all_retained(broker, topics)
    # RabbitMQ serves retained messages to exact filters only.
    filters = topics if fixture == "rabbitmq_broker" else [f"{unique_prefix}/#"]
    for _ in range(3):
        with Client311(broker.host, broker.port) as reader:
            assert reader.subscribe(*filters) == [0] * len(filters)
            assert sorted(message.topic for message in reader.settle()) == sorted(topics)


def test_mosquitto_sends_only_its_inflight_window_of_a_qos1_burst_before_the_unsuback(
    broker: Mosquitto, unique_prefix: str
) -> None:
    """Under QoS 1 mosquitto sends 20 retained messages (max_inflight_messages) before a later UNSUBACK, the rest after."""
    topics = [f"{unique_prefix}/agent{number}/nginx/1f0c/state" for number in range(50)]
    _publish_all_retained(broker, topics)
    with Client311(broker.host, broker.port) as reader:
        assert reader.subscribe(f"{unique_prefix}/#", qos=1) == [1]
        assert len(reader.settle()) == 20
        wait_for(lambda: len(reader.messages) == 50, 5.0, "the rest of the burst")
