"""The watchdog's decisions (bridge.watchdog.rules), with times passed in and no broker."""

from __future__ import annotations

import json

import pytest

from bridge.watchdog.ank import listed, tail
from bridge.watchdog.rules import (
    BadPayloadError,
    Hold,
    Limits,
    Recreate,
    Refuse,
    Stopped,
    Watchdog,
    describe,
    read_status,
    read_stopped,
)

GONE = Stopped(
    "the control interface is gone",
    "re-create the workload",
    "2026-12-07T16:01:02.345Z",
    recreate=True,
)
DENIED = Stopped(
    "Ankaios denied reading 'x'", "add the rule", "2026-12-07T16:05:00.000Z", recreate=False
)
LIMITS = Limits(max_per_hour=4, first_wait=10.0, max_wait=300.0)


def stop_at(at: str) -> Stopped:
    """A stop that re-creating fixes, at `at`."""
    return Stopped("the control interface is gone", "re-create the workload", at, recreate=True)


def stopped_bridge(dog: Watchdog, stopped: Stopped | None, now: float) -> object:
    """A running bridge's farewell as it arrives: info (with `stopped`) first, then `offline`."""
    dog.heard_status("online", now)
    dog.heard_stopped(stopped)
    assert dog.decide(now) is None
    dog.heard_status("offline", now)
    return dog.decide(now)


def test_offline_with_a_stop_that_recreating_fixes_recreates() -> None:
    """`offline` after an info with `stopped.recreate` true asks for a re-creation, with the stop."""
    dog = Watchdog(LIMITS)
    dog.heard_status("online", 0.0)
    assert stopped_bridge(dog, GONE, 1.0) == Recreate(GONE, 1)


def test_a_clean_stop_and_a_killed_bridge_are_left_alone() -> None:
    """`offline` with an info without `stopped` (a SIGTERM, or the will of a killed bridge) asks for nothing."""
    dog = Watchdog(LIMITS)
    dog.heard_status("online", 0.0)
    assert stopped_bridge(dog, None, 1.0) is None
    assert dog.wake is None


def test_a_stop_that_recreating_does_not_fix_is_refused_once() -> None:
    """`recreate: false` gives one refusal naming the advice, and nothing more for the same stop."""
    dog = Watchdog(LIMITS)
    decision = stopped_bridge(dog, DENIED, 1.0)
    assert decision == Refuse(DENIED)
    assert isinstance(decision, Refuse)
    assert describe(decision, "mqtt_bridge", 1.0) == (
        "not re-creating workload mqtt_bridge: that would not help; a person must act: "
        "add the rule; the bridge stopped at 2026-12-07T16:05:00.000Z: Ankaios denied reading 'x'"
    )
    dog.heard_status("offline", 2.0)
    assert dog.decide(2.0) is None


def test_the_same_stop_heard_again_is_not_acted_on_twice() -> None:
    """The retained pair again (a broker reconnect) after a re-creation of that stop asks for nothing."""
    dog = Watchdog(LIMITS)
    assert stopped_bridge(dog, GONE, 1.0) == Recreate(GONE, 1)
    dog.finished(GONE, 2.0, ok=True)
    dog.heard_stopped(GONE)
    dog.heard_status("offline", 500.0)
    assert dog.decide(500.0) is None


def test_a_retained_stop_found_at_start_is_acted_on() -> None:
    """A watchdog that starts after the bridge stopped acts on the retained pair, in either order."""
    for first_status in (True, False):
        dog = Watchdog(LIMITS)
        if first_status:
            dog.heard_status("offline", 0.0)
            assert dog.decide(0.0) is None
            dog.heard_stopped(GONE)
        else:
            dog.heard_stopped(GONE)
            assert dog.decide(0.0) is None
            dog.heard_status("offline", 0.0)
        assert dog.decide(0.0) == Recreate(GONE, 1)


def test_the_wait_between_recreations_doubles_up_to_its_cap() -> None:
    """After each re-creation the next waits 10, 20, 40 ... s, capped at 300; a stop meanwhile is held once, then re-created on time."""
    dog = Watchdog(Limits(max_per_hour=100, first_wait=10.0, max_wait=300.0))
    now = 0.0
    waits = []
    for n in range(7):
        stop = stop_at(f"t{n}")
        decision = stopped_bridge(dog, stop, now)
        if isinstance(decision, Hold):
            assert not decision.limited
            assert dog.wake == decision.until
            assert dog.decide(now) is None  # said once
            now = decision.until
            decision = dog.decide(now)
        assert decision == Recreate(stop, n + 1)
        waits.append(dog.finished(stop, now, ok=True))
        now += 1.0
    assert waits == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]


