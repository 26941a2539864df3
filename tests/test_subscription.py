"""The subscription and handshake decisions, without FIFOs: which frames to send and what answers mean."""

from __future__ import annotations

import pytest
from ankaios_sdk._protos import _control_api

from bridge.ankaios.answers import MASKS, Topic
from bridge.ankaios.fieldpaths import PROBE_MASKS, STATE_MASK
from bridge.ankaios.framing import FrameSplitter
from bridge.ankaios.handshake import Handshake, Overdue
from bridge.ankaios.protocol import ErrorAnswer, OtherAnswer, StateAnswer
from bridge.ankaios.requests import Answer, Requests
from bridge.ankaios.subscription import Subscription, SubscriptionError
from bridge.core.inputs import Changes, Granted, Snapshot
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey

NGINX = InstanceKey("hpc1", "nginx", "1" * 64)
RUNNING = ExecutionState("RUNNING", "RUNNING_OK")
RESYNC, PROBE = 60.0, 5.0
# The workload-state subscription alone: the tests of the other two are below.
STATES_ONLY = (Topic.STATES,)


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


def snapshot(request_id: str, *keys: InstanceKey) -> StateAnswer:
    """Return an answer without altered fields (the first answer to a request)."""
    return StateAnswer(request_id, dict.fromkeys(keys, RUNNING), None)


def event(request_id: str, key: InstanceKey) -> StateAnswer:
    """Return an event that updates one instance to RUNNING."""
    path = f"workloadStates.{key.agent}.{key.workload}.{key.instance_id}.state"
    return StateAnswer(request_id, {key: RUNNING}, ((), (path,), ()))


def connected(now: float = 0.0, probe: float = PROBE) -> tuple[Subscription, str]:
    """Return a subscription whose first subscribe was answered, and that request's id."""
    subscription = Subscription(RESYNC, probe, topics=STATES_ONLY)
    ((kind, first, masks),) = sent(subscription.accepted(now))
    assert (kind, masks) == ("subscribe", MASKS[Topic.STATES])
    outcome = subscription.handle(snapshot(first), now)
    assert outcome.reports == [Snapshot({}), Granted(MASKS[Topic.STATES])]
    assert outcome.frames == []
    return subscription, first


def test_accepted_subscribes_with_the_bridge_masks() -> None:
    """After the handshake the only frame is a subscription for the bridge's masks."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY)
    ((kind, _, masks),) = sent(subscription.accepted(0.0))
    assert (kind, masks) == ("subscribe", MASKS[Topic.STATES])


def test_events_of_the_live_subscription_become_changes() -> None:
    """An event of the live subscription is reported as Changes."""
    subscription, first = connected()
    outcome = subscription.handle(event(first, NGINX), 1.0)
    assert outcome.reports == [Changes({NGINX: RUNNING}, frozenset())]


def test_resync_replaces_the_subscription_and_cancels_the_old_one() -> None:
    """The periodic resync subscribes anew; its answer cancels the old subscription."""
    subscription, first = connected(probe=10 * RESYNC)
    assert subscription.due(RESYNC - 1) == []
    ((kind, second, _),) = sent(subscription.due(RESYNC))
    assert kind == "subscribe"
    assert subscription.due(RESYNC + 1) == []  # no second resync while one is pending
    outcome = subscription.handle(snapshot(second, NGINX), RESYNC + 1)
    assert outcome.reports == [Snapshot({NGINX: RUNNING})]
    assert sent(outcome.frames) == [("cancel", first, ())]
    assert subscription.handle(event(first, NGINX), RESYNC + 2).reports == []


def test_probe_reads_nothing_and_never_subscribes() -> None:
    """The liveness probe is a non-subscribing read of a mask that selects nothing, one at a time."""
    subscription, _ = connected()
    ((kind, probe, masks),) = sent(subscription.due(PROBE))
    assert (kind, masks) == ("read", PROBE_MASKS)
    assert subscription.due(PROBE * 2) == []  # the first is still unanswered
    assert subscription.handle(snapshot(probe), PROBE + 1).reports == []
    assert subscription.requests.probe is None


def test_late_answers_of_superseded_subscriptions_are_cancelled() -> None:
    """After the agent's task was replaced, answers it held back are cancelled, once each."""
    subscription, first = connected()
    ((_, held, _),) = sent(subscription.due(RESYNC))
    subscription.forget_all()
    ((_, fresh, _),) = sent(subscription.accepted(RESYNC + 1))
    outcome = subscription.handle(snapshot(held, NGINX), RESYNC + 2)
    assert outcome.reports == []
    assert sent(outcome.frames) == [("cancel", held, ())]
    assert subscription.handle(event(first, NGINX), RESYNC + 2).frames != []
    assert subscription.handle(event(first, NGINX), RESYNC + 2).frames == []
    assert subscription.handle(snapshot(fresh), RESYNC + 3).reports == [Snapshot({})]


def test_a_held_back_answer_before_the_handshake_is_cancelled_after_it() -> None:
    """An answer of a superseded subscription that arrives before the new Hello is cancelled right after it."""
    subscription, first = connected()
    subscription.forget_all()
    subscription.before_handshake(snapshot(first))
    frames = sent(subscription.accepted(1.0))
    assert [kind for kind, _, _ in frames] == ["subscribe", "cancel"]
    assert frames[1][1] == first


