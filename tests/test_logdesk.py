"""The log desk and the logs request parser, pure: limits, deadlines, rate cap, replies, commands."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from bridge.core.inputs import BrokerConnected, BrokerMessage, BrokerSynced, MirrorInput
from bridge.core.logdesk import LogDesk
from bridge.core.loginputs import (
    CancelLogs,
    LogLines,
    LogsAccepted,
    LogsAsked,
    LogsStopped,
    StartLogs,
)
from bridge.core.logrequests import Ask, Cancel, Malformed, ReplyTo, parse_request
from bridge.core.logstreams import Decision
from bridge.core.mirror import Mirror
from bridge.core.model import ExecutionState, InstanceStatus
from bridge.core.topics import InstanceKey
from bridge.settings.commands import default_settings
from bridge.settings.logs import LogsSettings
from tests.test_mirror import FACTS

T0 = datetime(2026, 12, 1, 8, 0, 0, tzinfo=UTC)
NGINX = InstanceKey("hpc1", "nginx", "a" * 64)
NGINX2 = InstanceKey("hpc2", "nginx", "c" * 64)
RADIO = InstanceKey("hpc2", "radio", "b" * 64)
RUNNING = ExecutionState("RUNNING", "RUNNING_OK")
TRUTH = {key: InstanceStatus(key, RUNNING, "x") for key in (NGINX, NGINX2, RADIO)}
REPLY = "ankaios/$bridge/logs/reply/me"
LINES = f"ankaios/hpc1/nginx/{'a' * 64}/logs"


def desk(**limits: object) -> LogDesk:
    """Return a desk with logs on, connected to Ankaios, and request ids r1, r2, ..."""
    numbers = count(1)
    made = LogDesk(
        LogsSettings(enabled=True, **limits),  # type: ignore[arg-type]
        "ankaios",
        lambda: f"r{next(numbers)}",
    )
    made.link(connected=True)
    return made


def ask(**fields: object) -> LogsAsked:
    """Return a 3.1.1-style request replying to REPLY."""
    return LogsAsked(json.dumps({"replyTo": REPLY, **fields}).encode())


def replies(decision: Decision) -> list[dict[str, object]]:
    """Return the reply documents of a decision."""
    return [json.loads(m.payload) for m in decision.messages if m.topic == REPLY]


def lines(decision: Decision) -> list[str]:
    """Return the log lines of a decision."""
    return [m.payload.decode() for m in decision.messages if m.topic != REPLY]


def test_a_request_becomes_one_logs_request_for_every_scheduled_instance() -> None:
    """`workload` alone asks Ankaios for every instance of it the mirror knows, in one request."""
    decision = desk().handle(ask(workload="nginx", tail=5), T0, TRUTH)
    assert decision.commands == [StartLogs("r1", (NGINX, NGINX2), follow=False, tail=5, since=None)]
    assert decision.messages == []


def test_the_follow_is_cut_to_the_limit_and_said_in_accepted() -> None:
    """A follow longer than --logs-max-follow is granted as the limit, and accepted says so."""
    served = desk(max_follow=30.0)
    served.handle(ask(workload="nginx", agent="hpc1", follow=600), T0, TRUTH)
    accepted = served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    assert replies(accepted) == [
        {
            "event": "accepted",
            "instances": [{"agent": "hpc1", "workload": "nginx", "id": "a" * 64}],
            "follow": 30.0,
        }
    ]
    ended = served.tick(T0 + timedelta(seconds=30))
    assert replies(ended)[0]["reason"] == "duration"
    assert ended.commands == [CancelLogs("r1")]
    assert served.streams == {}


def test_one_stream_over_the_limit_is_refused() -> None:
    """With --logs-max-streams 1 a second request is refused as over the limit; Ankaios is not asked."""
    served = desk(max_streams=1)
    served.handle(ask(workload="nginx"), T0, TRUTH)
    second = served.handle(ask(workload="radio", correlation="2"), T0, TRUTH)
    assert second.commands == []
    assert replies(second) == [
        {
            "event": "refused",
            "reason": "limit",
            "detail": "the bridge serves 1 logs request, its limit (--logs-max-streams)",
            "correlation": "2",
        }
    ]


def test_the_rate_cap_counts_what_it_drops_and_says_so_after_the_second() -> None:
    """Lines beyond the cap in one second are dropped; one `… N lines dropped` line follows."""
    served = desk(max_rate=2)
    served.handle(ask(workload="nginx", agent="hpc1", follow=10), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    burst = LogLines("r1", tuple((NGINX, f"l{n}") for n in range(5)))
    assert lines(served.handle(burst, T0, TRUTH)) == ["l0", "l1"]
    assert served.next_due() == T0 + timedelta(seconds=1)
    assert lines(served.tick(T0 + timedelta(seconds=1))) == ["… 3 lines dropped"]
    later = LogLines("r1", ((NGINX, "l5"),))
    assert lines(served.handle(later, T0 + timedelta(seconds=1.5), TRUTH)) == ["l5"]


def test_memory_does_not_grow_with_the_log_volume() -> None:
    """However many lines pass, a stream keeps one counter per instance and no line."""
    served = desk(max_rate=1)
    served.handle(ask(workload="nginx", agent="hpc1", follow=10), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    served.handle(LogLines("r1", tuple((NGINX, "x" * 100) for _ in range(10_000))), T0, TRUTH)
    stream = served.streams["r1"]
    assert stream.dropped == {NGINX: 9_999}


def test_a_long_line_is_cut() -> None:
    """A line longer than --logs-max-line ends in `…` at exactly that many characters."""
    served = desk(max_line=16)
    served.handle(ask(workload="nginx", agent="hpc1"), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    cut = lines(served.handle(LogLines("r1", ((NGINX, "y" * 1_000_000),)), T0, TRUTH))
    assert cut == ["y" * 15 + "…"]


def test_losing_ankaios_ends_every_stream_and_cancels_it() -> None:
    """When the Ankaios link goes, each stream ends as `lost` (refused if never accepted) and is cancelled."""
    served = desk()
    served.handle(ask(workload="nginx", agent="hpc1", follow=10), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    served.handle(ask(workload="radio"), T0, TRUTH)
    decision = served.link(connected=False)
    assert [(r["event"], r["reason"]) for r in replies(decision)] == [
        ("ended", "lost"),
        ("refused", "lost"),
    ]
    assert decision.commands == [CancelLogs("r1"), CancelLogs("r2")]
    refused = served.handle(ask(workload="nginx"), T0, TRUTH)
    assert replies(refused)[0]["reason"] == "unavailable"


def test_a_stream_ends_when_every_instance_stopped() -> None:
    """A request over two instances ends (and is cancelled) only once both logs stopped."""
    served = desk()
    served.handle(ask(workload="nginx"), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX, NGINX2)), T0, TRUTH)
    first = served.handle(LogsStopped("r1", NGINX), T0, TRUTH)
    assert [r["event"] for r in replies(first)] == ["ended"]
    assert first.commands == []
    second = served.handle(LogsStopped("r1", NGINX2), T0, TRUTH)
    assert second.commands == [CancelLogs("r1")]


def test_ankaios_keeping_none_of_the_instances_is_an_unknown_workload() -> None:
    """An accepted list without instances (none in the desired state) is refused as unknown and cancelled."""
    served = desk()
    served.handle(ask(workload="nginx", agent="hpc1"), T0, TRUTH)
    decision = served.handle(LogsAccepted("r1", ()), T0, TRUTH)
    assert replies(decision)[0]["reason"] == "unknown"
    assert decision.commands == [CancelLogs("r1")]


def test_a_cancel_ends_the_streams_of_its_correlation() -> None:
    """`{"cancel": c}` ends the streams with correlation c; an unknown one is refused."""
    served = desk()
    served.handle(ask(workload="nginx", agent="hpc1", follow=10, correlation="c"), T0, TRUTH)
    served.handle(LogsAccepted("r1", (NGINX,)), T0, TRUTH)
    decision = served.handle(LogsAsked(json.dumps({"cancel": "c"}).encode(), REPLY), T0, TRUTH)
    assert [(r["event"], r["reason"]) for r in replies(decision)] == [("ended", "cancelled")]
    assert decision.commands == [CancelLogs("r1")]
    again = served.handle(LogsAsked(json.dumps({"cancel": "c"}).encode(), REPLY), T0, TRUTH)
    assert replies(again)[0]["reason"] == "unknown"


def test_a_cancel_matches_the_mqtt5_correlation_data_too() -> None:
    """A stream asked with Correlation Data only is cancelled by that text."""
    served = desk()
    asked = LogsAsked(b'{"workload": "nginx", "follow": 9}', REPLY, b"cd-1")
    served.handle(asked, T0, TRUTH)
    decision = served.handle(LogsAsked(b'{"cancel": "cd-1"}', REPLY), T0, TRUTH)
    assert [(r["event"], r["reason"]) for r in replies(decision)] == [("refused", "cancelled")]
    assert decision.commands == [CancelLogs("r1")]
    assert [m.correlation for m in decision.messages] == [b"cd-1"]


def test_a_request_without_a_reply_topic_is_only_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A request that names no reply topic cannot be answered: one warning, nothing sent."""
    served = desk()
    with caplog.at_level(logging.WARNING):
        decision = served.handle(LogsAsked(b"not json"), T0, TRUTH)
    assert decision == Decision()
    assert caplog.messages == [
        (
            "ignored a logs request without a reply topic: the request is not JSON "
            "(a UTF-8 JSON object is accepted)"
        )
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            {"workload": "ngi nx"},
            "workload 'ngi nx' is not an Ankaios name (letters, digits, '_' and '-')",
        ),
        ({"workload": "nginx", "tail": True}, "tail True is not accepted; a whole number >= 0 is"),
        (
            {"workload": "nginx", "follow": -1},
            "follow -1 is not accepted; seconds >= 0 are (0: no follow)",
        ),
        (
            {"workload": "nginx", "since": "yesterday"},
            "since 'yesterday' is not an ISO-8601 time (e.g. 2026-11-28T02:10:00Z)",
        ),
        (
            {"workload": "nginx", "Tail": 1},
            "unknown key 'Tail'; accepted keys: workload, agent, id, tail, follow, since, replyTo, correlation, or cancel",
        ),
        ({}, "workload must be a string of 1 to 63 characters"),
    ],
)
def test_a_malformed_request_says_what_was_wrong(payload: dict[str, object], reason: str) -> None:
    """Each bad field is named with what is accepted."""
    assert parse_request(ask(**payload)) == Malformed(reason, ReplyTo(REPLY))


