"""The feeds' and the handshake's decisions, without FIFOs: which frames to send and what answers mean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ankaios_sdk._protos import _control_api

from bridge.ankaios.feed import Feed
from bridge.ankaios.feeds import Feeds, StatesFeed
from bridge.ankaios.fieldpaths import PROBE_MASKS, STATE_MASK
from bridge.ankaios.framing import FrameSplitter
from bridge.ankaios.handshake import Handshake, Overdue
from bridge.ankaios.protocol import ErrorAnswer, OtherAnswer, StateAnswer
from bridge.ankaios.requests import Answer, Requests
from bridge.ankaios.transport import ControlInterfaceError
from bridge.core.inputs import Changes, Granted, Snapshot
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from bridge.settings.commands import AnkaiosSettings, default_settings

NGINX = InstanceKey("hpc1", "nginx", "1" * 64)
RUNNING = ExecutionState("RUNNING", "RUNNING_OK")
ANKAIOS = default_settings().ankaios
RESYNC, PROBE = ANKAIOS.resync_interval, ANKAIOS.probe_interval
# The workload-state feed alone: the tests of the other two are in test_feeds.py.
STATES_ONLY: tuple[type[Feed], ...] = (StatesFeed,)


def sent(frames: list[bytes]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return each frame as (kind, request id, masks), kind `subscribe`, `read` or `cancel`."""
    result: list[tuple[str, str, tuple[str, ...]]] = []
    for data in frames:
        (body,) = FrameSplitter().feed(data)
        request = _control_api.ToAnkaios.FromString(body).request
        if request.HasField("eventsCancelRequest"):
            result.append(("cancel", request.requestId, ()))
            continue
        content = request.completeStateRequest
        kind = "subscribe" if content.subscribeForEvents else "read"
        result.append((kind, request.requestId, tuple(content.fieldMask)))
    return result


