"""The mirror under MQTT 3.1.1: its own publishes come back live, and so does anyone else's."""

from __future__ import annotations

from bridge.core.echoes import Echoes
from bridge.core.inputs import AnkaiosLink, BrokerConnected, BrokerMessage, BrokerSynced, Changes
from bridge.core.inputs import Snapshot as SnapshotInput
from bridge.core.mirror import Mirror
from bridge.core.topics import Publish
from tests.test_mirror import FAILED, LINK, NGINX, RUNNING, STATUS, T0, T1, feed, leaves, new_mirror


def running_311() -> tuple[Mirror, list[tuple[str, bytes]]]:
    """Return a mirror synced over MQTT 3.1.1 with nginx running, and what it published."""
    mirror = new_mirror()
    published = feed(
        mirror,
        BrokerConnected(1, "3.1.1"),
        BrokerSynced(1),
        SnapshotInput({NGINX: RUNNING}),
        AnkaiosLink(connected=True),
        info=True,
    )
    return mirror, published


def echoes_of(published: list[tuple[str, bytes]]) -> list[BrokerMessage]:
    """Return the live messages a 3.1.1 broker sends the bridge for its own publishes."""
    return [BrokerMessage(topic, payload, retain=False) for topic, payload in published]


def test_own_echoes_arriving_late_publish_nothing() -> None:
    """Echoes of a state that has changed since are recognised: no republish, no loop."""
    mirror, published = running_311()
    failed = feed(mirror, Changes({NGINX: FAILED}, frozenset()), now=T1, info=True)
    back = feed(mirror, Changes({NGINX: RUNNING}, frozenset()), now=T1, info=True)
    # Every echo arrives after the last change: the first ones disagree with the truth.
    assert feed(mirror, *echoes_of([*published, *failed, *back]), info=True) == []


def test_a_foreign_live_message_that_disagrees_gets_the_truth() -> None:
    """Under 3.1.1 a foreign live write may have been retained: the truth is republished (`$bridge/status` by the link)."""
    mirror, published = running_311()
    state_topic = leaves(NGINX, RUNNING, T0)[0][0]
    assert feed(mirror, *echoes_of(published)) == []
    assert feed(
        mirror,
        BrokerMessage(state_topic, b"FAILED", retain=False),
        BrokerMessage(STATUS, b"offline", retain=False),
        BrokerMessage(LINK, b"disconnected", retain=False),
    ) == [(state_topic, b"RUNNING"), (LINK, b"connected")]


def test_a_foreign_live_message_that_agrees_changes_nothing() -> None:
    """A foreign live publish of the true value is no reason to publish."""
    mirror, _ = running_311()
    state_topic = leaves(NGINX, RUNNING, T0)[0][0]
    assert feed(mirror, BrokerMessage(state_topic, b"RUNNING", retain=False)) == []


def test_under_mqtt5_a_live_message_is_left_alone() -> None:
    """With Retain As Published a live message is known to change nothing a subscriber sees."""
    mirror = new_mirror()
    feed(mirror, BrokerConnected(1, "5"), BrokerSynced(1), SnapshotInput({NGINX: RUNNING}))
    state_topic = leaves(NGINX, RUNNING, T0)[0][0]
    assert feed(mirror, BrokerMessage(state_topic, b"FAILED", retain=False)) == []


def test_an_echo_lost_on_the_way_does_not_hide_a_foreign_write() -> None:
    """The broker dropping an echo costs at most one republish of the truth."""
    echoes = Echoes()
    echoes.reset(expected=True)
    echoes.sent([Publish("t", b"A"), Publish("t", b"B"), Publish("t", b"C")])
    # A's echo was dropped: B's comes first and takes A with it.
    assert echoes.returned("t", b"B")
    assert not echoes.returned("t", b"A")
    assert echoes.returned("t", b"C")
    assert not echoes.returned("t", b"C")


def test_a_new_connection_forgets_the_echoes_of_the_old_one() -> None:
    """Echoes still on their way when the connection dropped never come."""
    echoes = Echoes()
    echoes.reset(expected=True)
    echoes.sent([Publish("t", b"A")])
    echoes.reset(expected=True)
    assert not echoes.returned("t", b"A")


def test_a_topic_whose_echoes_never_return_keeps_a_bounded_few() -> None:
    """Only the latest 32 payloads of a topic wait for their echo; older ones are forgotten."""
    echoes = Echoes()
    echoes.reset(expected=True)
    echoes.sent([Publish("t", str(n).encode()) for n in range(40)])
    assert not echoes.returned("t", b"0")
    assert echoes.returned("t", b"8")
    assert echoes.returned("t", b"39")


def test_a_refused_subscription_waits_for_no_echo() -> None:
    """When the broker refused `<prefix>/#`, nothing comes back: publishes are not remembered."""
    mirror = new_mirror()
    feed(mirror, BrokerConnected(1, "3.1.1"), BrokerSynced(1, ("subscription",)))
    feed(mirror, SnapshotInput({NGINX: RUNNING}), AnkaiosLink(connected=True))
    assert not mirror.echoes.expected
    assert not mirror.echoes.returned(leaves(NGINX, RUNNING, T0)[0][0], b"RUNNING")
