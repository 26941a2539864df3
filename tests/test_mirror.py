"""The mirror's decisions, as exact lists of retained publishes, without a broker or a thread."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.info import BridgeFacts
from bridge.core.inputs import (
    AnkaiosLink,
    BrokerConnected,
    BrokerDisconnected,
    BrokerMessage,
    BrokerSynced,
    Changes,
    MirrorInput,
    SendFailed,
    Snapshot,
)
from bridge.core.mirror import Mirror
from bridge.core.model import ExecutionState, InstanceStatus, encode_status, format_since
from bridge.core.topics import InstanceKey, Publish
from bridge.settings.commands import default_settings

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
T1 = T0 + timedelta(seconds=5)
NGINX = InstanceKey("hpc1", "nginx", "a" * 64)
RADIO = InstanceKey("hpc2", "radio", "b" * 64)
RUNNING = ExecutionState("RUNNING", "RUNNING_OK")
FAILED = ExecutionState("FAILED", "FAILED_EXEC_FAILED")
STATUS = "ankaios/$bridge/status"
LINK = "ankaios/$bridge/ankaios"
INFO = "ankaios/$bridge/info"
FACTS = BridgeFacts("0.1.0", format_since(T0), "ankaios", 1)


def new_mirror(**intervals: float) -> Mirror:
    """Return a mirror for prefix `ankaios` that has seen nothing yet (default settings but `intervals`)."""
    return Mirror(FACTS, replace(default_settings().mirror, **intervals))


def leaves(key: InstanceKey, execution: ExecutionState, at: datetime) -> list[tuple[str, bytes]]:
    """Return the two retained publishes of one instance in state `execution` since `at`."""
    base = f"ankaios/{key.agent}/{key.workload}/{key.instance_id}"
    status = InstanceStatus(key, execution, format_since(at))
    return [(f"{base}/state", execution.state.encode()), (f"{base}/status", encode_status(status))]


def cleared(key: InstanceKey) -> list[tuple[str, bytes]]:
    """Return the two clears of one instance."""
    base = f"ankaios/{key.agent}/{key.workload}/{key.instance_id}"
    return [(f"{base}/state", b""), (f"{base}/status", b"")]


def feed(
    mirror: Mirror, *items: MirrorInput, now: datetime = T0, info: bool = False
) -> list[tuple[str, bytes]]:
    """Return every publish the mirror decides for `items`, in order (`$bridge/info` if asked)."""
    return [
        (p.topic, p.payload)
        for item in items
        for p in mirror.handle(item, now)
        if info or p.topic != INFO
    ]


def synced(generation: int = 1, *retained: tuple[str, bytes]) -> list[MirrorInput]:
    """Return the inputs of a broker connect whose retained burst holds `retained`."""
    burst = [BrokerMessage(topic, payload, retain=True) for topic, payload in retained]
    return [BrokerConnected(generation), *burst, BrokerSynced(generation)]


def running_bridge() -> Mirror:
    """Return a mirror with nginx running, synced to a broker, with a live Ankaios link."""
    mirror = new_mirror()
    feed(mirror, *synced(), Snapshot({NGINX: RUNNING}), AnkaiosLink(connected=True))
    return mirror


def test_before_the_first_snapshot_only_the_link_state_is_said() -> None:
    """A synced broker before any Ankaios answer gets `disconnected` and nothing else."""
    assert feed(new_mirror(), *synced()) == [(LINK, b"disconnected")]


def test_first_snapshot_after_sync_publishes_every_instance() -> None:
    """The first snapshot on a synced, empty broker gives every instance, then the link state follows."""
    mirror = new_mirror()
    feed(mirror, *synced())
    assert feed(mirror, Snapshot({NGINX: RUNNING})) == leaves(NGINX, RUNNING, T0)
    assert feed(mirror, AnkaiosLink(connected=True)) == [(LINK, b"connected")]


def test_snapshot_before_sync_waits_for_the_retained_burst() -> None:
    """Nothing is published before the broker's retained burst is complete; then only what differs."""
    mirror = new_mirror()
    assert feed(mirror, BrokerConnected(1), Snapshot({NGINX: RUNNING, RADIO: RUNNING})) == []
    radio = leaves(RADIO, RUNNING, T0)
    burst = [BrokerMessage(t, p, retain=True) for t, p in [*radio, (STATUS, b"online")]]
    assert feed(mirror, *burst, BrokerSynced(1)) == [
        *leaves(NGINX, RUNNING, T0),
        (LINK, b"disconnected"),
    ]


def test_a_change_publishes_both_leaves_and_a_removal_clears_them() -> None:
    """A state change republishes state and status with a new since; a removal clears both."""
    mirror = running_bridge()
    assert feed(mirror, Changes({NGINX: FAILED}, frozenset()), now=T1) == leaves(NGINX, FAILED, T1)
    assert feed(mirror, Changes({}, frozenset({NGINX}))) == cleared(NGINX)
    assert feed(mirror, Changes({}, frozenset({NGINX}))) == []


def test_an_unchanged_state_publishes_nothing() -> None:
    """An event that repeats the known state changes nothing on the broker."""
    assert feed(running_bridge(), Changes({NGINX: RUNNING}, frozenset()), now=T1) == []


