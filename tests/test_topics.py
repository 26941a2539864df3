"""The topic contract and field-path parsing (pure)."""

from __future__ import annotations

import pytest

from bridge.ankaios.fieldpaths import parse_agent_path, parse_field_path
from bridge.core.topics import (
    InstanceKey,
    agent_topic,
    bridge_topic,
    instance_topic,
    parse_agent_topic,
    parse_instance_topic,
    prefix_filter,
    validate_prefix,
)

KEY = InstanceKey("hpc1", "nginx", "ab12")


def test_instance_topics_follow_the_contract() -> None:
    """State and status live at <prefix>/<agent>/<workload>/<id>/<leaf>."""
    assert instance_topic("ankaios", KEY, "state") == "ankaios/hpc1/nginx/ab12/state"
    assert instance_topic("car/1", KEY, "status") == "car/1/hpc1/nginx/ab12/status"


def test_unscheduled_instance_has_empty_agent_level() -> None:
    """A workload without an agent gets an empty agent level, and it parses back."""
    key = InstanceKey("", "maps", "cd34")
    topic = instance_topic("ankaios", key, "state")
    assert topic == "ankaios//maps/cd34/state"
    assert parse_instance_topic("ankaios", topic) == (key, "state")


def test_bridge_topics_live_under_dollar_bridge() -> None:
    """The bridge's own topics are under <prefix>/$bridge/ and never parse as an instance."""
    assert bridge_topic("ankaios", "status") == "ankaios/$bridge/status"
    assert parse_instance_topic("ankaios", "ankaios/$bridge/x/y/state") is None


@pytest.mark.parametrize(
    "topic",
    [
        "ankaios/hpc1/nginx/ab12",
        "ankaios/hpc1/nginx/ab12/state/extra",
        "ankaios/hpc1/nginx/ab12/info",
        "ankaios/hpc1//ab12/state",
        "ankaios/hpc1/nginx//status",
        "other/hpc1/nginx/ab12/state",
        "ankaiosx/hpc1/nginx/ab12/state",
    ],
)
def test_other_shapes_are_not_instance_topics(topic: str) -> None:
    """Topics of any other shape are not taken for an instance's topics."""
    assert parse_instance_topic("ankaios", topic) is None


@pytest.mark.parametrize(
    ("prefix", "problem"),
    [
        ("ankaios", None),
        ("vehicle/42/ankaios", None),
        ("", "must not be empty"),
        ("a/+", "must not contain '+'"),
        ("a/#", "must not contain '#'"),
        ("a\x00b", "must not contain '\\x00'"),
        ("/ankaios", "must not start or end with '/'"),
        ("ankaios/", "must not start or end with '/'"),
    ],
)
def test_prefix_validation(prefix: str, problem: str | None) -> None:
    """A prefix is refused when empty, with wildcards or NUL, or with an outer slash."""
    assert validate_prefix(prefix) == problem


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("workloadStates.hpc1.nginx.ab12.state", (KEY, "state")),
        ("workloadStates.hpc1.nginx.ab12.subState", (KEY, "subState")),
        ("workloadStates.hpc1.nginx.ab12.additionalInfo", (KEY, "additionalInfo")),
        ("workloadStates..maps.cd34.state", (InstanceKey("", "maps", "cd34"), "state")),
        ("workloadStates.maps.cd34.subState", (InstanceKey("", "maps", "cd34"), "subState")),
        ("workloadStates.hpc1.nginx.ab12.executionState", None),
        ("workloadStates.hpc1.nginx", None),
        ("agents.hpc1.status.cpuUsage", None),
        ("workloadStates.hpc1..ab12.state", None),
        ("", None),
    ],
)
def test_field_paths(path: str, named: tuple[InstanceKey, str] | None) -> None:
    """Event field paths name an instance and leaf only in the workloadStates.<a>.<w>.<id>.<leaf> shape."""
    assert parse_field_path(path) == named


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("agents.hpc1", ("hpc1", ())),
        ("agents.hpc1.status", ("hpc1", ("status",))),
        ("agents.hpc1.status.cpuUsage", ("hpc1", ("status", "cpuUsage"))),
        ("agents.hpc1.tags.zone", ("hpc1", ("tags", "zone"))),
        ("agents", None),
        ("agents.", None),
        ("workloadStates.hpc1.nginx.ab12.state", None),
    ],
)
def test_agent_field_paths(path: str, named: tuple[str, tuple[str, ...]] | None) -> None:
    """Agent field paths name the agent and the fields below it."""
    assert parse_agent_path(path) == named


@pytest.mark.parametrize(
    ("topic", "agent"),
    [
        ("ankaios/hpc1/$agent/status", "hpc1"),
        ("ankaios/$bridge/$agent/status", None),
        ("ankaios//$agent/status", None),
        ("ankaios/a/b/$agent/status", None),
        ("ankaios/hpc1/$agent/state", None),
        ("other/hpc1/$agent/status", None),
    ],
)
def test_agent_topics(topic: str, agent: str | None) -> None:
    """Only `<prefix>/<agent>/$agent/status` is an agent's topic; it round-trips."""
    assert parse_agent_topic("ankaios", topic) == agent
    if agent is not None:
        assert agent_topic("ankaios", agent) == topic


def test_the_prefix_filter_covers_every_topic_under_the_prefix() -> None:
    """The bridge's and the dashboard's subscription filter is `<prefix>/#`."""
    assert prefix_filter("ankaios") == "ankaios/#"
    assert prefix_filter("car/1") == "car/1/#"
