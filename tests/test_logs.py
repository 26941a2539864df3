"""Workload logs on demand, end to end: the simulator, the bridge process and mosquitto, MQTT 5 and 3.1.1."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.brokers import Nats
from tests.support.logclient import LogRequester
from tests.support.mqtt import Watcher, wait_for
from tests.support.mqtt311 import Client311
from tests.support.scene import FAST, NGINX, RADIO, MakeSim

VERSIONS = pytest.mark.parametrize("version", ["5", "3.1.1"])
NGINX_LOGS = f"ankaios/hpc1/nginx/{NGINX}/logs"
NGINX_DOC = {"agent": "hpc1", "workload": "nginx", "id": NGINX}


@contextlib.contextmanager
def serving(
    sim: AgentSimulator, broker: Mosquitto, version: str, *args: str
) -> Iterator[tuple[BridgeProcess, LogRequester]]:
    """Run the bridge (speaking `version`) until it mirrors Ankaios, and a requester."""
    forced = ("--mqtt-protocol", "3.1.1") if version == "3.1.1" else ()
    with (
        BridgeProcess(sim.directory, broker.port, *FAST, *forced, *args) as bridge,
        Watcher(broker.host, broker.port) as watcher,
    ):
        watcher.wait_tree(lambda tree: tree.get("ankaios/$bridge/ankaios") == b"connected")
        watcher.wait_tree(lambda tree: f"ankaios/hpc1/nginx/{NGINX}/state" in tree)
        with LogRequester(broker.host, broker.port, version) as requester:
            yield bridge, requester


def first_reply(requester: LogRequester, correlation: str) -> dict[str, Any]:
    """Wait for the first reply carrying `correlation` and return it."""

    def answered() -> list[dict[str, Any]]:
        return [r for r in requester.replies() if r.get("correlation") == correlation]

    wait_for(lambda: bool(answered()), 5, f"a reply to {correlation}")
    return answered()[0]


@pytest.fixture
def nginx(make_sim: MakeSim) -> AgentSimulator:
    """Nginx running on hpc1 and radio on hpc2; the bridge may read the logs of both."""
    sim = make_sim(log_rules=("nginx", "radio"))
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
    return sim


@VERSIONS
def test_tail_gives_the_last_lines_then_ends(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """A tail request is accepted, its last N lines arrive in order, then it ends, all with the correlation."""
    nginx.print_lines("hpc1", "nginx", NGINX, *(f"line {n}" for n in range(5)))
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", tail=3, correlation="c-1")
        replies = requester.wait_replies(2)
        assert requester.wait_lines(3) == ["line 2", "line 3", "line 4"]
        assert requester.lines(NGINX_LOGS) == ["line 2", "line 3", "line 4"]
    assert replies == [
        {"event": "accepted", "instances": [NGINX_DOC], "follow": 0.0, "correlation": "c-1"},
        {
            "event": "ended",
            "reason": "stopped",
            "detail": "Ankaios sent the log to its end",
            "instance": NGINX_DOC,
            "lines": 3,
            "correlation": "c-1",
        },
    ]
    got = requester.reply_messages()
    assert {(g.retain, g.qos) for g in got} == {(False, 1)}
    if version == "5":
        assert {g.correlation for g in got} == {b"c-1"}


@VERSIONS
def test_follow_ends_when_its_duration_is_over(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """A follow delivers each new line as it is printed and ends after its duration, cancelled in Ankaios."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", follow=2)
        assert requester.wait_replies(1)[0]["event"] == "accepted"
        nginx.print_lines("hpc1", "nginx", NGINX, "one")
        assert requester.wait_lines(1) == ["one"]
        nginx.print_lines("hpc1", "nginx", NGINX, "two", "three")
        assert requester.wait_lines(3) == ["one", "two", "three"]
        ended = requester.wait_replies(2, timeout=4)[1]
        assert ended["reason"] == "duration"
        assert ended["detail"] == "the follow duration of 2 s is over"
        wait_for(lambda: "logsCancelRequest" in nginx.requests, 2, "the cancel in Ankaios")
        nginx.print_lines("hpc1", "nginx", NGINX, "after")
    assert "after" not in requester.lines()
    assert not nginx._journal.logs.campaigns


