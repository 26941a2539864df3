"""The dashboard screen rendered as text: states, glyphs, sorting, stale marks, counts, speed."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from rich.console import Console

from bridge.core.model import SUBSTATES
from bridge.dashboard.document import format_document, snapshot_document
from bridge.dashboard.events import Connected, Disconnected, Event, Received, SnapshotEnd
from bridge.dashboard.screen import build_screen
from bridge.dashboard.selection import Selection, format_memory
from bridge.dashboard.table import format_age, substate_name
from bridge.dashboard.tree import View
from bridge.dashboard.view import apply_all

_PLAIN = re.compile(r"\x1b\[[0-9;]*m")
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
BROKER = "mqtt.example:1883"


def status(agent: str, workload: str, iid: str, substate: str, ago: timedelta) -> Received:
    """Return the retained `status` message of one instance, in its state since `ago`."""
    state = next(name for name, subs in SUBSTATES.items() if substate in subs)
    since = (NOW - ago).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = (
        f'{{"state":"{state}","substate":"{substate}","agent":"{agent}",'
        f'"workload":"{workload}","id":"{iid}","since":"{since}"}}'
    )
    return Received(
        NOW, f"ankaios/{agent}/{workload}/{iid}/status", payload.encode(), retained=True
    )


def state(agent: str, workload: str, iid: str, name: str) -> Received:
    """Return the retained `state` message of one instance."""
    return Received(NOW, f"ankaios/{agent}/{workload}/{iid}/state", name.encode(), retained=True)


def agent(name: str, cpu: int | None, memory: int | None, tags: str = "{}") -> Received:
    """Return the retained `$agent/status` message of one connected agent."""
    payload = (
        f'{{"agent":"{name}","cpuUsage":{"null" if cpu is None else cpu},'
        f'"freeMemory":{"null" if memory is None else memory},"tags":{tags},'
        f'"since":"2026-11-28T11:00:00.000Z"}}'
    )
    return Received(NOW, f"ankaios/{name}/$agent/status", payload.encode(), retained=True)


def view_of(*messages: Event, bridge: bytes = b"online", ankaios: bytes = b"connected") -> View:
    """Return the view after a snapshot holding `messages` and the bridge's own topics."""
    bridge_status = Received(NOW, "ankaios/$bridge/status", bridge, retained=True)
    link = Received(NOW, "ankaios/$bridge/ankaios", ankaios, retained=True)
    events = [Connected(NOW), *messages, bridge_status, link, SnapshotEnd(NOW)]
    return apply_all(View("ankaios"), events)


def render(view: View, now: datetime = NOW, width: int = 120) -> list[str]:
    """Return the screen as plain-text lines."""
    out = StringIO()
    Console(width=width, color_system=None, file=out).print(build_screen(view, BROKER, now))
    return out.getvalue().splitlines()


def every_state() -> View:
    """Return a view with one instance in each execution state, inserted out of order."""
    s = timedelta(seconds=1)
    return view_of(
        status("hpc2", "web", "4" * 64, "STOPPING_WAITING_TO_STOP", 1 * s),
        status("hpc1", "nginx", "0" * 64, "RUNNING_OK", 42 * s),
        status("hpc2", "db", "2" * 64, "FAILED_EXEC_FAILED", timedelta(hours=2, minutes=1)),
        status("hpc1", "api", "1" * 64, "PENDING_STARTING_FAILED", 185 * s),
        status("hpc1", "api", "5" * 64, "PENDING_WAITING_TO_START", 3 * s),
        status("hpc2", "job", "3" * 64, "SUCCEEDED_OK", timedelta(days=3, hours=1)),
        status("", "orphan", "6" * 64, "NOT_SCHEDULED", 9 * s),
        status("edge", "cam", "7" * 64, "AGENT_DISCONNECTED", 70 * s),
        state("edge", "only-state", "8" * 64, "RUNNING"),
        state("edge", "unknown", "9" * 64, "UNKNOWN"),
        agent("hpc1", 12, 8_123_456_789, '{"zone":"front","tier":"a"}'),
        agent("hpc2", None, None),
    )


AGENT_LINES = [
    "AGENT         WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
    "edge (gone)   3           -           -             -",
    "hpc1          3           12%         7.6 GiB       tier=a,zone=front",
    "hpc2          3           -           -             -",
    "",
]
FIRST_ROW = 1 + len(AGENT_LINES) + 2


