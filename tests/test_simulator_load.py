"""Periodic load reports and agent tags in scenarios: the walk, the ticker, parsing and playing."""

from __future__ import annotations

import io
import threading

import pytest

from bridge.simulator import AgentSimulator
from bridge.simulator.cli import build_parser, play
from bridge.simulator.load import LoadTicker, next_load
from bridge.simulator.scenario import ScenarioError, describe, parse_scenario
from tests.support.simulator import TIMEOUT, RawClient, hello, next_raw_event, subscribe

CONNECT = '[[step]]\nat = 0\naction = "connect"\nagent = "hpc1"\n'


# An empty simulated agent that allows reading everything.
pytestmark = pytest.mark.sim()


def test_load_walk_is_deterministic_bounded_and_moving() -> None:
    """The same agent and tick give the same report; values stay in range and do change."""
    walk: list[tuple[int, int]] = []
    current = None
    for tick in range(1, 200):
        current = next_load("hpc1", tick, current)
        walk.append(current)
    assert walk[:3] == [next_load("hpc1", 1, None), *walk[1:3]]
    assert next_load("hpc1", 5, (50, 4 << 30)) == next_load("hpc1", 5, (50, 4 << 30))
    assert next_load("hpc1", 1, None) != next_load("hpc2", 1, None)
    assert all(1 <= cpu <= 99 and 128 << 20 <= memory <= 32 << 30 for cpu, memory in walk)
    assert len({cpu for cpu, _ in walk}) > 10
    assert len({memory for _, memory in walk}) > 10
    assert next_load("a", 3, (99, 32 << 30))[0] <= 99
    assert next_load("a", 3, (1, 128 << 20))[0] >= 1


def test_a_tick_reports_once_for_every_connected_agent(sim: AgentSimulator) -> None:
    """Each connected agent sends its own AgentLoadStatus: one event each, walked from its last."""
    sim.connect_agent("hpc1")
    sim.connect_agent("hpc2")
    sim.set_agent_load("hpc2", 40, 2 << 30)
    with RawClient(sim.directory) as raw:
        raw.send(hello())
        raw.receive()
        subscribe(raw, "s", "agents.*")
        ticker = LoadTicker(sim, 2.0, threading.Event())
        ticker.tick()
        first, _ = next_raw_event(raw, "s")
        second, state = next_raw_event(raw, "s")
    assert first == (["agents.hpc1.status"], [], [])
    assert (second[0], second[2]) == ([], [])
    assert set(second[1]) <= {"agents.hpc2.status.cpuUsage", "agents.hpc2.status.freeMemory"}
    assert sim.agent_load("hpc1") == next_load("hpc1", 1, None)
    assert sim.agent_load("hpc2") == next_load("hpc2", 1, (40, 2 << 30))
    status = state.agents.agents["hpc2"].status
    assert status.HasField("cpu_usage") is ("agents.hpc2.status.cpuUsage" in second[1])
    assert status.HasField("free_memory") is ("agents.hpc2.status.freeMemory" in second[1])


def test_play_with_a_load_interval_keeps_reporting(sim: AgentSimulator) -> None:
    """With load_every the connected agent's load keeps changing while the scenario plays."""
    scenario = parse_scenario(CONNECT, "t.toml")
    stop = threading.Event()
    out = io.StringIO()
    player = threading.Thread(
        target=play,
        args=(scenario, sim),
        kwargs={"speed": 1.0, "loop": False, "stop": stop, "out": out, "load_every": 0.02},
    )
    player.start()
    seen: set[tuple[int, int]] = set()

    def changed_twice(s: AgentSimulator) -> bool:
        load = s.agent_load("hpc1")
        if load is not None:
            seen.add(load)
        return len(seen) >= 3

    try:
        sim.wait_for(changed_twice, TIMEOUT)
        assert "every agent" not in out.getvalue()  # main() announces it, play() does not
    finally:
        stop.set()
        player.join(TIMEOUT)
    assert not player.is_alive()


def test_without_a_load_interval_no_load_is_reported(sim: AgentSimulator) -> None:
    """The ticker is off unless asked for: a connected agent has no status."""
    stop = threading.Event()
    out = io.StringIO()
    player = threading.Thread(
        target=play,
        args=(parse_scenario(CONNECT, "t.toml"), sim),
        kwargs={"speed": 1.0, "loop": False, "stop": stop, "out": out},
    )
    player.start()
    try:
        sim.wait_for(lambda _: "scenario finished" in out.getvalue(), TIMEOUT)
        assert sim.agents() == ("hpc1",)
        assert sim.agent_load("hpc1") is None
    finally:
        stop.set()
        player.join(TIMEOUT)


def test_scenario_connect_tags_and_load_interval_parse() -> None:
    """`tags = {...}` on connect and `[load] every` are read; describe names the tags."""
    text = (
        "[load]\nevery = 2\n"
        '[[step]]\nat = 0\naction = "connect"\nagent = "hpc1"\n'
        'tags = {zone = "front", build = "2026.11.1"}\n'
        '[[step]]\nat = 1\naction = "disconnect"\nagent = "hpc1"\n'
    )
    scenario = parse_scenario(text, "t.toml")
    assert scenario.load_every == 2.0
    connect, disconnect = scenario.steps
    assert connect.tags == (("build", "2026.11.1"), ("zone", "front"))
    assert disconnect.tags == ()
    assert describe(connect) == "agent hpc1 connected (build=2026.11.1, zone=front)"
    assert describe(disconnect) == "agent hpc1 disconnected"
    assert parse_scenario(CONNECT, "t.toml").load_every is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CONNECT + 'tags = ["zone=front"]\n', "step 1: 'tags' must be a table of strings"),
        (CONNECT + "tags = {zone = 1}\n", "step 1: 'tags' must be a table of strings"),
        (
            '[[step]]\nat = 0\naction = "disconnect"\nagent = "a"\ntags = {z = "x"}\n',
            "unknown key(s) tags for 'disconnect'",
        ),
        ("[load]\nevery = 0\n" + CONNECT, "[load]: 'every' must be a number of seconds > 0"),
        ("[load]\nevery = 2\nevry = 3\n" + CONNECT, "[load] takes exactly one key"),
        ("load = 2\n" + CONNECT, "[load] takes exactly one key"),
    ],
)
def test_bad_tags_or_load_settings_name_the_problem(text: str, message: str) -> None:
    """A bad tags table or [load] table is one ScenarioError line naming it."""
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "t.toml")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_every_flag() -> None:
    """--load-every takes seconds >= 0 and defaults to the scenario's setting."""
    parser = build_parser()
    assert parser.parse_args(["--control-interface", "d"]).load_every is None
    assert parser.parse_args(["--control-interface", "d", "--load-every", "0.5"]).load_every == 0.5
    with pytest.raises(SystemExit):
        parser.parse_args(["--control-interface", "d", "--load-every", "-1"])
