"""The benchmark command's own logic (pure): protocol rows, the surplus check, --protocols.

The benchmark itself is not part of the test command (it takes minutes and its
figures depend on the machine); these checks keep its table honest.
"""

from __future__ import annotations

import argparse

import pytest

from benchmarks.phases import Plan, SessionResult, surplus
from benchmarks.rows import LARGE, SMALL, Pairs, Runs, problems, rows
from benchmarks.run import protocol_list
from bridge.mqtt.version import MQTT5, MQTT311


def _pairs(instances: int, protocol: str, sync: float, *, problem: str = "") -> Pairs:
    bridge = SessionResult(
        "bridge",
        instances,
        protocol,
        sync_s=sync,
        startup_s=0.1,
        throughput=8000.0,
        latencies_ms=(0.5, 1.0) if protocol == MQTT5 else (),
        peak_rss_kib=50 * 1024,
        problems=(problem,) if problem else (),
    )
    raw = SessionResult(
        "raw", instances, protocol, sync_s=1.0, throughput=10000.0, peak_rss_kib=70 * 1024
    )
    return [(bridge, raw)]


def _runs(*, problem: str = "") -> Runs:
    return {
        MQTT5: (_pairs(SMALL, MQTT5, 1.1), _pairs(LARGE, MQTT5, 1.2)),
        MQTT311: (_pairs(SMALL, MQTT311, 1.3), _pairs(LARGE, MQTT311, 1.4, problem=problem)),
    }


def test_every_protocol_gets_its_sync_throughput_and_rss_rows_latency_only_the_first() -> None:
    """Rows are grouped by figure with one row per protocol; latencies only for the first."""
    figures = [row.figure for row in rows(_runs(), Plan(SMALL, burst=2000, paced=300))]
    for kind in ("initial sync, 1,000", "initial sync, 10,000", "throughput", "peak RSS"):
        named = [figure for figure in figures if figure.startswith(kind)]
        assert [figure.rsplit(" (", 1)[1] for figure in named] == ["MQTT 5)", "MQTT 3.1.1)"]
    latency = [figure for figure in figures if figure.startswith("latency")]
    assert len(latency) == 3
    assert all(figure.endswith("(MQTT 5)") for figure in latency)


def test_the_targets_apply_under_both_protocols() -> None:
    """The sync target (≤ 1.25x raw) is judged per protocol, on that protocol's ratio."""
    table = {row.figure: row for row in rows(_runs(), Plan(SMALL, burst=2000, paced=300))}
    assert table["initial sync, 10,000 instances (MQTT 5)"].met is True
    assert table["initial sync, 10,000 instances (MQTT 3.1.1)"].met is False
    assert table["throughput, 2,000 changes back to back (1,000 instances) (MQTT 3.1.1)"].met


def test_problems_name_the_protocol() -> None:
    """A problem says under which MQTT version it happened."""
    assert problems(_runs(problem="initial sync: hang (3)")) == [
        "repetition 1, 10k, MQTT 3.1.1, bridge: initial sync: hang (3)"
    ]


def test_a_surplus_of_state_messages_is_a_problem() -> None:
    """More `state` messages than a phase causes would have ended it early."""
    assert surplus("throughput", 2000, 2000) is None
    assert surplus("throughput", 1999, 2000) is None
    assert surplus("throughput", 2003, 2000) == (
        "throughput: 3 state messages more than the 2000 expected"
    )


def test_protocols_option() -> None:
    """`--protocols` takes the versions the bridge knows, each once, in the order given."""
    assert protocol_list("3.1.1, 5") == (MQTT311, MQTT5)
    assert protocol_list("5") == (MQTT5,)
    for wrong in ("auto", "5,5", "", "4"):
        with pytest.raises(argparse.ArgumentTypeError):
            protocol_list(wrong)
