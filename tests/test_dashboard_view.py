"""The dashboard's model: a pure reducer of broker events (no broker needed)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bridge.core.model import DecodedStatus
from bridge.core.topics import INSTANCE_LEAVES, InstanceKey, LeafCodec
from bridge.dashboard.events import Connected, Disconnected, Event, Received, SnapshotEnd
from bridge.dashboard.payloads import AgentStatus
from bridge.dashboard.tree import Instance, View, stale_reason
from bridge.dashboard.view import apply, apply_all

T0 = datetime(2026, 11, 28, 2, 11, 18, 123000, tzinfo=UTC)
ID = "a" * 64
KEY = InstanceKey("hpc1", "nginx", ID)
STATE_TOPIC = f"ankaios/hpc1/nginx/{ID}/state"
STATUS_TOPIC = f"ankaios/hpc1/nginx/{ID}/status"
STATUS = (
    b'{"state":"RUNNING","substate":"RUNNING_OK","agent":"hpc1","workload":"nginx",'
    b'"id":"' + ID.encode() + b'","since":"2026-11-28T02:11:18.123Z"}'
)


AGENT = (
    b'{"agent":"hpc1","cpuUsage":12,"freeMemory":8123456789,"tags":{"zone":"front"},'
    b'"since":"2026-12-01T10:00:00.000Z"}'
)
AGENT_SINCE = datetime(2026, 12, 1, 10, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """Return a moment `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def msg(
    topic: str | None, payload: bytes, seconds: float = 0, *, retained: bool = True
) -> Received:
    """Return a received message."""
    return Received(at(seconds), topic, payload, retained)


def snapshot(*messages: Event) -> View:
    """Return the view after connecting and receiving `messages` as the retained snapshot."""
    return apply_all(View("ankaios"), [Connected(T0), *messages, SnapshotEnd(T0)])


def healthy() -> View:
    """Return a view holding one running instance and an online bridge."""
    return snapshot(
        msg(STATE_TOPIC, b"RUNNING"),
        msg(STATUS_TOPIC, STATUS),
        msg("ankaios/$bridge/status", b"online"),
    )


def test_snapshot_becomes_visible_only_when_it_is_complete() -> None:
    """Retained messages wait in the loading tree until the end-of-snapshot marker."""
    loading = apply_all(View("ankaios"), [Connected(T0), msg(STATE_TOPIC, b"RUNNING")])
    assert loading.shown.instances == {}
    done = apply(loading, SnapshotEnd(at(1)))
    assert done.shown.instances == {KEY: Instance({"state": "RUNNING"})}
    assert done.loading is None


def test_status_and_state_fill_one_instance() -> None:
    """The `state` and `status` topics of one instance end up in one record."""
    view = healthy()
    since = datetime(2026, 11, 28, 2, 11, 18, 123000, tzinfo=UTC)
    expected = Instance(
        {"state": "RUNNING", "status": DecodedStatus("RUNNING", "RUNNING_OK", since)}
    )
    assert view.shown.instances == {KEY: expected}
    assert view.shown.bridge == "online"


def test_clearing_both_topics_removes_the_instance() -> None:
    """An empty payload clears a leaf; with both leaves cleared the instance is gone."""
    view = apply(healthy(), msg(STATE_TOPIC, b"", retained=False))
    assert KEY in view.shown.instances
    view = apply(view, msg(STATUS_TOPIC, b"", retained=False))
    assert view.shown.instances == {}
    assert view.shown.ignored == 0


def test_unscheduled_instance_has_an_empty_agent() -> None:
    """`ankaios//<workload>/<id>/state` is an instance without an agent, not garbage."""
    view = snapshot(msg(f"ankaios//orphan/{ID}/state", b"NOT_SCHEDULED"))
    assert view.shown.instances == {
        InstanceKey("", "orphan", ID): Instance({"state": "NOT_SCHEDULED"})
    }