def test_the_mqtt5_properties_win_over_the_payload() -> None:
    """The Response Topic beats `replyTo`; the Correlation Data is kept beside `correlation`."""
    asked = LogsAsked(
        json.dumps(
            {
                "workload": "nginx",
                "replyTo": "x/y",
                "correlation": "c",
                "since": "2026-11-28T03:10:00+01:00",
            }
        ).encode(),
        "ankaios/$bridge/logs/reply/v5",
        b"\x00\x01",
    )
    assert parse_request(asked) == Ask(
        ReplyTo("ankaios/$bridge/logs/reply/v5", "c", b"\x00\x01"),
        "nginx",
        since="2026-11-28T02:10:00Z",
    )
    assert parse_request(LogsAsked(b'{"cancel": "c"}', "r")) == Cancel("c", ReplyTo("r"))
    wildcard = parse_request(ask(workload="nginx", replyTo="a/+"))
    assert wildcard == Malformed("reply topic 'a/+' has a wildcard or NUL", None)


def _synced() -> list[MirrorInput]:
    return [BrokerConnected(1, "3.1.1"), BrokerSynced(1)]


def test_log_lines_and_requests_are_never_foreign_topics_of_the_mirror(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Under 3.1.1 the bridge hears its own lines and requests: the mirror ignores them silently."""
    mirror = Mirror(FACTS, default_settings().mirror)
    with caplog.at_level(logging.WARNING):
        for item in _synced():
            mirror.handle(item, T0)
        for _ in range(3):
            assert mirror.handle(BrokerMessage(LINES, b"a line", retain=False), T0) == []
            assert mirror.handle(BrokerMessage(REPLY, b"{}", retain=False), T0) == []
    assert caplog.messages == []
