"""The simulator's logs as upstream Ankaios 1.0.1 serves them: LogRule matching, tail, follow, stops."""

from __future__ import annotations

import threading

import pytest
from ankaios_sdk._protos import _ank_base

from bridge.simulator import cluster
from bridge.simulator.authorizer import Authorizer, log_rule_matches
from bridge.simulator.logs import LogServer
from bridge.simulator.printers import PrintTicker, parse_printers
from bridge.simulator.statetree import Tree

IID = "a" * 64
KEY = ("hpc1", "nginx", IID)


@pytest.mark.parametrize(
    ("patterns", "name", "matches"),
    [
        (["*"], "anything", True),
        (["nginx"], "nginx", True),
        (["ivi_*"], "ivi_radio", True),
        (["ivi_*"], "ivi_", True),
        (["*_app"], "ivi_app", True),
        (["a*a"], "a", False),  # prefix and suffix must not overlap
        # The trap: the first wildcard pattern decides, later patterns are never tried.
        (["telemetry_*", "nginx"], "nginx", False),
        (["nginx", "telemetry_*"], "nginx", True),
        (["nginx", "telemetry_*"], "telemetry_uploader", True),
    ],
)
def test_log_rule_matches_as_upstream(patterns: list[str], name: str, *, matches: bool) -> None:
    """A LogRule matches a workload name as rules.rs LogRule::matches does, first wildcard included."""
    assert log_rule_matches(patterns, name) is matches


def test_every_requested_name_needs_a_rule() -> None:
    """A request is allowed when each name matches a rule (one per entry); no name is allowed."""
    authorizer = Authorizer(log_rules=("telemetry_*", "nginx"))
    assert authorizer.may_read_logs(["nginx", "telemetry_uploader"])
    assert not authorizer.may_read_logs(["nginx", "radio"])
    assert Authorizer(log_rules=("telemetry_*,nginx",)).may_read_logs(["nginx"]) is False
    assert Authorizer().may_read_logs([])


def state(execution: str) -> Tree:
    """Return a state tree with nginx on hpc1 in `execution`."""
    return cluster.with_instance(
        cluster.empty_state(), *KEY, cluster.execution_state(execution, None, None)
    )


def request(*, follow: bool, tail: int | None = None) -> _ank_base.LogsRequest:
    """Return a LogsRequest for nginx (and a name not in the desired state)."""
    names = [
        _ank_base.WorkloadInstanceName(agentName="hpc1", workloadName="nginx", id=IID),
        _ank_base.WorkloadInstanceName(agentName="hpc1", workloadName="gone", id=IID),
    ]
    logs = _ank_base.LogsRequest(workloadNames=names, follow=follow)
    if tail is not None:
        logs.tail = tail
    return logs


def kinds(messages: list[object]) -> list[str]:
    """Return the response kinds of messages."""
    return [m.response.WhichOneof("ResponseContent") for m in messages]  # type: ignore[attr-defined]


def test_a_tail_sends_the_last_lines_then_stops() -> None:
    """Without follow: accepted (names in the desired state only), the last N lines, a stop."""
    server = LogServer()
    server.print_lines(KEY, ["1", "2", "3"])
    messages = server.request("r", request(follow=False, tail=2), state("RUNNING"))
    assert kinds(messages) == ["logsRequestAccepted", "logEntriesResponse", "logsStopResponse"]
    accepted = messages[0].response.logsRequestAccepted.workloadNames
    assert [name.workloadName for name in accepted] == ["nginx"]
    assert [e.message for e in messages[1].response.logEntriesResponse.logEntries] == ["2", "3"]
    assert server.campaigns == {}


def test_a_follow_gets_new_lines_until_the_container_ends() -> None:
    """With follow, printed lines go to the campaign; a restart (not running) stops it."""
    server = LogServer()
    server.request("r", request(follow=True, tail=0), state("RUNNING"))
    assert kinds(server.print_lines(KEY, ["live"])) == ["logEntriesResponse"]
    assert kinds(server.changed(state("FAILED"))) == ["logsStopResponse"]
    assert server.campaigns == {}
    assert server.print_lines(KEY, ["after"]) == []


def test_an_instance_without_a_container_gets_nothing() -> None:
    """A pending instance has no container: no entries and no stop, only the accepted answer."""
    server = LogServer()
    server.print_lines(KEY, ["old"])
    messages = server.request("r", request(follow=True), state("PENDING"))
    assert kinds(messages) == ["logsRequestAccepted"]


class _Printing:
    """A stand-in for the simulator that records what is printed."""

    def __init__(self, execution: str) -> None:
        self.execution = execution
        self.printed: list[tuple[str, ...]] = []

    def instances(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        return {KEY: (self.execution, "x"), ("hpc2", "radio", IID): ("RUNNING", "x")}

    def print_lines(self, agent: str, workload: str, iid: str, *lines: str) -> None:
        self.printed.append((agent, workload, iid, *lines))


@pytest.mark.parametrize(("execution", "printed"), [("RUNNING", True), ("FAILED", False)])
def test_scenario_workloads_print_only_while_running(execution: str, *, printed: bool) -> None:
    """A `[logs.nginx]` table prints its lines in turn from each running nginx instance."""
    printers = parse_printers({"logs": {"nginx": {"lines": ["a", "b"], "every": 1.5}}})
    sim = _Printing(execution)
    ticker = PrintTicker(sim, printers, 1.0, threading.Event())
    for elapsed in (1.0, 1.5, 2.9, 3.0, 4.5):
        ticker.tick(elapsed)
    if printed:
        assert sim.printed == [(*KEY, "a"), (*KEY, "b"), (*KEY, "a")]
    else:
        assert sim.printed == []


def test_a_bad_logs_table_is_named() -> None:
    """A `[logs.x]` table without lines is refused naming it."""
    with pytest.raises(ValueError, match=r"logs\.x: 'lines' must be a non-empty list of strings"):
        parse_printers({"logs": {"x": {"every": 1}}})


def test_a_campaign_ends_with_the_task_that_asked() -> None:
    """A follow asked by task 1 is gone for task 2 (an agent restart or a server reconnect)."""
    server = LogServer()
    asked = _ank_base.Request(requestId="r", logsRequest=request(follow=True))
    server.answer(asked, state("RUNNING"), 1)
    server.clear(1)
    assert list(server.campaigns) == ["r"]
    server.clear(2)
    assert server.campaigns == {}
    cancel = _ank_base.Request(requestId="r", logsCancelRequest=_ank_base.LogsCancelRequest())
    assert kinds(server.answer(cancel, state("RUNNING"), 2)) == ["logsCancelAccepted"]