GARBAGE = {
    "too few levels": ("ankaios/hpc1/nginx/state", b"RUNNING"),
    "too many levels": (f"ankaios/hpc1/nginx/{ID}/x/state", b"RUNNING"),
    "unknown leaf": (f"ankaios/hpc1/nginx/{ID}/colour", b"RUNNING"),
    "empty workload": (f"ankaios/hpc1//{ID}/state", b"RUNNING"),
    "topic not UTF-8": (None, b"RUNNING"),
    "state not UTF-8": (STATE_TOPIC, b"\xff\xfe"),
    "unknown state": (STATE_TOPIC, b"EXPLODED"),
    "lower-case state": (STATE_TOPIC, b"running"),
    "status not JSON": (STATUS_TOPIC, b"{nope"),
    "status not UTF-8": (STATUS_TOPIC, b'{"state":"\xff"}'),
    "status a list": (STATUS_TOPIC, b"[1, 2]"),
    "status unknown state": (STATUS_TOPIC, STATUS.replace(b'"RUNNING"', b'"EXPLODED"')),
    "status wrong substate": (STATUS_TOPIC, STATUS.replace(b"RUNNING_OK", b"FAILED_LOST")),
    "status bad since": (STATUS_TOPIC, STATUS.replace(b"2026-11-28T02:11:18.123Z", b"noon")),
    "status naive since": (STATUS_TOPIC, STATUS.replace(b".123Z", b".123")),
    "status deeply nested": (STATUS_TOPIC, b"[" * 3000 + b"]" * 3000),
    "status 1 MB": (STATUS_TOPIC, b'{"state":"RUNNING","pad":"' + b"x" * 1_000_000 + b'"}'),
    "state 1 MB": (STATE_TOPIC, b"R" * 1_000_000),
    "bridge status unknown word": ("ankaios/$bridge/status", b"sleeping"),
    "additional info not text": (
        STATUS_TOPIC,
        STATUS.replace(b'"since"', b'"additionalInfo":7,"since"'),
    ),
    "agent status not JSON": ("ankaios/hpc1/$agent/status", b"{nope"),
    "agent status a list": ("ankaios/hpc1/$agent/status", b"[]"),
    "agent cpu a string": ("ankaios/hpc1/$agent/status", AGENT.replace(b":12,", b':"12",')),
    "agent cpu negative": ("ankaios/hpc1/$agent/status", AGENT.replace(b":12,", b":-1,")),
    "agent cpu a bool": ("ankaios/hpc1/$agent/status", AGENT.replace(b":12,", b":true,")),
    "agent memory a float": ("ankaios/hpc1/$agent/status", AGENT.replace(b"8123456789", b"1.5")),
    "agent tag not text": ("ankaios/hpc1/$agent/status", AGENT.replace(b'"front"', b"1")),
    "agent tags a list": ("ankaios/hpc1/$agent/status", AGENT.replace(b'{"zone":"front"}', b"[]")),
    "agent without since": ("ankaios/hpc1/$agent/status", AGENT.split(b',"since"')[0] + b"}"),
    "agent status 1 MB": ("ankaios/hpc1/$agent/status", b"{" + b" " * 1_000_000 + b"}"),
    "bridge info not an object": ("ankaios/$bridge/info", b'"0.2.0"'),
}