def test_every_state_has_a_name_and_a_glyph_sorted_by_agent_workload_id() -> None:
    """Each instance is one whole line; the glyph carries the state without colour."""
    assert render(every_state(), width=200) == [
        f"broker {BROKER} · connected · bridge online · ankaios connected",
        *AGENT_LINES,
        "AGENT             WORKLOAD     ID         STATE                 SUBSTATE             SINCE         ADDITIONAL INFO",
        "─" * 114,
        "(not scheduled)   orphan       66666666   ○ NotScheduled        NotScheduled         9s ago",
        "edge              cam          77777777   ? AgentDisconnected   AgentDisconnected    1m 10s ago",
        "edge              only-state   88888888   ● Running             -                    -",
        "edge              unknown      99999999   ▼ Unknown             -                    -",
        "hpc1              api          11111111   ◐ Pending             StartingFailed       3m 05s ago",
        "hpc1              api          55555555   ◐ Pending             WaitingToStart       3s ago",
        "hpc1              nginx        00000000   ● Running             Ok                   42s ago",
        "hpc2              db           22222222   ✗ Failed              ExecFailed           2h 01m ago",
        "hpc2              job          33333333   ✓ Succeeded           Ok                   3d 01h ago",
        "hpc2              web          44444444   ◑ Stopping            WaitingToStop        1s ago",
        (
            "10 workloads · 2 running · 2 pending · 1 stopping · 1 succeeded · 1 failed · "
            "1 not scheduled · 1 agent disconnected · 1 unknown"
        ),
    ]


def test_colours_follow_the_state() -> None:
    """Running is green, Failed bold red, Pending red when starting failed, yellow otherwise."""
    out = StringIO()
    console = Console(width=120, color_system="standard", force_terminal=True, file=out)
    console.print(build_screen(every_state(), BROKER, NOW))
    text = out.getvalue()
    rows = text.splitlines()[FIRST_ROW : FIRST_ROW + 10]
    lines = {line.split()[2]: line for line in rows}
    assert "\x1b[32m● Running" in lines["00000000"]
    assert "\x1b[1;31m✗ Failed" in lines["22222222"]
    assert "\x1b[31m◐ Pending" in lines["11111111"]
    assert "\x1b[33m◐ Pending" in lines["55555555"]


def test_no_color_keeps_the_glyphs() -> None:
    """With NO_COLOR the output has no colour codes, and the glyphs still tell the states."""
    out = StringIO()
    console = Console(width=120, force_terminal=True, no_color=True, file=out)
    console.print(build_screen(every_state(), BROKER, NOW))
    text = out.getvalue()
    assert "\x1b[3" not in text
    assert "✗ Failed" in text
    assert "● Running" in text


def test_a_narrow_terminal_cuts_lines_instead_of_wrapping_them() -> None:
    """Every instance stays on one line, cut at the terminal's width."""
    lines = render(every_state(), width=50)
    assert lines[FIRST_ROW + 1 : FIRST_ROW + 3] == [
        "(not scheduled)   orphan       66666666   ○ NotSch",
        "edge              cam          77777777   ? AgentD",
    ]
    assert lines[4] == "hpc1          3           12%         7.6 GiB     "
    # Header and summary wrap; agent lines and rows never do.
    assert len(lines) == 2 + len(AGENT_LINES) + 2 + 10 + 3


def test_broker_loss_marks_the_table_stale_with_the_time() -> None:
    """While the broker is unreachable the header says since when the table may be stale."""
    view = apply_all(every_state(), [Disconnected(NOW, "Connection refused")])
    lines = render(view, NOW + timedelta(seconds=35))
    assert lines[:2] == [
        f"broker {BROKER} · reconnecting (Connection refused) · bridge online · ankaios connected",
        "STALE since 12:00:00 (35s ago): broker unreachable",
    ]
    nginx = "hpc1              nginx        00000000   ● Running             Ok                   1m 17s ago"
    assert nginx in lines


def test_offline_bridge_in_the_snapshot_is_stale_since_before_the_snapshot() -> None:
    """A bridge that was offline before the dashboard came marks the data stale, time unknown."""
    view = view_of(status("hpc1", "nginx", "0" * 64, "RUNNING_OK", timedelta(0)), bridge=b"offline")
    assert render(view)[:2] == [
        f"broker {BROKER} · connected · bridge offline · ankaios connected",
        "STALE since before 12:00:00: bridge offline",
    ]