def test_the_wait_starts_over_after_a_bridge_online_for_the_cap() -> None:
    """A bridge online for `max_wait` seconds after a re-creation is re-created at once at its next stop."""
    dog = Watchdog(LIMITS)
    assert stopped_bridge(dog, stop_at("a"), 0.0) == Recreate(stop_at("a"), 1)
    dog.finished(stop_at("a"), 1.0, ok=True)
    dog.heard_status("online", 5.0)
    assert stopped_bridge(dog, stop_at("b"), 305.0) == Recreate(stop_at("b"), 2)
    assert dog.finished(stop_at("b"), 306.0, ok=True) == 10.0
    dog.heard_status("online", 310.0)
    # Online for 2 s only: the wait after "b" (10 s) holds "c".
    assert stopped_bridge(dog, stop_at("c"), 312.0) == Hold(stop_at("c"), 316.0, limited=False)


def test_the_hourly_limit_holds_with_one_line_then_acts_when_the_hour_has_room() -> None:
    """Past `max_per_hour` re-creations within an hour, one Hold (limited) and no action until the oldest is an hour old."""
    dog = Watchdog(Limits(max_per_hour=2, first_wait=0.0, max_wait=0.0))
    for n, now in enumerate((0.0, 100.0)):
        assert stopped_bridge(dog, stop_at(f"s{n}"), now) == Recreate(stop_at(f"s{n}"), n + 1)
        dog.finished(stop_at(f"s{n}"), now, ok=True)
    held = stopped_bridge(dog, stop_at("s2"), 200.0)
    assert held == Hold(stop_at("s2"), 3600.0, limited=True, count=2)
    assert isinstance(held, Hold)
    assert describe(held, "mqtt_bridge", 200.0).startswith(
        "not re-creating workload mqtt_bridge: the limit of 2 re-creations within an hour "
        "(--max-recreations) is reached; next possible in 3400 s; the bridge stopped at s2: "
    )
    dog.heard_status("offline", 300.0)
    assert dog.decide(300.0) is None
    assert dog.wake == 3600.0
    assert dog.decide(3599.9) is None
    assert dog.decide(3600.0) == Recreate(stop_at("s2"), 2)


def test_a_failed_recreation_is_tried_again_after_the_wait() -> None:
    """A re-creation whose `ank` failed is retried once its wait is over, for the same stop, without a second line."""
    dog = Watchdog(LIMITS)
    assert stopped_bridge(dog, GONE, 0.0) == Recreate(GONE, 1)
    assert dog.finished(GONE, 1.0, ok=False) == 10.0
    assert dog.wake == 11.0
    assert dog.decide(5.0) is None
    assert dog.decide(11.0) == Recreate(GONE, 2)


def test_an_online_bridge_is_never_recreated() -> None:
    """A stop in the info while the status says `online` (a new bridge before its info) asks for nothing."""
    dog = Watchdog(LIMITS)
    dog.heard_status("online", 0.0)
    dog.heard_stopped(GONE)
    assert dog.decide(0.0) is None


def test_status_and_info_payloads_are_read_strictly() -> None:
    """`online`/`offline` and an info document's `stopped` are read; anything else is a one-line BadPayloadError."""
    assert read_status(b"offline") == "offline"
    assert read_status(b"") is None
    with pytest.raises(
        BadPayloadError, match=r"^'gone' is not a status; expected online or offline$"
    ):
        read_status(b"gone")
    info = {
        "version": "0.1.0",
        "warnings": [],
        "stopped": {"reason": "r", "advice": "a", "at": "t", "recreate": True},
    }
    assert read_stopped(json.dumps(info).encode()) == Stopped("r", "a", "t", recreate=True)
    assert read_stopped(b'{"version":"0.1.0","warnings":[]}') is None
    assert read_stopped(b"") is None
    with pytest.raises(BadPayloadError, match="is not JSON"):
        read_stopped(b"{nope")
    with pytest.raises(BadPayloadError, match='has a "stopped" of another shape'):
        read_stopped(b'{"stopped":{"reason":"r","advice":"a","at":"t","recreate":"yes"}}')


def test_the_workload_table_is_read_by_its_columns() -> None:
    """`ank get workloads` lists a workload by its first column; a `Removed` row or another name is not it."""
    table = (
        "WORKLOAD NAME         AGENT     RUNTIME   EXECUTION STATE   ADDITIONAL INFO\n"
        "ankaios_mqtt_bridge   agent_A   podman    Running(Ok)                      \n"
        "mqtt_bridge           agent_A             Removed                          \n"
        "nginx                 agent_B   podman    Pending(Starting)   mqtt_bridge  "
    )
    assert listed(table, "ankaios_mqtt_bridge")
    assert not listed(table, "mqtt_bridge")
    assert listed(table, "nginx")
    assert not listed(table, "agent_A")
    assert not listed(
        "WORKLOAD NAME   AGENT   RUNTIME   EXECUTION STATE   ADDITIONAL INFO", "nginx"
    )
    # Upstream's table style (Style::blank) indents every line by one space.
    indented = "\n".join(f" {line}" for line in table.splitlines())
    assert (listed(indented, "mqtt_bridge"), listed(indented, "nginx")) == (False, True)


def test_a_commands_output_is_cut_to_one_line() -> None:
    """The end of `ank`'s stderr goes to the log on one line, cut from the front."""
    assert tail("Error: one\n\n  two  \n") == "Error: one / two"
    assert tail("x" * 400) == "…" + "x" * 300
