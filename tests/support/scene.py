"""A whole system for fault tests: simulator, mosquitto and the bridge process, plus the invariant."""

from __future__ import annotations

from bridge.simulator import AgentSimulator, instance_id
from tests.support.broker import Mosquitto
from tests.support.expect import matches
from tests.support.mqtt import Watcher, read_retained, wait_for

# The instance ids the system tests use, as Ankaios hashes a workload's configuration.
NGINX = instance_id("nginx-v1")
RADIO = instance_id("radio-v1")
MAPS = instance_id("maps-v1")

# Fast recovery settings so fault tests stay quick; the defaults are documented in README.
FAST = ("--mqtt-reconnect-max-delay", "0.3", "--mqtt-keepalive", "5")


def assert_converges(
    sim: AgentSimulator,
    broker: Mosquitto,
    timeout: float = 2.0,
    bridge: str = "online",
    ankaios: str | None = None,
) -> None:
    """Fail unless a fresh subscriber sees exactly Ankaios's instances within `timeout` seconds."""
    check = matches(sim.instances(), bridge=bridge, ankaios=ankaios)
    last: dict[str, bytes] = {}

    def converged() -> bool:
        nonlocal last
        try:
            last = read_retained(broker.host, broker.port)
        except (OSError, AssertionError):
            return False
        return check(last)

    try:
        wait_for(converged, timeout, "the invariant")
    except AssertionError:
        msg = f"retained tree {last!r} does not match Ankaios {sim.instances()!r}"
        raise AssertionError(msg) from None


__all__ = ["FAST", "MAPS", "NGINX", "RADIO", "Watcher", "assert_converges"]