def test_denied_sub_state_mask_falls_back_to_states() -> None:
    """Access denied for both masks retries with the state mask alone."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY)
    ((_, first, _),) = sent(subscription.accepted(0.0))
    outcome = subscription.handle(ErrorAnswer(first, "Access denied"), 0.1)
    ((kind, _, masks),) = sent(outcome.frames)
    assert (kind, masks) == ("subscribe", (STATE_MASK,))


def test_denied_state_mask_is_fatal_with_the_rule_to_add() -> None:
    """Access denied for the state mask alone names the allow rule the manifest needs."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY)
    ((_, first, _),) = sent(subscription.accepted(0.0))
    ((_, second, _),) = sent(subscription.handle(ErrorAnswer(first, "Access denied"), 0.1).frames)
    with pytest.raises(SubscriptionError, match="filterMasks"):
        subscription.handle(ErrorAnswer(second, "Access denied"), 0.2)


def test_a_refused_probe_stops_probing() -> None:
    """A probe the agent refuses proves nothing about the server: no more probes are sent."""
    subscription, _ = connected()
    ((_, probe, _),) = sent(subscription.due(PROBE))
    subscription.handle(ErrorAnswer(probe, "Access denied"), PROBE + 0.1)
    assert subscription.due(PROBE * 3) == []


def test_other_answers_change_nothing() -> None:
    """A cancel confirmation or an unknown response sends nothing and reports nothing."""
    subscription, first = connected()
    for message in (OtherAnswer(first, "eventsCancelAccepted"), OtherAnswer("x", "logsStop")):
        outcome = subscription.handle(message, 1.0)
        assert (outcome.frames, outcome.reports) == ([], [])


@pytest.mark.parametrize(
    ("pending_at", "probe_at", "now", "live"),
    [
        (None, None, 100.0, True),
        (None, 96.0, 100.0, True),
        (None, 94.0, 100.0, False),
        (94.0, None, 100.0, False),
        (96.0, 90.0, 100.0, False),
    ],
)
def test_the_link_is_live_until_a_request_waits_too_long(
    pending_at: float | None, probe_at: float | None, now: float, live: bool
) -> None:
    """A live subscription stays live until the oldest unanswered request waited longer than the timeout."""
    requests = Requests()
    requests.subscribing("first", 0.0)
    assert requests.answer("first") == (Answer.SNAPSHOT, None)
    if pending_at is not None:
        requests.subscribing("second", pending_at)
    if probe_at is not None:
        requests.probing("probe", probe_at)
    assert requests.live(now, 5.0) is live


def test_no_live_link_without_a_subscription() -> None:
    """Before the first answer, and after the task is gone, the link is not live."""
    requests = Requests()
    assert not requests.live(0.0, 5.0)
    requests.subscribing("first", 0.0)
    assert not requests.live(1.0, 5.0)
    requests.answer("first")
    requests.forget_all()
    assert not requests.live(1.0, 5.0)


def test_nothing_is_sent_while_a_request_is_overdue() -> None:
    """While Ankaios answers nothing, no resync or probe is written that could wait in the FIFO."""
    subscription, _ = connected()
    ((_, probe, _),) = sent(subscription.due(PROBE))
    assert subscription.due(RESYNC * 2) == []
    subscription.handle(snapshot(probe), RESYNC * 2)
    ((kind, _, _),) = sent(subscription.due(RESYNC * 2))
    assert kind == "subscribe"


def test_a_swallowed_subscription_is_asked_again_after_the_handshake() -> None:
    """A subscription unanswered 0.25 s after the handshake that follows a swap (the replaced task read it) is sent again, backing off, three times at most."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY, request_timeout=10.0)
    ((_, first, _),) = sent(subscription.accepted(0.0, after_swap=True))
    assert subscription.due(0.2) == []
    ((kind, second, _),) = sent(subscription.due(0.3))
    assert (kind, second != first) == ("subscribe", True)
    assert subscription.due(0.7) == []
    assert len(sent(subscription.due(0.9))) == 1
    assert subscription.due(1.8) == []
    assert len(sent(subscription.due(2.0))) == 1
    assert subscription.due(4.0) == []


def test_a_slow_answer_after_an_agent_restart_is_not_asked_again() -> None:
    """After an ordinary handshake a slow snapshot is waited for, not requested again."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY, request_timeout=10.0)
    sent(subscription.accepted(0.0))
    assert subscription.due(2.0) == []


def test_an_answer_lost_in_unreadable_data_is_waited_for_no_more() -> None:
    """When a later request is answered, an earlier one still unanswered is given up, so the link is live again."""
    requests = Requests()
    requests.subscribing("first", 0.0)
    requests.answer("first")
    requests.probing("lost", 10.0)
    requests.subscribing("second", 11.0)
    assert requests.answer("second") == (Answer.SNAPSHOT, "first")
    assert requests.probe is None
    assert requests.live(30.0, 5.0)


def test_unreadable_data_leads_to_a_fresh_subscription() -> None:
    """After unreadable data the pending request is given up and a fresh subscription sent."""
    subscription, _ = connected()
    ((_, pending, _),) = sent(subscription.due(RESYNC))
    ((kind, fresh, _),) = sent(subscription.reread(RESYNC + 1))
    assert (kind, fresh != pending) == ("subscribe", True)
    assert sent(subscription.handle(snapshot(pending), RESYNC + 2).frames) == [
        ("cancel", pending, ())
    ]


def test_a_refused_subscription_is_retried_soon_without_a_live_one() -> None:
    """A subscription refused for another reason than access is retried after the request timeout."""
    subscription = Subscription(RESYNC, PROBE, topics=STATES_ONLY, request_timeout=5.0)
    ((_, first, _),) = sent(subscription.accepted(0.0))
    assert subscription.handle(ErrorAnswer(first, "server busy"), 0.1).frames == []
    assert subscription.due(4.0) == []
    ((kind, _, _),) = sent(subscription.due(5.2))
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
    handshake.ever_accepted = True
    handshake.begin(10.0)
    assert [handshake.overdue(t) for t in (14.0, 15.5, 16.0)] == [
        Overdue.NO,
        Overdue.WARN,
        Overdue.NO,
    ]
