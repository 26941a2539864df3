"""A whole system for fault tests: simulator, mosquitto and the bridge process, plus the invariant."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeAlias

from bridge.core.model import clip_info
from bridge.simulator import AgentSimulator, instance_id
from bridge.simulator.cluster import instances as tree_instances
from tests.support.broker import Mosquitto
from tests.support.expect import AgentLoads, Instances, matches
from tests.support.mqtt import Watcher, read_retained
from tests.support.retained import wait_retained

# The instance ids the system tests use, as Ankaios hashes a workload's configuration.
NGINX = instance_id("nginx-v1")
RADIO = instance_id("radio-v1")
MAPS = instance_id("maps-v1")

# A simulated agent's start (tests/conftest.py's make_sim): one instance per entry,
# as (agent, workload, instance id, state, substate).
Start: TypeAlias = tuple[str, str, str, str, str]
NGINX_RUNNING: tuple[Start, ...] = (("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK"),)
TWO_WORKLOADS: tuple[Start, ...] = (
    *NGINX_RUNNING,
    ("hpc2", "radio", RADIO, "PENDING", "PENDING_STARTING"),
)


class MakeSim(Protocol):
    """The `make_sim` factory's signature."""

    def __call__(
        self,
        initial_state: Iterable[Start] = (),
        *,
        agents: Mapping[str, Mapping[str, str]] | None = None,
        name: str = "ci",
        sdk: bool = False,
        **options: Any,
    ) -> AgentSimulator:
        """Start a simulated agent for the rest of the test."""
        ...


# Fast recovery settings so fault tests stay quick; the defaults are documented in README.
FAST = ("--mqtt-reconnect-max-delay", "0.3", "--mqtt-keepalive", "5")


def reported(sim: AgentSimulator) -> tuple[Instances, AgentLoads]:
    """Return what Ankaios reports right now: instances with their additional info, and agents."""
    tree = sim.tree()
    states = tree.get("workloadStates")
    instances: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    for (agent, workload, iid), (state, substate) in tree_instances(tree).items():
        execution = states[agent][workload][iid]  # type: ignore[index]
        info = execution.get("additionalInfo") if isinstance(execution, dict) else None
        instances[agent, workload, iid] = (state, substate, clip_info(str(info or "")))
    agents: AgentLoads = {}
    listed = tree.get("agents")
    for name, attributes in (listed if isinstance(listed, dict) else {}).items():
        fields = attributes if isinstance(attributes, dict) else {}
        status, tags = fields.get("status"), fields.get("tags")
        load = status if isinstance(status, dict) else {}
        cpu, memory = load.get("cpuUsage"), load.get("freeMemory")
        agents[name] = (
            cpu if isinstance(cpu, int) else None,
            memory if isinstance(memory, int) else None,
            {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
        )
    return instances, agents


def assert_converges(
    sim: AgentSimulator,
    broker: Mosquitto,
    timeout: float = 2.0,
    bridge: str = "online",
    ankaios: str | None = None,
    *,
    stopped: bool = False,
) -> None:
    """Fail unless a fresh subscriber sees exactly Ankaios's instances and agents within `timeout` s.

    `stopped`: `$bridge/info` says why the bridge had to stop.
    """
    instances, agents = reported(sim)
    check = matches(instances, bridge=bridge, ankaios=ankaios, agents=agents, stopped=stopped)
    try:
        wait_retained(lambda: read_retained(broker.host, broker.port), check, timeout)
    except AssertionError as err:
        msg = f"{err} (Ankaios reports {reported(sim)!r})"
        raise AssertionError(msg) from None


def stop_reason(broker: Mosquitto, prefix: str = "ankaios") -> dict[str, object]:
    """Return the `stopped` object of the retained `$bridge/info` (empty when there is none)."""
    payload = read_retained(broker.host, broker.port, f"{prefix}/$bridge/info").get(
        f"{prefix}/$bridge/info", b"{}"
    )
    stopped = json.loads(payload).get("stopped", {})
    assert isinstance(stopped, dict)
    return stopped


__all__ = ["FAST", "MAPS", "NGINX", "RADIO", "Watcher", "assert_converges", "stop_reason"]
