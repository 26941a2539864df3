"""The three feeds (workload states, additional info, agents) and what their answers mean."""

from __future__ import annotations

import logging

import pytest

from bridge.ankaios.feeds import FEEDS, Feeds, StatesFeed
from bridge.ankaios.fieldpaths import AGENTS_MASK, INFO_MASK, STATE_MASK, SUBSTATE_MASK
from bridge.ankaios.protocol import ErrorAnswer, StateAnswer
from bridge.core.inputs import AgentReport, Agents, Changes, Granted, Infos, Snapshot
from bridge.core.model import ExecutionState
from bridge.core.topics import InstanceKey
from tests.test_coordinator import coordinator, taken

NGINX = InstanceKey("hpc1", "nginx", "1" * 64)
FAILED = ExecutionState("FAILED", "FAILED_EXEC_FAILED")
DENIED = "Access denied"


def accepted() -> tuple[Feeds, list[bytes], dict[tuple[str, ...], str]]:
    """Return every feed after the handshake, the list of frames, and the request ids by masks."""
    subscription, wire = coordinator(FEEDS)
    subscription.accepted(0.0)
    frames = taken(wire)
    assert [kind for kind, _, _ in frames] == ["subscribe"] * 3
    return subscription, wire, {masks: request_id for _, request_id, masks in frames}


def test_the_three_subscriptions_are_separate_requests() -> None:
    """States and sub-states together, the additional info and the agents each get a request of their own."""
    _, _, ids = accepted()
    assert set(ids) == {(STATE_MASK, SUBSTATE_MASK), (INFO_MASK,), (AGENTS_MASK,)}


def test_granted_masks_are_reported_in_request_order() -> None:
    """Each first answer adds its masks to Granted, in the order the bridge asks for them."""
    subscription, _, ids = accepted()
    reports = []
    for masks in ((AGENTS_MASK,), (STATE_MASK, SUBSTATE_MASK), (INFO_MASK,)):
        answer = StateAnswer(ids[masks], {}, None)
        reports.extend(subscription.handle(answer, 0.1))
    assert reports[-1] == Granted((STATE_MASK, SUBSTATE_MASK, INFO_MASK, AGENTS_MASK))
    assert reports[:2] == [Agents({}, complete=True), Granted((AGENTS_MASK,))]


@pytest.mark.parametrize(
    ("denied", "named"),
    [((INFO_MASK,), INFO_MASK), ((AGENTS_MASK,), AGENTS_MASK)],
)
def test_a_denied_optional_subscription_is_dropped_with_one_warning(
    denied: tuple[str, ...], named: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Ankaios denying the info or agents mask drops that request alone, warns once naming the mask, and the rest goes on."""
    subscription, wire, ids = accepted()
    with caplog.at_level(logging.WARNING):
        assert subscription.handle(ErrorAnswer(ids[denied], DENIED), 0.1) == []
    assert taken(wire) == []
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert repr(named) in warning
    assert "StateRule" in warning
    for masks, request_id in ids.items():
        if masks != denied:
            subscription.handle(StateAnswer(request_id, {}, None), 0.2)
    assert named not in subscription.granted()
    subscription.due(60.0)
    assert taken(wire) != []  # the others are resynced
    subscription.due(120.0)
    assert all(masks != denied for _, _, masks in taken(wire))


def test_a_denied_sub_state_mask_keeps_info_and_agents() -> None:
    """With a rule for states only, states fall back alone and info and agents are untouched."""
    subscription, wire, ids = accepted()
    assert subscription.handle(ErrorAnswer(ids[StatesFeed.masks], DENIED), 0.1) == []
    ((kind, _, masks),) = taken(wire)
    assert (kind, masks) == ("subscribe", (STATE_MASK,))


def test_an_info_only_event_is_merged_and_never_re_read() -> None:
    """An event naming only an instance's additionalInfo gives Infos and no fresh state request."""
    subscription, wire, ids = accepted()
    info_id = ids[(INFO_MASK,)]
    subscription.handle(StateAnswer(info_id, {}, None), 0.1)
    path = f"workloadStates.hpc1.nginx.{NGINX.instance_id}.additionalInfo"
    event = StateAnswer(info_id, {}, ((), (path,), ()), infos={NGINX: "retry 3"})
    assert subscription.handle(event, 0.2) == [Infos({NGINX: "retry 3"}, complete=False)]
    assert taken(wire) == []


def test_state_events_still_re_read_an_instance_they_do_not_carry() -> None:
    """A state path without its instance in the event's state is re-read, as before."""
    subscription, wire, ids = accepted()
    states = ids[StatesFeed.masks]
    subscription.handle(StateAnswer(states, {}, None), 0.1)
    path = f"workloadStates.hpc1.nginx.{NGINX.instance_id}.state"
    assert subscription.handle(StateAnswer(states, {}, ((), (path,), ())), 0.2) == []
    ((kind, _, masks),) = taken(wire)
    assert (kind, masks) == ("subscribe", StatesFeed.masks)


def test_agent_events_name_the_agent_and_its_fields() -> None:
    """Agent paths become Agents inputs with the fields they name and the values the event carries."""
    subscription, _, ids = accepted()
    agents = ids[(AGENTS_MASK,)]
    subscription.handle(StateAnswer(agents, {}, None), 0.1)
    event = StateAnswer(
        agents,
        {},
        (("agents.hpc2",), ("agents.hpc1.status.cpuUsage",), ("agents.hpc3",)),
        agents={"hpc1": AgentReport(cpu_usage=40), "hpc2": AgentReport()},
    )
    (report,) = subscription.handle(event, 0.2)
    assert report == Agents(
        {"hpc2": AgentReport(), "hpc1": AgentReport(cpu_usage=40)},
        complete=False,
        altered=(("hpc2", ()), ("hpc1", ("status", "cpuUsage"))),
        removed=(("hpc3", ()),),
    )


def test_a_state_event_gives_changes_of_the_named_instances() -> None:
    """The workload-state subscription's events are Changes, as before."""
    subscription, _, ids = accepted()
    states = ids[StatesFeed.masks]
    assert subscription.handle(StateAnswer(states, {NGINX: FAILED}, None), 0.1)[0] == (
        Snapshot({NGINX: FAILED})
    )
    path = f"workloadStates.hpc1.nginx.{NGINX.instance_id}.state"
    event = StateAnswer(states, {NGINX: FAILED}, ((), (path,), ()))
    assert subscription.handle(event, 0.2) == [Changes({NGINX: FAILED}, frozenset())]
