"""The mirror's decisions for agents and additional info, as exact lists of retained publishes."""

from __future__ import annotations

import json
from datetime import timedelta

from bridge.core.inputs import AgentReport, Agents, Changes, Infos, Snapshot, Tick
from bridge.core.mirror import Mirror
from bridge.core.model import clip_info
from tests.test_mirror import (
    FAILED,
    NGINX,
    RUNNING,
    T0,
    feed,
    leaves,
    new_mirror,
    synced,
)

HPC1 = "ankaios/hpc1/$agent/status"
HPC2 = "ankaios/hpc2/$agent/status"
SINCE = "2026-12-01T08:00:00.000Z"


def agent(name: str, cpu: int | None, memory: int | None, since: str = SINCE, **tags: str) -> bytes:
    """Return the exact payload of an agent's status topic."""
    document = {"agent": name, "cpuUsage": cpu, "freeMemory": memory, "tags": tags, "since": since}
    return json.dumps(document, separators=(",", ":")).encode()


def load(name: str, cpu: int | None = None, memory: int | None = None) -> Agents:
    """Return an event that updates an agent's load (only the values given are in its state)."""
    fields = [field for field, value in (("cpuUsage", cpu), ("freeMemory", memory)) if value]
    altered = tuple((name, ("status", field)) for field in fields)
    return Agents({name: AgentReport(cpu, memory)}, complete=False, altered=altered)


def listed(**agents: AgentReport) -> Agents:
    """Return the first answer of the agents subscription."""
    return Agents(agents, complete=True)


def with_agents(**intervals: float) -> tuple[Mirror, list[tuple[str, bytes]]]:
    """Return a synced mirror that knows hpc1 (12 %, 8 GB, zone front) and what it published."""
    mirror = new_mirror(**intervals)
    feed(mirror, *synced(), Snapshot({}))
    first = feed(mirror, listed(hpc1=AgentReport(12, 8_000, {"zone": "front"})))
    return mirror, first


def test_a_listed_agent_is_published_at_once() -> None:
    """The agents snapshot publishes one status topic per agent with load, tags and since."""
    _, first = with_agents()
    assert first == [(HPC1, agent("hpc1", 12, 8_000, zone="front"))]


def test_a_load_only_change_waits_for_the_interval_with_the_latest_values() -> None:
    """Load changes within the interval are held back and go out once, with the latest values."""
    mirror, _ = with_agents(agent_status_interval=10.0)
    assert feed(mirror, load("hpc1", cpu=30), now=T0 + timedelta(seconds=2)) == []
    assert feed(mirror, load("hpc1", memory=7_000), now=T0 + timedelta(seconds=4)) == []
    assert mirror.agents.next_due() == T0 + timedelta(seconds=10)
    assert feed(mirror, Tick(), now=T0 + timedelta(seconds=9)) == []
    assert feed(mirror, Tick(), now=T0 + timedelta(seconds=10)) == [
        (HPC1, agent("hpc1", 30, 7_000, zone="front"))
    ]
    assert mirror.agents.next_due() is None


def test_with_interval_zero_every_load_change_is_published() -> None:
    """An interval of 0 publishes each load change as it comes."""
    mirror, _ = with_agents(agent_status_interval=0.0)
    assert feed(mirror, load("hpc1", cpu=30), now=T0 + timedelta(seconds=1)) == [
        (HPC1, agent("hpc1", 30, 8_000, zone="front"))
    ]
    assert feed(mirror, load("hpc1", cpu=31), now=T0 + timedelta(seconds=2)) == [
        (HPC1, agent("hpc1", 31, 8_000, zone="front"))
    ]


def test_a_load_change_after_the_interval_is_published_at_once() -> None:
    """A load change that comes a whole interval after the last publish goes out at once."""
    mirror, _ = with_agents(agent_status_interval=10.0)
    assert feed(mirror, load("hpc1", cpu=5), now=T0 + timedelta(seconds=11)) == [
        (HPC1, agent("hpc1", 5, 8_000, zone="front"))
    ]


def test_a_clock_set_back_does_not_hold_the_load_back() -> None:
    """A wall clock that jumps back publishes a held-back load at the next tick, not an hour later."""
    mirror, _ = with_agents(agent_status_interval=10.0)
    feed(mirror, load("hpc1", cpu=30), now=T0 + timedelta(seconds=2))
    assert feed(mirror, Tick(), now=T0 - timedelta(hours=1)) == [
        (HPC1, agent("hpc1", 30, 8_000, zone="front"))
    ]