@VERSIONS
def test_two_subscribers_see_one_stream(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """Any subscriber of an instance's logs topic gets the lines one requester asked for."""
    with (
        serving(nginx, broker, version, "--logs") as (_, requester),
        LogRequester(broker.host, broker.port, version, NGINX_LOGS) as bystander,
    ):
        requester.ask(workload="nginx", follow=5)
        requester.wait_replies(1)
        nginx.print_lines("hpc1", "nginx", NGINX, "seen twice")
        assert requester.wait_lines(1) == ["seen twice"]
        assert bystander.wait_lines(1) == ["seen twice"]
    assert bystander.replies() == []


@VERSIONS
def test_a_denied_request_is_refused_with_the_reason(
    make_sim: MakeSim, broker: Mosquitto, version: str
) -> None:
    """A request no LogRule allows gets one refused reply that names Ankaios's answer and the rule."""
    sim = make_sim(log_rules=("radio",))
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    with serving(sim, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", tail=1, correlation="d")
        replies = requester.wait_replies(1)
    assert replies == [
        {
            "event": "refused",
            "reason": "denied",
            "detail": "Ankaios denied the logs request (Access denied): the bridge's "
            "controlInterfaceAccess needs a LogRule allowing 'nginx'",
            "correlation": "d",
        }
    ]


@VERSIONS
def test_an_unknown_workload_is_refused(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """A request for a workload without an instance gets one refused reply, and Ankaios is not asked."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="ghost")
        requester.ask(workload="nginx", agent="hpc2")
        replies = requester.wait_replies(2)
    assert [(r["event"], r["reason"], r["detail"]) for r in replies] == [
        ("refused", "unknown", "no scheduled instance of workload 'ghost'"),
        ("refused", "unknown", "no scheduled instance of workload 'nginx' on agent 'hpc2'"),
    ]
    assert "logsRequest" not in nginx.requests


@VERSIONS
def test_a_restart_ends_the_follow(nginx: AgentSimulator, broker: Mosquitto, version: str) -> None:
    """When the followed container ends (a restart), the requester is told the stream ended and why."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", follow=30)
        requester.wait_replies(1)
        nginx.set_state("hpc1", "nginx", NGINX, "FAILED", "FAILED_EXEC_FAILED")
        ended = requester.wait_replies(2)[1]
    assert ended == {
        "event": "ended",
        "reason": "stopped",
        "detail": "Ankaios stopped it: the container ended or was replaced "
        "(after a restart, ask again)",
        "instance": NGINX_DOC,
        "lines": 0,
    }


@VERSIONS
def test_an_agent_disconnecting_ends_the_follow(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """When the followed instance's agent disconnects, the stream ends saying so."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="radio", follow=30)
        requester.wait_replies(1)
        nginx.disconnect_agent("hpc2")
        ended = requester.wait_replies(2)[1]
    assert ended["reason"] == "stopped"
    assert ended["detail"] == "Ankaios stopped it: the instance's agent disconnected"
    assert ended["instance"] == {"agent": "hpc2", "workload": "radio", "id": RADIO}


@VERSIONS
def test_losing_the_agent_ends_the_stream_and_a_new_request_works(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """When the bridge's own agent dies, the requester hears `lost`; after its return logs flow again."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", follow=30, correlation="before")
        requester.wait_replies(1)
        nginx.stop_agent()
        ended = requester.wait_replies(2)[1]
        nginx.start_agent()
        nginx.print_lines("hpc1", "nginx", NGINX, "back")
        # Until the bridge has its subscription again it refuses as `unavailable`.
        for attempt in range(50):
            tag = f"after-{attempt}"
            requester.ask(workload="nginx", tail=1, correlation=tag)
            answer = first_reply(requester, tag)
            if answer["event"] == "accepted":
                break
            assert answer["reason"] == "unavailable"
            wait_for(lambda: nginx.connected, 5, "the agent's handshake")
        assert requester.wait_lines(1) == ["back"]
    assert ended == {
        "event": "ended",
        "reason": "lost",
        "detail": "the bridge lost its connection to Ankaios",
        "instance": NGINX_DOC,
        "lines": 0,
        "correlation": "before",
    }


@VERSIONS
def test_shutdown_ends_and_cancels_every_stream(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """At SIGTERM each requester is told its stream ended, and each request is cancelled in Ankaios."""
    with serving(nginx, broker, version, "--logs") as (bridge, requester):
        requester.ask(workload="nginx", follow=30, correlation="a")
        requester.ask(workload="radio", follow=30, correlation="b")
        requester.wait_replies(2)
        wait_for(lambda: len(nginx._journal.logs.campaigns) == 2, 2, "two campaigns")
        assert bridge.signal(signal.SIGTERM) == 0
        replies = requester.wait_replies(4)
    ended = sorted((r["correlation"], r["reason"]) for r in replies if r["event"] == "ended")
    assert ended == [("a", "shutdown"), ("b", "shutdown")]
    assert nginx.requests.count("logsCancelRequest") == 2
    assert not nginx._journal.logs.campaigns


@VERSIONS
def test_a_cancel_request_ends_the_stream_early(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """`{"cancel": <correlation>}` ends that follow with `cancelled` and cancels it in Ankaios."""
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", follow=30, correlation="stop-me")
        requester.wait_replies(1)
        wait_for(lambda: len(nginx._journal.logs.campaigns) == 1, 5, "the campaign")
        requester.ask(cancel="stop-me")
        ended = requester.wait_replies(2)[1]
        wait_for(lambda: not nginx._journal.logs.campaigns, 5, "the cancel in Ankaios")
    assert (ended["event"], ended["reason"], ended["correlation"]) == (
        "ended",
        "cancelled",
        "stop-me",
    )


@VERSIONS
def test_one_request_over_the_limit_is_refused(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """With --logs-max-streams 1 a second request while one streams is refused as over the limit."""
    with serving(nginx, broker, version, "--logs", "--logs-max-streams", "1") as (_, requester):
        requester.ask(workload="nginx", follow=30, correlation="one")
        requester.wait_replies(1)
        requester.ask(workload="radio", tail=1, correlation="two")
        refused = first_reply(requester, "two")
    assert refused == {
        "event": "refused",
        "reason": "limit",
        "detail": "the bridge serves 1 logs request, its limit (--logs-max-streams)",
        "correlation": "two",
    }


@VERSIONS
def test_the_rate_cap_drops_lines_and_says_how_many(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """Lines over the per-second cap are dropped and counted in one `… N lines dropped` line."""
    with serving(nginx, broker, version, "--logs", "--logs-max-rate", "5") as (_, requester):
        requester.ask(workload="nginx", follow=10)
        requester.wait_replies(1)
        nginx.print_lines("hpc1", "nginx", NGINX, *(f"burst {n}" for n in range(20)))
        lines = requester.wait_lines(6, timeout=4)
    assert lines == [*(f"burst {n}" for n in range(5)), "… 15 lines dropped"]


@VERSIONS
def test_a_megabyte_line_is_cut(nginx: AgentSimulator, broker: Mosquitto, version: str) -> None:
    """A 1 MB line arrives cut to --logs-max-line characters ending in `…`; the next line is whole."""
    nginx.print_lines("hpc1", "nginx", NGINX, "x" * 1_000_000, "after")
    with serving(nginx, broker, version, "--logs") as (_, requester):
        requester.ask(workload="nginx", tail=2)
        lines = requester.wait_lines(2)
    assert lines == ["x" * 4095 + "…", "after"]


@VERSIONS
def test_logs_are_off_by_default(nginx: AgentSimulator, broker: Mosquitto, version: str) -> None:
    """Without --logs a request gets one refused reply saying how to turn logs on; Ankaios is not asked."""
    with serving(nginx, broker, version) as (_, requester):
        requester.ask(workload="nginx", tail=1)
        replies = requester.wait_replies(1)
    assert replies == [
        {
            "event": "refused",
            "reason": "off",
            "detail": "logs are off in this bridge: start it with --logs (LOGS=true) and grant "
            "it a LogRule (README, Logs on demand)",
        }
    ]
    assert "logsRequest" not in nginx.requests


@VERSIONS
def test_a_malformed_request_gets_one_refusal_and_nothing_else_is_lost(
    nginx: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """A bad field gets one refused reply naming it; the next request and the mirror work on."""
    with serving(nginx, broker, version, "--logs") as (bridge, requester):
        requester.ask(workload="nginx", tail=-1, correlation="bad")
        refused = requester.wait_replies(1)[0]
        requester.ask(workload="nginx", tail=0, correlation="good")
        assert requester.wait_replies(3)[1]["event"] == "accepted"
        nginx.set_state("hpc1", "nginx", NGINX, "SUCCEEDED", "SUCCEEDED_OK")
        with Watcher(broker.host, broker.port) as watcher:
            watcher.wait_tree(
                lambda tree: tree.get(f"ankaios/hpc1/nginx/{NGINX}/state") == b"SUCCEEDED"
            )
    assert refused == {
        "event": "refused",
        "reason": "malformed",
        "detail": "tail -1 is not accepted; a whole number >= 0 is",
        "correlation": "bad",
    }
    assert len([r for r in requester.replies() if r.get("correlation") == "bad"]) == 1
    assert bridge.log().count("refused a malformed logs request") == 1
    assert "Traceback" not in bridge.log()
    # Under 3.1.1 the replies and lines come back to the bridge: never foreign topics.
    assert "leaving" not in bridge.log()
    assert json.loads(json.dumps(refused)) == refused


def test_tail_and_follow_on_a_broker_that_speaks_only_3_1_1(
    nginx: AgentSimulator, nats_broker: Nats
) -> None:
    """On NATS (MQTT 3.1.1 only) a tail and a follow work as on mosquitto, replies via replyTo."""
    nginx.print_lines("hpc1", "nginx", NGINX, "old 1", "old 2")
    host, port = nats_broker.host, nats_broker.port
    with (
        BridgeProcess(nginx.directory, port, *FAST, "--logs"),
        Client311(host, port) as watcher,
    ):
        watcher.subscribe("ankaios/$bridge/ankaios")
        wait_for(
            lambda: any(m.payload == b"connected" for m in watcher.messages),
            10,
            "the bridge connected to Ankaios",
        )
        with LogRequester(host, port, "3.1.1") as requester:
            requester.ask(workload="nginx", tail=1, follow=5, correlation="n")
            assert requester.wait_replies(1)[0]["event"] == "accepted"
            nginx.print_lines("hpc1", "nginx", NGINX, "new")
            assert requester.wait_lines(2) == ["old 2", "new"]
