"""`$bridge/info` as the mirror decides it: its keys, when it goes out, and its counters."""

from __future__ import annotations

import json
from datetime import timedelta

from bridge.core.info import StopReason
from bridge.core.inputs import (
    AnkaiosLink,
    BrokerConnected,
    BrokerMessage,
    BrokerSynced,
    Changes,
    Granted,
    MirrorInput,
    Snapshot,
    Tick,
)
from bridge.core.mirror import Mirror
from bridge.core.topics import Publish
from tests.test_mirror import (
    FAILED,
    INFO,
    LINK,
    NGINX,
    RADIO,
    RUNNING,
    T0,
    feed,
    leaves,
    new_mirror,
    synced,
)

MASKS = ("workloadStates.*.*.*.state", "agents.*")


def infos(published: list[tuple[str, bytes]]) -> list[dict[str, object]]:
    """Return the `$bridge/info` documents among `published`, parsed."""
    return [json.loads(payload) for topic, payload in published if topic == INFO]


def running(**intervals: float) -> Mirror:
    """Return a synced mirror with nginx running, masks granted and a live link."""
    mirror = new_mirror(**intervals)
    feed(mirror, *synced(), Snapshot({NGINX: RUNNING}), Granted(MASKS), AnkaiosLink(connected=True))
    return mirror


def test_info_holds_exactly_the_documented_keys() -> None:
    """The info document says version, start, prefix, QoS, protocol, what the broker lacks, masks, link, counts, counters and warnings."""
    mirror = new_mirror()
    feed(mirror, Granted(MASKS), Snapshot({NGINX: RUNNING}), AnkaiosLink(connected=True))
    (document,) = infos(feed(mirror, *synced(), info=True))
    assert document == {
        "version": "0.1.0",
        "started": "2026-12-01T08:00:00.000Z",
        "prefix": "ankaios",
        "qos": 1,
        "protocol": "5",
        "brokerLacks": [],
        "masks": list(MASKS),
        "ankaios": "connected",
        "instances": 1,
        "agents": 0,
        "counters": {
            "events": 0,
            "publishes": 2,
            "clears": 0,
            "brokerReconnects": 0,
            "agentReconnects": 0,
            "repairs": 2,
        },
        "warnings": [],
    }


def test_a_field_change_is_published_at_once() -> None:
    """A change of the link state or of the instance count goes out with the change itself."""
    mirror = running()
    (document,) = infos(feed(mirror, AnkaiosLink(connected=False, reconnects=1), info=True))
    assert (document["ankaios"], document["counters"]["agentReconnects"]) == ("disconnected", 1)  # type: ignore[index]
    (document,) = infos(feed(mirror, Changes({RADIO: RUNNING}, frozenset()), info=True))
    assert document["instances"] == 2


def test_counters_alone_go_out_at_most_once_per_interval() -> None:
    """A change that moves only counters is held back until the info interval is over."""
    mirror = running(info_interval=60.0)
    soon = T0 + timedelta(seconds=1)
    assert infos(feed(mirror, Changes({NGINX: FAILED}, frozenset()), now=soon, info=True)) == []
    assert mirror.next_due() == T0 + timedelta(seconds=60)
    assert infos(feed(mirror, Tick(), now=T0 + timedelta(seconds=59), info=True)) == []
    (document,) = infos(feed(mirror, Tick(), now=T0 + timedelta(seconds=60), info=True))
    assert document["counters"]["events"] == 1  # type: ignore[index]
    assert document["counters"]["publishes"] == 4  # type: ignore[index]


def test_a_reconnect_counts_and_repairs_what_the_broker_lost() -> None:
    """After a broker that kept nothing, brokerReconnects grows and repairs counts the republished topics."""
    mirror = running()
    published = feed(mirror, *synced(2), info=True)
    assert published[:2] == leaves(NGINX, RUNNING, T0)
    (document,) = infos(published)
    counters = document["counters"]
    assert (counters["brokerReconnects"], counters["repairs"]) == (1, 4)  # type: ignore[index]


def test_a_foreign_write_to_an_instance_is_a_repair() -> None:
    """Restoring a state someone else overwrote counts as one repair."""
    mirror = running(info_interval=0.0)
    topic = leaves(NGINX, RUNNING, T0)[0][0]
    (document,) = infos(feed(mirror, BrokerMessage(topic, b"FAILED", retain=True), info=True))
    assert document["counters"]["repairs"] == 3  # type: ignore[index]


def test_the_info_payload_is_not_published_twice() -> None:
    """Nothing changed, nothing published: no info without a change."""
    mirror = running(info_interval=0.0)
    assert feed(mirror, Tick(), info=True) == []


def test_a_foreign_info_is_corrected() -> None:
    """Someone else's retained `$bridge/info` is replaced by the bridge's own document at once."""
    mirror = running(info_interval=60.0)
    (ours,) = infos(feed(mirror, AnkaiosLink(connected=False), info=True))
    published = feed(mirror, BrokerMessage(INFO, b'{"version":"x"}', retain=True), info=True)
    (again,) = infos(published)
    assert again == ours


def test_info_names_the_protocol_and_what_the_broker_lacks() -> None:
    """A 3.1.1 connection to a broker without retained wildcard delivery is said in the info."""
    mirror = new_mirror()
    feed(mirror, Granted(MASKS), Snapshot({NGINX: RUNNING}), AnkaiosLink(connected=True))
    connect: list[MirrorInput] = [
        BrokerConnected(1, "3.1.1"),
        BrokerSynced(1, ("retainedOnWildcard",)),
    ]
    (document,) = infos(feed(mirror, *connect, info=True))
    assert (document["protocol"], document["brokerLacks"]) == ("3.1.1", ["retainedOnWildcard"])
    # The next connection's broker may lack nothing: the info follows it.
    (document,) = infos(feed(mirror, BrokerConnected(2, "5"), BrokerSynced(2), info=True))
    assert (document["protocol"], document["brokerLacks"]) == ("5", [])


def test_warnings_follow_the_link_for_as_long_as_they_hold() -> None:
    """A warning from the reader goes out at once in `warnings`, and stays while the link says so."""
    mirror = running()
    warned = AnkaiosLink(connected=True, reconnects=1, warnings=("renew me",))
    (document,) = infos(feed(mirror, warned, info=True))
    assert document["warnings"] == ["renew me"]
    lost = AnkaiosLink(connected=False, reconnects=1, warnings=("renew me",))
    (document,) = infos(feed(mirror, lost, info=True))
    assert (document["ankaios"], document["warnings"]) == ("disconnected", ["renew me"])


def test_a_fatal_farewell_says_why_before_offline_and_a_clean_one_does_not() -> None:
    """At a fatal stop the farewell adds `$bridge/info` with `stopped` (reason, advice, UTC time, recreate); a clean stop only says disconnected."""
    mirror = running()
    stop = StopReason("the FIFOs are gone", "re-create the workload", recreate=True)
    link, info = mirror.farewell(stop, T0 + timedelta(seconds=5))
    assert link == Publish(LINK, b"disconnected")
    document = json.loads(info.payload)
    assert (info.topic, document["ankaios"], document["instances"]) == (INFO, "disconnected", 1)
    assert document["stopped"] == {
        "reason": "the FIFOs are gone",
        "advice": "re-create the workload",
        "at": "2026-12-01T08:00:05.000Z",
        "recreate": True,
    }
    assert running().farewell(None, T0) == [Publish(LINK, b"disconnected")]