def test_ankaios_disconnected_marks_the_table_stale_with_the_time() -> None:
    """While the bridge says it lost Ankaios the table is stale since that message."""
    later = NOW + timedelta(seconds=3)
    lost = Received(later, "ankaios/$bridge/ankaios", b"disconnected", retained=False)
    view = apply_all(every_state(), [lost])
    assert render(view, later + timedelta(seconds=7), width=200)[:2] == [
        f"broker {BROKER} · connected · bridge online · ankaios disconnected",
        "STALE since 12:00:03 (7s ago): bridge disconnected from Ankaios",
    ]
    back = Received(later, "ankaios/$bridge/ankaios", b"connected", retained=False)
    assert render(apply_all(view, [back]), later, width=200)[0].endswith("ankaios connected")


def test_ankaios_disconnected_in_the_snapshot_is_stale_since_before_it() -> None:
    """A bridge already cut off from Ankaios when the dashboard came marks the data stale, time unknown."""
    view = view_of(
        status("hpc1", "nginx", "0" * 64, "RUNNING_OK", timedelta(0)), ankaios=b"disconnected"
    )
    assert render(view)[1] == "STALE since before 12:00:00: bridge disconnected from Ankaios"


def test_ignored_messages_are_counted_in_the_header() -> None:
    """Rogue messages under the prefix show up as a count, not as rows."""
    junk = [Received(NOW, "ankaios/junk", b"x", retained=True), state("a", "w", "i", "EXPLODED")]
    lines = render(view_of(*junk))
    assert (
        lines[0] == f"broker {BROKER} · connected · bridge online · ankaios connected · ignored: 2"
    )
    assert lines[-1] == "0 workloads"


def test_before_the_snapshot_the_header_says_what_is_going_on() -> None:
    """While connecting the header shows the last failure; while loading it says loading."""
    failing = apply_all(View("ankaios"), [Disconnected(NOW, "Name or service not known")])
    assert render(failing)[0] == (
        f"broker {BROKER} · connecting (Name or service not known) · bridge unknown · ankaios unknown"
    )
    loading = apply_all(View("ankaios"), [Connected(NOW)])
    assert render(loading)[0] == f"broker {BROKER} · loading · bridge unknown · ankaios unknown"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s ago"),
        (59, "59s ago"),
        (60, "1m 00s ago"),
        (3599, "59m 59s ago"),
        (3600, "1h 00m ago"),
        (86399, "23h 59m ago"),
        (86400 * 12 + 3600 * 5, "12d 05h ago"),
        (-30, "0s ago"),
    ],
)
def test_age_is_as_precise_as_a_glance_needs(seconds: int, text: str) -> None:
    """Ages count seconds, then minutes, hours and days; a clock skew never goes negative."""
    assert format_age(NOW - timedelta(seconds=seconds), NOW) == text


@pytest.mark.parametrize(
    ("state_name", "substate", "text"),
    [
        ("RUNNING", "RUNNING_OK", "Ok"),
        ("PENDING", "PENDING_STARTING_FAILED", "StartingFailed"),
        ("STOPPING", "STOPPING", "Stopping"),
        ("STOPPING", "STOPPING_REQUESTED_AT_RUNTIME", "RequestedAtRuntime"),
        ("AGENT_DISCONNECTED", "AGENT_DISCONNECTED", "AgentDisconnected"),
        ("FAILED", "UNKNOWN", "Unknown"),
    ],
)
def test_substates_read_like_ank_prints_them(state_name: str, substate: str, text: str) -> None:
    """Sub-states drop their state's prefix and read in CamelCase, as in `ank get workloads`."""
    assert substate_name(state_name, substate) == text


@pytest.fixture(scope="module")
def ten_thousand() -> View:
    """Return a view holding 10,000 running instances spread over 50 agents."""
    events: list[Event] = []
    for index in range(10_000):
        ago = timedelta(seconds=index)
        events.append(
            status(
                f"agent{index % 50}", f"wl-{index}", f"{index:08x}" + "0" * 56, "RUNNING_OK", ago
            )
        )
    return view_of(*events)


def test_a_terminal_sized_redraw_of_10000_instances_fits_the_terminal(ten_thousand: View) -> None:
    """The live redraw sorts all 10,000 instances but draws only what fits the terminal (its speed is a benchmark)."""
    out = StringIO()
    console = Console(width=160, height=50, color_system="truecolor", force_terminal=True, file=out)
    console.print(build_screen(ten_thousand, BROKER, NOW, console.height))
    lines = [_PLAIN.sub("", line) for line in out.getvalue().splitlines()]
    assert len(lines) <= console.height
    # The agents take at most about half of the terminal.
    assert lines[1:3] == [
        "AGENT            WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
        "agent0 (gone)    200         -           -             -",
    ]
    assert lines[21:23] == ["… 31 more agents", ""]
    assert lines[-2] == "… 9978 more"