def test_a_stale_generation_does_not_sync() -> None:
    """The end of an older connection's burst does not count for the current one."""
    mirror = new_mirror()
    feed(mirror, Snapshot({NGINX: RUNNING}))
    assert feed(mirror, BrokerConnected(1), BrokerConnected(2), BrokerSynced(1)) == []
    assert feed(mirror, BrokerSynced(2))[0] == leaves(NGINX, RUNNING, T0)[0]


def test_a_retained_since_of_the_same_state_is_adopted() -> None:
    """A restarted bridge keeps the since of a retained status that still shows the state."""
    mirror = new_mirror()
    earlier = T0 - timedelta(days=2)
    feed(mirror, Snapshot({NGINX: RUNNING}), now=T0)
    assert feed(mirror, *synced(1, *leaves(NGINX, RUNNING, earlier))) == [(LINK, b"disconnected")]
    assert feed(mirror, Changes({NGINX: RUNNING}, frozenset()), now=T1) == []


def test_foreign_topics_are_left_alone() -> None:
    """Retained topics of other shapes under the prefix are neither kept nor cleared."""
    mirror = running_bridge()
    odd = [
        BrokerMessage("ankaios/junk", b"x", retain=True),
        BrokerMessage("ankaios/a/b", b"y", retain=True),
    ]
    assert feed(mirror, *odd) == []
    assert feed(mirror, *synced(2, ("ankaios/junk", b"x"))) == [
        *leaves(NGINX, RUNNING, T0),
        (LINK, b"connected"),
    ]


def test_foreign_writes_to_the_bridge_topics_are_corrected() -> None:
    """A wrong link state and a wrong instance state are set right at once; a late will is the broker link's to answer."""
    mirror = running_bridge()
    state_topic = leaves(NGINX, RUNNING, T0)[0][0]
    assert feed(
        mirror,
        BrokerMessage(STATUS, b"offline", retain=True),
        BrokerMessage(LINK, b"disconnected", retain=True),
        BrokerMessage(state_topic, b"FAILED", retain=True),
        BrokerMessage(state_topic, b"FAILED", retain=False),
    ) == [(LINK, b"connected"), (state_topic, b"RUNNING")]


def test_ghost_instances_are_cleared() -> None:
    """Topics of an instance Ankaios does not report are cleared, in the burst and live."""
    mirror = running_bridge()
    ghost = leaves(RADIO, RUNNING, T0)
    live = [BrokerMessage(t, p, retain=True) for t, p in ghost]
    assert feed(mirror, *live) == [cleared(RADIO)[0], cleared(RADIO)[1]]
    assert feed(mirror, *synced(2, *ghost)) == [
        *leaves(NGINX, RUNNING, T0),
        *cleared(RADIO),
        (LINK, b"connected"),
    ]


@pytest.mark.parametrize(
    ("kept", "expected"),
    [
        pytest.param(True, [], id="broker kept everything"),
        pytest.param(
            False,
            [*leaves(NGINX, RUNNING, T0), (LINK, b"connected")],
            id="broker kept nothing",
        ),
    ],
)
def test_reconnect_publishes_what_the_broker_lost(
    kept: bool, expected: list[tuple[str, bytes]]
) -> None:
    """After a reconnect only what the broker no longer holds is published again."""
    mirror = running_bridge()
    held = [*leaves(NGINX, RUNNING, T0), (LINK, b"connected"), (STATUS, b"online")]
    assert feed(mirror, BrokerDisconnected(), *synced(2, *(held if kept else []))) == expected


def test_nothing_is_published_after_a_failed_send_until_the_next_sync() -> None:
    """A publish that could not be handed to the broker stops publishing until the next connect."""
    mirror = running_bridge()
    assert feed(mirror, SendFailed(), Changes({NGINX: FAILED}, frozenset())) == []
    assert feed(mirror, *synced(2)) == [*leaves(NGINX, FAILED, T0), (LINK, b"connected")]


def test_the_ankaios_link_state_follows_the_source() -> None:
    """`$bridge/ankaios` goes disconnected and back, once per change, while the broker is synced."""
    mirror = running_bridge()
    assert feed(mirror, AnkaiosLink(connected=False), AnkaiosLink(connected=False)) == [
        (LINK, b"disconnected")
    ]
    feed(mirror, BrokerDisconnected())
    assert feed(mirror, AnkaiosLink(connected=True)) == []
    assert feed(mirror, *synced(2, (LINK, b"disconnected")))[-1:] == [(LINK, b"connected")]


def test_the_farewell_says_the_ankaios_link_is_gone() -> None:
    """At a stop the mirror's last word is `$bridge/ankaios` disconnected, whatever it said before."""
    assert running_bridge().farewell(None, T0) == [Publish(LINK, b"disconnected")]
    # A bridge stopped before its info went out replaces a previous run's (maybe `stopped`).
    link, info = new_mirror().farewell(None, T0)
    assert link == Publish(LINK, b"disconnected")
    assert info.topic == "ankaios/$bridge/info"
    assert "stopped" not in json.loads(info.payload)


def test_the_mirror_never_writes_the_bridge_status() -> None:
    """`$bridge/status` is the broker link's: no input makes the mirror publish it."""
    mirror = new_mirror()
    published = feed(
        mirror,
        *synced(),
        Snapshot({NGINX: RUNNING}),
        AnkaiosLink(connected=True),
        BrokerMessage(STATUS, b"offline", retain=True),
        BrokerMessage(STATUS, b"", retain=False),
        BrokerDisconnected(),
        *synced(2),
        info=True,
    )
    assert published
    assert STATUS not in [topic for topic, _ in published]