def test_agents_appearing_going_and_changing_tags_are_published_at_once() -> None:
    """A new agent, a tag change and an agent that went are published within the interval."""
    mirror, _ = with_agents(agent_status_interval=10.0)
    later = T0 + timedelta(seconds=1)
    came = Agents({"hpc2": AgentReport()}, complete=False, altered=(("hpc2", ()),))
    assert feed(mirror, came, now=later) == [
        (HPC2, agent("hpc2", None, None, since="2026-12-01T08:00:01.000Z"))
    ]
    tagged = Agents(
        {"hpc1": AgentReport(tags={"zone": "rear"})},
        complete=False,
        altered=(("hpc1", ("tags", "zone")),),
    )
    assert feed(mirror, tagged, now=later) == [(HPC1, agent("hpc1", 12, 8_000, zone="rear"))]
    gone = Agents({}, complete=False, removed=(("hpc1", ()),))
    assert feed(mirror, gone, now=later) == [(HPC1, b"")]


def test_a_reconcile_clears_agents_that_no_longer_exist_and_keeps_since() -> None:
    """At start, retained agent topics of agents Ankaios no longer lists are cleared; a listed agent keeps its since."""
    mirror = new_mirror()
    old = "2026-11-30T00:00:00.000Z"
    retained = [(HPC1, agent("hpc1", 1, 2, since=old)), (HPC2, agent("hpc2", 1, 2))]
    feed(mirror, Snapshot({}), listed(hpc1=AgentReport(12, 8_000)))
    published = feed(mirror, *synced(1, *retained))
    assert (HPC1, agent("hpc1", 12, 8_000, since=old)) in published
    assert (HPC2, b"") in published


def test_agent_topics_are_left_alone_before_agents_are_known() -> None:
    """Without an agents answer (denied, or not yet) retained agent topics are neither kept nor cleared."""
    mirror = new_mirror()
    feed(mirror, Snapshot({}))
    assert feed(mirror, *synced(1, (HPC2, agent("hpc2", 1, 2)))) == [
        ("ankaios/$bridge/ankaios", b"disconnected"),
    ]


def test_an_info_only_change_republishes_status_but_not_state() -> None:
    """A change of the additional info alone republishes the status with it, never the state."""
    mirror = new_mirror()
    feed(mirror, *synced(), Snapshot({NGINX: FAILED}), Infos({NGINX: "exit 1"}, complete=True))
    again = feed(mirror, Infos({NGINX: "retry 2: exit 1"}, complete=False), now=T0)
    ((topic, payload),) = again
    assert topic.endswith("/status")
    assert json.loads(payload)["additionalInfo"] == "retry 2: exit 1"
    assert json.loads(payload)["state"] == "FAILED"


def test_info_is_kept_across_a_state_change_and_since_across_an_info_change() -> None:
    """A state change keeps the known info; an info change keeps the state's since."""
    mirror = new_mirror()
    feed(mirror, *synced(), Snapshot({NGINX: FAILED}), Infos({NGINX: "boom"}, complete=True))
    ((_, status),) = feed(
        mirror, Infos({NGINX: "boom again"}, complete=False), now=T0 + timedelta(1)
    )
    assert json.loads(status)["since"] == SINCE
    published = feed(mirror, Changes({NGINX: RUNNING}, frozenset()), now=T0 + timedelta(2))
    assert json.loads(published[1][1])["additionalInfo"] == "boom again"


def test_info_that_comes_before_its_instance_is_used_when_it_appears() -> None:
    """The info subscription may answer first: the instance, when it appears, carries that info."""
    mirror = new_mirror()
    feed(mirror, *synced(), Snapshot({}), Infos({NGINX: "pulling"}, complete=False))
    published = feed(mirror, Changes({NGINX: RUNNING}, frozenset()))
    assert json.loads(published[1][1])["additionalInfo"] == "pulling"


def test_info_for_unknown_instances_publishes_nothing() -> None:
    """Additional info of an instance the mirror does not know is not a missing instance."""
    mirror = new_mirror()
    feed(mirror, *synced(), Snapshot({NGINX: RUNNING}))
    other = NGINX._replace(instance_id="c" * 64)
    assert feed(mirror, Infos({other: "x"}, complete=False)) == []


def test_long_info_is_clipped_to_1000_characters_with_an_ellipsis() -> None:
    """Additional info longer than 1,000 characters ends in an ellipsis at 1,000."""
    clipped = clip_info("x" * 1_000_000)
    assert (len(clipped), clipped[-1]) == (1000, "\u2026")
    assert clip_info("y" * 1000) == "y" * 1000


def test_the_first_instance_status_carries_the_info_of_the_info_snapshot() -> None:
    """When the info snapshot comes first, the first publish of an instance already holds its info."""
    mirror = new_mirror()
    feed(mirror, *synced(), Infos({NGINX: "why"}, complete=True))
    published = feed(mirror, Snapshot({NGINX: FAILED}))
    assert published[:2] != leaves(NGINX, FAILED, T0)
    assert json.loads(published[1][1])["additionalInfo"] == "why"