def test_printing_all_10000_instances_prints_every_row(ten_thousand: View) -> None:
    """`--once` prints all 10,000 instances, one line each (its speed is measured by the benchmarks)."""
    out = StringIO()
    console = Console(width=4096, color_system=None, file=out)
    console.print(build_screen(ten_thousand, BROKER, NOW), crop=False)
    assert len(out.getvalue().splitlines()) == 1 + (1 + 50 + 1) + 2 + 10_000 + 1


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1_572_864, "1.5 MiB"),
        (8_123_456_789, "7.6 GiB"),
        (1024**3 - 1, "1.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
    ],
)
def test_free_memory_reads_in_1024_based_units(size: int | None, text: str) -> None:
    """Free memory shows in B, KiB, MiB, GiB, TiB with one decimal, `-` while unknown."""
    assert format_memory(size) == text


def test_a_cleared_agent_is_marked_gone_and_loses_its_load() -> None:
    """An agent whose status is cleared while watching keeps a line, marked gone, without load."""
    cleared = Received(NOW, "ankaios/hpc1/$agent/status", b"", retained=False)
    lines = render(apply_all(every_state(), [cleared]), width=200)
    assert lines[1:6] == [
        "AGENT         WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
        "edge (gone)   3           -           -             -",
        "hpc1 (gone)   3           -           -             -",
        "hpc2          3           -           -             -",
        "",
    ]


INFO = "exec failed: image not found\nsee `podman pull`\t" + "x" * 990 + "…"


def with_info() -> View:
    """Return a view of two instances, the failed one with a 1,001-character additional info."""
    failed = status("hpc1", "api", "1" * 64, "PENDING_STARTING_FAILED", timedelta(seconds=5))
    payload = failed.payload.replace(
        b'"since"', b'"additionalInfo":' + json.dumps(INFO).encode() + b',"since"'
    )
    return view_of(
        replace(failed, payload=payload),
        status("hpc1", "nginx", "0" * 64, "RUNNING_OK", timedelta(seconds=7)),
    )


def test_additional_info_is_cut_at_the_terminal_edge() -> None:
    """In a terminal the ADDITIONAL INFO column ends in `…` at the right edge, one line per instance."""
    lines = render(with_info(), width=120)
    assert lines[4:8] == [
        "AGENT   WORKLOAD   ID         STATE                 SUBSTATE             SINCE         ADDITIONAL INFO",
        "─" * 120,
        "hpc1    api        11111111   ◐ Pending             StartingFailed       5s ago        exec failed: image not found see…",
        "hpc1    nginx      00000000   ● Running             Ok                   7s ago",
    ]


def test_additional_info_is_printed_whole_when_the_output_is_wide() -> None:
    """`--once` output (4096 columns) holds the whole text, line breaks and tabs as spaces."""
    lines = render(with_info(), width=4096)
    whole = INFO.replace("\n", " ").replace("\t", " ")
    assert lines[6] == (
        "hpc1    api        11111111   ◐ Pending             StartingFailed       5s ago        "
        + whole
    )


def test_a_new_state_name_does_not_move_the_columns() -> None:
    """STATE, SUBSTATE and SINCE are as wide as their longest value, so a change never widens them."""
    nginx = status("hpc1", "nginx", "0" * 64, "RUNNING_OK", timedelta(seconds=7))
    before = render(view_of(nginx), width=200)
    lost = status("hpc1", "nginx", "0" * 64, "AGENT_DISCONNECTED", timedelta(days=12, hours=5))
    after = render(apply_all(view_of(nginx), [replace(lost, retained=False)]), width=200)
    heading = "AGENT   WORKLOAD   ID         STATE                 SUBSTATE             SINCE         ADDITIONAL INFO"
    assert (before[4], after[4]) == (heading, heading)
    assert (
        before[6]
        == "hpc1    nginx      00000000   ● Running             Ok                   7s ago"
    )
    assert after[6] == (
        "hpc1    nginx      00000000   ? AgentDisconnected   AgentDisconnected    12d 05h ago"
    )


def test_filters_select_instances_and_agent_lines() -> None:
    """`--agent` keeps only those agents' lines and instances, `--state` only those states."""
    out = StringIO()
    selection = Selection(agents=("hpc2", "edge"), states=("RUNNING", "FAILED"))
    screen = build_screen(every_state(), BROKER, NOW, selection=selection)
    Console(width=200, color_system=None, file=out).print(screen)
    assert out.getvalue().splitlines()[1:] == [
        "AGENT         WORKLOADS   CPU USAGE   FREE MEMORY   TAGS",
        "edge (gone)   3           -           -             -",
        "hpc2          3           -           -             -",
        "",
        "AGENT   WORKLOAD     ID         STATE                 SUBSTATE             SINCE         ADDITIONAL INFO",
        "─" * 104,
        "edge    only-state   88888888   ● Running             -                    -",
        "hpc2    db           22222222   ✗ Failed              ExecFailed           2h 01m ago",
        "2 workloads · 1 running · 1 failed",
    ]