@pytest.mark.parametrize(("topic", "payload"), GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_changes_nothing_but_the_counter(topic: str | None, payload: bytes) -> None:
    """A rogue message leaves instances, bridge and connection alone and counts as ignored."""
    before = healthy()
    after = apply(before, msg(topic, payload, 1, retained=False))
    assert after == replace(before, shown=replace(before.shown, ignored=1))


def test_garbage_in_the_snapshot_is_counted_too() -> None:
    """Rogue retained messages are counted once the snapshot is shown."""
    view = snapshot(msg("ankaios/x", b"1"), msg(STATE_TOPIC, b"RUNNING"), msg("ankaios/y", b"2"))
    assert view.shown.ignored == 2
    assert list(view.shown.instances) == [KEY]


def test_the_bridges_other_topics_are_not_garbage() -> None:
    """`<prefix>/$bridge/...` belongs to the bridge (its sync markers): silently skipped."""
    before = healthy()
    assert apply(before, msg("ankaios/$bridge/sync/0123", b"1", retained=False)) == before


def test_reconnect_snapshot_drops_instances_cleared_while_away() -> None:
    """After a reconnect the new snapshot replaces the old tree, so vanished topics go."""
    view = apply_all(
        healthy(),
        [
            Disconnected(at(1), "Connection refused"),
            Connected(at(5)),
            msg("ankaios/$bridge/status", b"online", 5),
        ],
    )
    assert KEY in view.shown.instances  # the old tree stays on screen while loading
    view = apply(view, SnapshotEnd(at(5)))
    assert view.shown.instances == {}


def test_broker_loss_marks_the_view_stale_since_then() -> None:
    """Losing the broker makes the view stale from that moment until the next snapshot."""
    view = apply(healthy(), Disconnected(at(3), "connection lost"))
    assert (view.connection, stale_reason(view)) == ("reconnecting", "broker unreachable")
    assert (view.stale_since, view.stale_exact) == (at(3), True)
    view = apply_all(view, [Disconnected(at(4), "Connection refused"), Connected(at(6))])
    assert view.stale_since == at(3)
    view = apply(view, SnapshotEnd(at(6)))
    assert (stale_reason(view), view.stale_since) == (None, None)


def test_bridge_going_offline_marks_the_view_stale() -> None:
    """A live `offline` on the bridge status makes the view stale from its arrival."""
    view = apply(healthy(), msg("ankaios/$bridge/status", b"offline", 7, retained=False))
    assert (stale_reason(view), view.stale_since, view.stale_exact) == (
        "bridge offline",
        at(7),
        True,
    )
    view = apply(view, msg("ankaios/$bridge/status", b"online", 9, retained=False))
    assert (stale_reason(view), view.stale_since) == (None, None)


def test_bridge_already_offline_at_connect_is_stale_since_an_unknown_moment() -> None:
    """A retained `offline` only says the bridge went away some time before the snapshot."""
    view = snapshot(msg("ankaios/$bridge/status", b"offline"))
    assert (stale_reason(view), view.stale_exact) == ("bridge offline", False)


def test_nothing_is_stale_before_the_first_snapshot() -> None:
    """Failed first connection attempts show `connecting`, not stale data."""
    view = apply(View("ankaios"), Disconnected(T0, "Connection refused"))
    assert (view.connection, view.reason, stale_reason(view)) == (
        "connecting",
        "Connection refused",
        None,
    )


def test_a_batch_equals_its_events_one_by_one() -> None:
    """Applying a batch gives the same view as applying its events one at a time."""
    events: list[Event] = [
        Connected(T0),
        msg(STATE_TOPIC, b"PENDING"),
        msg(STATUS_TOPIC, STATUS),
        msg("ankaios/$bridge/status", b"online"),
        msg("junk", b"x"),
        msg(f"ankaios//orphan/{ID}/state", b"NOT_SCHEDULED"),
        SnapshotEnd(T0),
        msg(f"ankaios//orphan/{ID}/state", b"", 2, retained=False),
        msg("ankaios/$bridge/status", b"offline", 3, retained=False),
        Disconnected(at(4), "connection lost"),
    ]
    one_by_one = View("ankaios")
    for event in events:
        one_by_one = apply(one_by_one, event)
    assert apply_all(View("ankaios"), events) == one_by_one


def test_apply_leaves_the_old_view_untouched() -> None:
    """The reducer is pure: the view passed in is not changed."""
    before = healthy()
    copy = replace(before, shown=replace(before.shown, instances=dict(before.shown.instances)))
    apply_all(before, [msg(STATE_TOPIC, b"", retained=False), msg(STATUS_TOPIC, b"")])
    assert before == copy


def test_cleared_bridge_status_is_unknown_not_stale() -> None:
    """An empty payload on the bridge status means nobody says anything: unknown, not stale."""
    view = apply(healthy(), msg("ankaios/$bridge/status", b"", 2, retained=False))
    assert (view.shown.bridge, stale_reason(view), view.shown.ignored) == ("unknown", None, 0)


def test_agents_and_their_load_are_kept_by_name() -> None:
    """`<agent>/$agent/status` gives the agent's load and tags; null load is unknown."""
    idle = (
        AGENT.replace(b"hpc1", b"hpc2").replace(b":12,", b":null,").replace(b"8123456789", b"null")
    )
    view = snapshot(
        msg("ankaios/hpc1/$agent/status", AGENT), msg("ankaios/hpc2/$agent/status", idle)
    )
    assert view.shown.agents == {
        "hpc1": AgentStatus(12, 8_123_456_789, (("zone", "front"),), AGENT_SINCE),
        "hpc2": AgentStatus(None, None, (("zone", "front"),), AGENT_SINCE),
    }
    assert (view.shown.gone, view.shown.ignored) == (frozenset(), 0)


def test_an_agent_cleared_while_watching_is_gone_until_it_returns() -> None:
    """A cleared agent status marks the agent gone; a new status brings it back."""
    view = snapshot(msg("ankaios/hpc1/$agent/status", AGENT))
    view = apply(view, msg("ankaios/hpc1/$agent/status", b"", 1, retained=False))
    assert (dict(view.shown.agents), view.shown.gone) == ({}, frozenset({"hpc1"}))
    back = apply(view, msg("ankaios/hpc1/$agent/status", AGENT, 2, retained=False))
    assert (list(back.shown.agents), back.shown.gone) == (["hpc1"], frozenset())
    reloaded = apply_all(view, [Disconnected(at(3), "connection lost"), Connected(at(4))])
    assert apply(reloaded, SnapshotEnd(at(4))).shown.gone == frozenset()


def test_clearing_an_unknown_agent_changes_nothing() -> None:
    """A clear of an agent the dashboard never saw marks nobody gone."""
    before = healthy()
    assert apply(before, msg("ankaios/hpc9/$agent/status", b"", retained=False)) == before


def test_other_agent_topics_are_not_garbage() -> None:
    """`<agent>/$agent/<other>` is a newer bridge's business: silently skipped."""
    before = healthy()
    assert apply(before, msg("ankaios/hpc1/$agent/metrics", b"1", retained=False)) == before


def test_additional_info_is_kept_and_missing_means_none() -> None:
    """The status' `additionalInfo` is kept as sent; an older bridge's status has none."""
    with_info = STATUS.replace(b'"since"', b'"additionalInfo":"exec failed: \\u00e9\\n","since"')
    view = snapshot(msg(STATUS_TOPIC, with_info))
    assert view.shown.instances[KEY].status == DecodedStatus(
        "RUNNING", "RUNNING_OK", T0, "exec failed: \u00e9\n"
    )
    assert healthy().shown.instances[KEY].status == DecodedStatus("RUNNING", "RUNNING_OK", T0, "")


def test_the_bridge_info_document_is_kept_and_cleared() -> None:
    """`$bridge/info` is kept as the bridge sent it; a clear forgets it."""
    view = snapshot(msg("ankaios/$bridge/info", b'{"version":"0.2.0","counters":{"events":3}}'))
    assert view.shown.info == {"version": "0.2.0", "counters": {"events": 3}}
    assert apply(view, msg("ankaios/$bridge/info", b"", retained=False)).shown.info is None


def test_a_leaf_added_to_the_table_is_read_by_its_own_decoder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new leaf of the contract is decoded through the table and kept, never read as a status; its garbage is ignored."""

    def decode(payload: bytes) -> int | None:
        return int(payload) if payload.isdigit() else None

    monkeypatch.setitem(INSTANCE_LEAVES, "restarts", LeafCodec(lambda _: b"", decode))
    topic = f"ankaios/hpc1/nginx/{ID}/restarts"
    view = apply(healthy(), msg(topic, b"3", 1, retained=False))
    assert view.shown.instances[KEY].leaves["restarts"] == 3
    assert view.shown.instances[KEY].state == "RUNNING"
    assert view.shown.ignored == 0
    view = apply(view, msg(topic, b"three", 2, retained=False))
    assert (view.shown.instances[KEY].leaves["restarts"], view.shown.ignored) == (3, 1)
    view = apply(view, msg(topic, b"", 3, retained=False))
    assert "restarts" not in view.shown.instances[KEY].leaves