def taken(wire: list[bytes]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Return the frames sent since the last call (see `sent`) and forget them."""
    frames = sent(wire)
    wire.clear()
    return frames


def coordinator(
    feeds: tuple[type[Feed], ...] = STATES_ONLY, settings: AnkaiosSettings = ANKAIOS
) -> tuple[Feeds, list[bytes]]:
    """Return the coordinator of `feeds` and the list their frames go to."""
    wire: list[bytes] = []
    return Feeds(settings, wire.append, feeds), wire


def snapshot(request_id: str, *keys: InstanceKey) -> StateAnswer:
    """Return an answer without altered fields (the first answer to a request)."""
    return StateAnswer(request_id, dict.fromkeys(keys, RUNNING), None)


def event(request_id: str, key: InstanceKey) -> StateAnswer:
    """Return an event that updates one instance to RUNNING."""
    path = f"workloadStates.{key.agent}.{key.workload}.{key.instance_id}.state"
    return StateAnswer(request_id, {key: RUNNING}, ((), (path,), ()))


def connected(now: float = 0.0, probe: float = PROBE) -> tuple[Feeds, list[bytes], str]:
    """Return feeds whose first subscribe was answered, the list of frames, and that request's id."""
    subscription, wire = coordinator(settings=dataclasses.replace(ANKAIOS, probe_interval=probe))
    subscription.accepted(now)
    ((kind, first, masks),) = taken(wire)
    assert (kind, masks) == ("subscribe", StatesFeed.masks)
    assert subscription.handle(snapshot(first), now) == [Snapshot({}), Granted(StatesFeed.masks)]
    assert taken(wire) == []
    return subscription, wire, first


def test_accepted_subscribes_with_the_bridge_masks() -> None:
    """After the handshake the only frame is a subscription for the bridge's masks."""
    subscription, wire = coordinator()
    subscription.accepted(0.0)
    ((kind, _, masks),) = taken(wire)
    assert (kind, masks) == ("subscribe", StatesFeed.masks)


def test_events_of_the_live_subscription_become_changes() -> None:
    """An event of the live subscription is reported as Changes."""
    subscription, _, first = connected()
    assert subscription.handle(event(first, NGINX), 1.0) == [Changes({NGINX: RUNNING}, frozenset())]


def test_resync_replaces_the_subscription_and_cancels_the_old_one() -> None:
    """The periodic resync subscribes anew; its answer cancels the old subscription."""
    subscription, wire, first = connected(probe=10 * RESYNC)
    subscription.due(RESYNC - 1)
    assert taken(wire) == []
    subscription.due(RESYNC)
    ((kind, second, _),) = taken(wire)
    assert kind == "subscribe"
    subscription.due(RESYNC + 1)
    assert taken(wire) == []  # no second resync while one is pending
    assert subscription.handle(snapshot(second, NGINX), RESYNC + 1) == [Snapshot({NGINX: RUNNING})]
    assert taken(wire) == [("cancel", first, ())]
    assert subscription.handle(event(first, NGINX), RESYNC + 2) == []


def test_probe_reads_nothing_and_never_subscribes() -> None:
    """The liveness probe is a non-subscribing read of a mask that selects nothing, one at a time."""
    subscription, wire, _ = connected()
    subscription.due(PROBE)
    ((kind, probe, masks),) = taken(wire)
    assert (kind, masks) == ("read", PROBE_MASKS)
    subscription.due(PROBE * 2)
    assert taken(wire) == []  # the first is still unanswered
    assert subscription.handle(snapshot(probe), PROBE + 1) == []
    subscription.due(PROBE * 2)
    assert [kind for kind, _, _ in taken(wire)] == ["read"]  # the first was answered


def test_late_answers_of_superseded_subscriptions_are_cancelled() -> None:
    """After the agent's task was replaced, answers it held back are cancelled, once each."""
    subscription, wire, first = connected()
    subscription.due(RESYNC)
    ((_, held, _),) = taken(wire)
    subscription.forget_all()
    subscription.accepted(RESYNC + 1)
    ((_, fresh, _),) = taken(wire)
    assert subscription.handle(snapshot(held, NGINX), RESYNC + 2) == []
    assert taken(wire) == [("cancel", held, ())]
    subscription.handle(event(first, NGINX), RESYNC + 2)
    assert taken(wire) != []
    subscription.handle(event(first, NGINX), RESYNC + 2)
    assert taken(wire) == []
    assert subscription.handle(snapshot(fresh), RESYNC + 3) == [Snapshot({})]


def test_a_held_back_answer_before_the_handshake_is_cancelled_after_it() -> None:
    """An answer of a superseded subscription that arrives before the new Hello is cancelled right after it."""
    subscription, wire, first = connected()
    subscription.forget_all()
    subscription.before_handshake(snapshot(first))
    assert taken(wire) == []
    subscription.accepted(1.0)
    frames = taken(wire)
    assert [kind for kind, _, _ in frames] == ["subscribe", "cancel"]
    assert frames[1][1] == first


def test_denied_sub_state_mask_falls_back_to_states() -> None:
    """Access denied for both masks retries with the state mask alone."""
    subscription, wire = coordinator()
    subscription.accepted(0.0)
    ((_, first, _),) = taken(wire)
    assert subscription.handle(ErrorAnswer(first, "Access denied"), 0.1) == []
    ((kind, _, masks),) = taken(wire)
    assert (kind, masks) == ("subscribe", (STATE_MASK,))


def test_denied_state_mask_is_fatal_with_the_rule_to_add() -> None:
    """Access denied for the state mask alone names the allow rule the manifest needs."""
    subscription, wire = coordinator()
    subscription.accepted(0.0)
    ((_, first, _),) = taken(wire)
    subscription.handle(ErrorAnswer(first, "Access denied"), 0.1)
    ((_, second, _),) = taken(wire)
    with pytest.raises(ControlInterfaceError, match="filterMasks"):
        subscription.handle(ErrorAnswer(second, "Access denied"), 0.2)


def test_a_refused_probe_stops_probing() -> None:
    """A probe the agent refuses proves nothing about the server: no more probes are sent."""
    subscription, wire, _ = connected()
    subscription.due(PROBE)
    ((_, probe, _),) = taken(wire)
    subscription.handle(ErrorAnswer(probe, "Access denied"), PROBE + 0.1)
    subscription.due(PROBE * 3)
    assert taken(wire) == []


def test_other_answers_change_nothing() -> None:
    """A cancel confirmation or an unknown response sends nothing and reports nothing."""
    subscription, wire, first = connected()
    for message in (OtherAnswer(first, "eventsCancelAccepted"), OtherAnswer("x", "logsStop")):
        assert subscription.handle(message, 1.0) == []
        assert taken(wire) == []


@pytest.mark.parametrize(
    ("pending_at", "probe_at", "now", "overdue"),
    [
        (None, None, 100.0, False),
        (None, 96.0, 100.0, False),
        (None, 94.0, 100.0, True),
        (94.0, None, 100.0, True),
        (96.0, 90.0, 100.0, True),
    ],
)
def test_a_request_is_overdue_once_the_oldest_unanswered_waited_too_long(
    pending_at: float | None, probe_at: float | None, now: float, overdue: bool
) -> None:
    """A subscription's requests are overdue (the link not live) once the oldest unanswered one waited longer than the timeout."""
    requests = Requests()
    requests.subscribing("first", 0.0)
    assert requests.answer("first") == (Answer.SNAPSHOT, None)
    if pending_at is not None:
        requests.subscribing("second", pending_at)
    if probe_at is not None:
        requests.probing("probe", probe_at)
    assert (requests.overdue(now, 5.0) is not None) is overdue


def test_the_link_is_live_from_the_first_answer_until_a_request_waits_too_long() -> None:
    """The link is live once the workload states are subscribed, not while the probe waits longer than the timeout, and not once the task is gone."""
    subscription, wire = coordinator(settings=dataclasses.replace(ANKAIOS, request_timeout=5.0))
    assert not subscription.live(0.0)
    subscription.accepted(0.0)
    ((_, first, _),) = taken(wire)
    assert not subscription.live(1.0)
    subscription.handle(snapshot(first), 1.0)
    assert subscription.live(1.0)
    subscription.due(PROBE + 1)
    assert subscription.live(PROBE + 1 + 5.0)
    assert not subscription.live(PROBE + 1 + 5.1)
    subscription.forget_all()
    assert not subscription.live(PROBE + 2)


def test_nothing_is_sent_while_a_request_is_overdue() -> None:
    """While Ankaios answers nothing, no resync or probe is written that could wait in the FIFO."""
    subscription, wire, _ = connected()
    subscription.due(PROBE)
    ((_, probe, _),) = taken(wire)
    subscription.due(RESYNC * 2)
    assert taken(wire) == []
    subscription.handle(snapshot(probe), RESYNC * 2)
    subscription.due(RESYNC * 2)
    ((kind, _, _),) = taken(wire)
    assert kind == "subscribe"


def test_a_swallowed_subscription_is_asked_again_after_the_handshake() -> None:
    """A subscription unanswered 0.25 s after the handshake that follows a swap (the replaced task read it) is sent again, backing off, three times at most."""
    subscription, wire = coordinator(settings=dataclasses.replace(ANKAIOS, request_timeout=10.0))
    subscription.accepted(0.0, after_swap=True)
    ((_, first, _),) = taken(wire)
    counts = []
    for now in (0.2, 0.3, 0.7, 0.9, 1.8, 2.0, 4.0):
        subscription.due(now)
        frames = taken(wire)
        assert all(kind == "subscribe" and request_id != first for kind, request_id, _ in frames)
        counts.append(len(frames))
    assert counts == [0, 1, 0, 1, 0, 1, 0]


def test_a_slow_answer_after_an_agent_restart_is_not_asked_again() -> None:
    """After an ordinary handshake a slow snapshot is waited for, not requested again."""
    subscription, wire = coordinator(settings=dataclasses.replace(ANKAIOS, request_timeout=10.0))
    subscription.accepted(0.0)
    taken(wire)
    subscription.due(2.0)
    assert taken(wire) == []


def test_an_answer_lost_in_unreadable_data_is_waited_for_no_more() -> None:
    """When a later request is answered, an earlier one still unanswered is given up, so the link is live again."""
    requests = Requests()
    requests.subscribing("first", 0.0)
    requests.answer("first")
    requests.probing("lost", 10.0)
    requests.subscribing("second", 11.0)
    assert requests.answer("second") == (Answer.SNAPSHOT, "first")
    assert requests.probe is None
    assert requests.current == "second"
    assert requests.overdue(30.0, 5.0) is None


def test_unreadable_data_leads_to_a_fresh_subscription() -> None:
    """After unreadable data the pending request is given up and a fresh subscription sent."""
    subscription, wire, _ = connected()
    subscription.due(RESYNC)
    ((_, pending, _),) = taken(wire)
    subscription.reread(RESYNC + 1)
    ((kind, fresh, _),) = taken(wire)
    assert (kind, fresh != pending) == ("subscribe", True)
    subscription.handle(snapshot(pending), RESYNC + 2)
    assert taken(wire) == [("cancel", pending, ())]


def test_a_refused_subscription_is_retried_soon_without_a_live_one() -> None:
    """A subscription refused for another reason than access is retried after the request timeout."""
    subscription, wire = coordinator(settings=dataclasses.replace(ANKAIOS, request_timeout=5.0))
    subscription.accepted(0.0)
    ((_, first, _),) = taken(wire)
    subscription.handle(ErrorAnswer(first, "server busy"), 0.1)
    assert taken(wire) == []
    subscription.due(4.0)
    assert taken(wire) == []
    subscription.due(5.2)
    ((kind, _, _),) = taken(wire)
    assert kind == "subscribe"


def test_a_hello_is_repeated_backing_off_to_once_a_second() -> None:
    """An unanswered Hello is repeated after 0.2, 0.4 and 0.8 s, then every second."""
    handshake = Handshake(timeout=5.0)
    handshake.begin(0.0)
    checks = [(0.19, False), (0.21, True), (0.6, False), (0.62, True), (1.4, False)]
    checks += [(1.43, True), (2.4, False), (2.44, True), (3.45, True)]
    assert [handshake.repeat_due(at) for at, _ in checks] == [due for _, due in checks]


def test_only_the_first_handshake_of_the_process_can_be_final() -> None:
    """An unanswered first Hello is final; later ones only warn once and go on."""
    handshake = Handshake(timeout=5.0)
    handshake.begin(0.0)
    assert handshake.overdue(4.0) is Overdue.NO
    assert handshake.overdue(5.1) is Overdue.FINAL
    assert handshake.accepted(Path("ci")) is False
    handshake.begin(10.0)
    assert [handshake.overdue(t) for t in (14.0, 15.5, 16.0)] == [
        Overdue.NO,
        Overdue.WARN,
        Overdue.NO,
    ]