def test_the_json_document_holds_the_selected_snapshot() -> None:
    """The document has the bridge's topics, the selected agents and instances, with these keys."""
    info = Received(
        NOW, "ankaios/$bridge/info", b'{"version":"0.2.0","instances":10}', retained=True
    )
    view = apply_all(every_state(), [info])
    document = snapshot_document(view, BROKER, Selection(agents=("hpc1",), states=("PENDING",)))
    assert json.loads(format_document(document)) == {
        "broker": BROKER,
        "connection": "connected",
        "stale": None,
        "ignored": 0,
        "bridge": {
            "status": "online",
            "ankaios": "connected",
            "info": {"version": "0.2.0", "instances": 10},
        },
        "agents": [
            {
                "name": "hpc1",
                "gone": False,
                "workloads": 3,
                "cpuUsage": 12,
                "freeMemory": 8_123_456_789,
                "tags": {"tier": "a", "zone": "front"},
                "since": "2026-11-28T11:00:00.000Z",
            }
        ],
        "instances": [
            {
                "agent": "hpc1",
                "workload": "api",
                "id": "1" * 64,
                "state": "PENDING",
                "substate": "PENDING_STARTING_FAILED",
                "additionalInfo": "",
                "since": "2026-11-28T11:56:55.000Z",
            },
            {
                "agent": "hpc1",
                "workload": "api",
                "id": "5" * 64,
                "state": "PENDING",
                "substate": "PENDING_WAITING_TO_START",
                "additionalInfo": "",
                "since": "2026-11-28T11:59:57.000Z",
            },
        ],
    }


def test_the_json_document_shows_gone_agents_and_state_only_instances() -> None:
    """A gone agent has null load; an instance with only its `state` topic has null sub-state and since."""
    document = snapshot_document(
        every_state(), BROKER, Selection(agents=("edge",), states=("RUNNING",))
    )
    assert document["agents"] == [
        {
            "name": "edge",
            "gone": True,
            "workloads": 3,
            "cpuUsage": None,
            "freeMemory": None,
            "tags": {},
            "since": None,
        }
    ]
    assert document["instances"] == [
        {
            "agent": "edge",
            "workload": "only-state",
            "id": "8" * 64,
            "state": "RUNNING",
            "substate": None,
            "additionalInfo": "",
            "since": None,
        }
    ]


def test_an_empty_agent_filter_selects_the_unscheduled_instances() -> None:
    """`--agent ''` shows the instances without an agent and no agent line."""
    document = snapshot_document(every_state(), BROKER, Selection(agents=("",)))
    assert document["agents"] == []
    assert [i["workload"] for i in document["instances"]] == ["orphan"]  # type: ignore[attr-defined]


def info_message(**extra: object) -> Received:
    """Return a retained `$bridge/info` with `extra` keys (the rest does not matter here)."""
    document = {"version": "0.1.0", "warnings": [], **extra}
    return Received(NOW, "ankaios/$bridge/info", json.dumps(document).encode(), retained=True)


def test_an_offline_bridge_that_had_to_stop_shows_why_in_the_header() -> None:
    """While the bridge is offline the header says when and why it stopped and what to do."""
    stopped = {
        "reason": "the FIFOs are gone",
        "advice": "re-create the workload",
        "at": "2026-12-01T11:59:58.000Z",
        "recreate": True,
    }
    view = view_of(info_message(stopped=stopped), bridge=b"offline", ankaios=b"disconnected")
    assert render(view, width=200)[:3] == [
        f"broker {BROKER} · connected · bridge offline · ankaios disconnected",
        "STALE since before 12:00:00: bridge offline",
        "STOPPED at 2026-12-01T11:59:58.000Z: the FIFOs are gone; re-create the workload",
    ]


def test_a_running_bridge_shows_its_warnings_in_the_header() -> None:
    """Each warning of a running bridge is one header line; none while it has none."""
    view = view_of(info_message(warnings=["renew the workload\nsoon"]))
    assert render(view, width=200)[:2] == [
        f"broker {BROKER} · connected · bridge online · ankaios connected",
        "WARNING: renew the workload soon",
    ]
    assert not any(
        line.startswith("WARNING") for line in render(view_of(info_message()), width=200)
    )
