"""deploy/mosquitto-fleet.conf: a vehicle broker forwarding the bridge's contract to a TLS back end."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from bridge.core.topics import parse_instance_topic
from bridge.simulator import AgentSimulator, instance_id
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.expect import expected_tree, normalized
from tests.support.fleet import BackEnd, vehicle_fragment
from tests.support.mqtt import Watcher, publish, read_retained, wait_for
from tests.support.proxy import Relay
from tests.support.scene import FAST, MAPS, NGINX, RADIO
from tests.support.tls import Pki, make_pki

LOG = logging.getLogger(__name__)
VEHICLE = "VIN0042"
REMOTE = f"fleet/{VEHICLE}/"
LINK = f"fleet/{VEHICLE}/link"
STATUS = "ankaios/$bridge/status"
# What the fragment forwards besides instance topics: the bridge's own retained topics.
BRIDGE_TOPICS = frozenset(("status", "ankaios", "info"))
OTA = instance_id("ota-v1")
RADIO_STATUS = f"ankaios/hpc2/radio/{RADIO}/status"
NGINX_STATE = f"ankaios/hpc1/nginx/{NGINX}/state"
CONVERGE = 5.0  # seconds after the back end or the link is back


def is_contract(topic: str) -> bool:
    """Return whether a vehicle topic belongs to the bridge's contract (what must reach the fleet)."""
    if parse_instance_topic("ankaios", topic) is not None:
        return True
    levels = topic.split("/")
    if levels[:2] == ["ankaios", "$bridge"]:
        return len(levels) == 3 and levels[2] in BRIDGE_TOPICS
    return len(levels) == 4 and levels[0] == "ankaios" and levels[2:] == ["$agent", "status"]


def mirrors_ankaios(tree: dict[str, bytes], sim: AgentSimulator) -> bool:
    """Return whether the vehicle's instance topics and bridge status match what Ankaios reports."""
    want = expected_tree(sim.instances())
    want = {t: v for t, v in want.items() if parse_instance_topic("ankaios", t) is not None}
    have = {t: p for t, p in tree.items() if parse_instance_topic("ankaios", t) is not None}
    try:
        return normalized(have) == want and tree.get(STATUS) == b"online"
    except ValueError:
        return False


def substate_is(substate: str) -> bytes:
    """Return the exact JSON member of a status payload with this sub-state."""
    return f'"substate":"{substate}"'.encode()


@dataclass
class Fleet:
    """One vehicle (simulated Ankaios, bridge, broker) linked to the fleet's back end."""

    sim: AgentSimulator
    vehicle: Mosquitto
    backend: BackEnd
    link: Relay
    bridge: BridgeProcess
    vehicle_view: Watcher
    backend_view: Watcher

    def wait_converged(self, timeout: float = CONVERGE) -> float:
        """Wait until the back end holds exactly the vehicle's contract tree; return the seconds it took."""
        start = time.monotonic()
        trees: tuple[dict[str, bytes], dict[str, bytes]] = ({}, {})

        def converged() -> bool:
            nonlocal trees
            try:
                trees = (read_retained(self.vehicle.host, self.vehicle.port), self.backend_tree())
            except (OSError, AssertionError):
                return False
            vehicle, backend = trees
            if not mirrors_ankaios(vehicle, self.sim):
                return False
            wanted = {REMOTE + t: p for t, p in vehicle.items() if is_contract(t)}
            return backend == {**wanted, LINK: b"1"}

        try:
            wait_for(converged, timeout, "the back end")
        except AssertionError:
            msg = f"back end {trees[1]!r} never mirrored vehicle {trees[0]!r}"
            raise AssertionError(msg) from None
        return time.monotonic() - start

    def wait_vehicle(self) -> None:
        """Wait until the vehicle broker holds what Ankaios reports now."""
        self.vehicle_view.wait_tree(lambda tree: mirrors_ankaios(tree, self.sim))

    def backend_tree(self) -> dict[str, bytes]:
        """Return what a new subscriber on the back end receives as retained."""
        return read_retained(self.backend.host, self.backend.port, "fleet/#")

    def since(self, index: int) -> list[tuple[str, bytes, bool]]:
        """Return what the back-end subscriber received from message number `index` on."""
        return self.backend_view.messages[index:]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Throwaway CA, back-end server certificate and vehicle client certificate."""
    return make_pki(tmp_path_factory.mktemp("fleet-pki"))


@pytest.fixture
def fleet(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[Fleet]:
    """A vehicle running the shipped fragment (plus global options in `param`) and its back end."""
    extra = getattr(request, "param", "")
    backend = BackEnd(pki, VEHICLE)
    with (
        AgentSimulator(tmp_path / "ci") as sim,
        backend,
        Relay(backend.tls_port) as link,
        Mosquitto(extra_config=f"{extra}\n{vehicle_fragment(VEHICLE, link.port, pki)}") as vehicle,
        Watcher(backend.host, backend.port, "fleet/#") as backend_view,
        Watcher(vehicle.host, vehicle.port) as vehicle_view,
    ):
        sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        sim.set_state("hpc2", "radio", RADIO, "PENDING", "PENDING_STARTING")
        sim.set_state("", "maps", MAPS, "NOT_SCHEDULED", "NOT_SCHEDULED")
        with BridgeProcess(sim.directory, vehicle.port, *FAST) as bridge:
            yield Fleet(sim, vehicle, backend, link, bridge, vehicle_view, backend_view)


def test_back_end_holds_exactly_the_vehicles_contract(fleet: Fleet) -> None:
    """The back end's tree under fleet/<id>/ is the vehicle's contract tree and the link state: no sync marker, no other topic."""
    publish(fleet.vehicle.host, fleet.vehicle.port, "ankaios/diagnostics/note", b"stays local")
    fleet.wait_converged()
    assert REMOTE + "ankaios//maps/" + MAPS + "/state" in fleet.backend_tree()
    # The bridge did publish its markers on the vehicle; none crossed the link.
    assert any("/$bridge/sync/" in topic for topic, _, _ in fleet.vehicle_view.messages)
    assert not [m for m in fleet.backend_view.messages if "/sync/" in m[0]]
    assert not [m for m in fleet.backend_view.messages if "diagnostics" in m[0]]


def test_changes_and_clears_arrive(fleet: Fleet) -> None:
    """A change, a new instance and a removal on the vehicle reach the back end as retained changes and clears."""
    fleet.wait_converged()
    fleet.sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
    fleet.sim.set_state("hpc1", "ota", OTA, "SUCCEEDED", "SUCCEEDED_OK")
    fleet.sim.remove("hpc1", "nginx", NGINX)
    fleet.wait_converged()
    for leaf in ("state", "status"):
        assert (
            f"{REMOTE}ankaios/hpc1/nginx/{NGINX}/{leaf}",
            b"",
            True,
        ) in fleet.backend_view.messages


def test_back_end_restart_without_persistence(fleet: Fleet) -> None:
    """A back end that restarts empty holds the vehicle's whole tree again within 5 s of listening."""
    fleet.wait_converged()
    fleet.backend.restart()
    LOG.info("converged %.2f s after the back end listened again", fleet.wait_converged())


def test_link_outage_while_workloads_change(fleet: Fleet) -> None:
    """Changes and clears made while the link is cut arrive in order once it is back, and the back end converges within 5 s."""
    fleet.wait_converged()
    fleet.link.cut()
    wait_for(lambda: fleet.backend_view.snapshot().get(LINK) == b"0", 5, "link 0")
    substates = ("PENDING_STARTING_FAILED", "PENDING_WAITING_TO_START", "RUNNING_OK")
    for substate in substates:
        fleet.sim.set_state("hpc2", "radio", RADIO, substate.split("_")[0], substate)
        # Each value reaches the vehicle broker, so each one is queued for the link.
        fleet.wait_vehicle()
    fleet.sim.remove("hpc1", "nginx", NGINX)
    fleet.sim.set_state("hpc1", "ota", OTA, "RUNNING", "RUNNING_OK")
    fleet.wait_vehicle()
    mark = len(fleet.backend_view.messages)
    fleet.link.restore()
    LOG.info("converged %.2f s after the link was restored", fleet.wait_converged())
    after = fleet.since(mark)
    # The link's `1` comes first, then every queued change in the order it was made.
    assert after[0] == (LINK, b"1", True)
    radio = [p for t, p, _ in after if t == REMOTE + RADIO_STATUS]
    firsts = [next((i for i, p in enumerate(radio) if substate_is(s) in p), -1) for s in substates]
    assert -1 not in firsts
    assert firsts == sorted(firsts), radio
    assert (REMOTE + NGINX_STATE, b"", True) in after


def test_dead_link_and_dead_bridge_are_told_apart(fleet: Fleet) -> None:
    """A cut link shows as link `0` with the bridge's last status kept; a dead bridge as `offline` over link `1`."""
    fleet.wait_converged()
    view = fleet.backend_view
    fleet.link.cut()
    view.wait_tree(lambda t: t.get(LINK) == b"0" and t.get(REMOTE + STATUS) == b"online")
    fleet.link.restore()
    view.wait_tree(lambda t: t.get(LINK) == b"1")
    assert fleet.bridge.process is not None
    fleet.bridge.process.kill()
    view.wait_tree(lambda t: t.get(LINK) == b"1" and t.get(REMOTE + STATUS) == b"offline", 10)


@pytest.mark.parametrize("fleet", ["max_queued_messages 2"], indirect=True)
def test_clears_beyond_the_queue_limit_are_lost_until_the_back_end_resyncs(fleet: Fleet) -> None:
    """Past max_queued_messages clears made during an outage never arrive; clearing the back end's copy and reconnecting the link repairs it."""
    fleet.wait_converged()
    fleet.link.cut()
    wait_for(lambda: fleet.backend_view.snapshot().get(LINK) == b"0", 5, "link 0")
    fleet.sim.remove("hpc1", "nginx", NGINX)
    fleet.sim.remove("hpc2", "radio", RADIO)
    fleet.wait_vehicle()
    mark = len(fleet.backend_view.messages)
    fleet.link.restore()
    vehicle = {REMOTE + t: p for t, p in fleet.vehicle_view.snapshot().items()}
    # Once the vehicle's whole tree has been re-sent (it follows the queued backlog),
    # nothing more is coming, and the dropped clears left the removed instances behind.
    wait_for(lambda: vehicle.items() <= {(t, p) for t, p, _ in fleet.since(mark)}, 5, "re-send")
    stale = set(fleet.backend_view.snapshot()) - set(vehicle) - {LINK}
    assert stale
    assert all(parse_instance_topic("ankaios", t.removeprefix(REMOTE)) for t in stale), stale
    # The repair: clear the vehicle's copy on the back end, then make the link reconnect
    # by taking over its client id once: the tree it re-sends refills the copy.
    for topic in fleet.backend_view.snapshot():
        if topic != LINK:
            publish(fleet.backend.host, fleet.backend.port, topic, b"")
    kick(fleet.backend, f"vehicle-{VEHICLE}")
    fleet.wait_converged()


def kick(broker: Mosquitto, client_id: str) -> None:
    """Disconnect the client holding `client_id` by connecting once with that id."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        # A round trip proves the broker has handled the CONNECT, and with it the takeover.
        client.publish("test-marker/kick", b"x", qos=1).wait_for_publish(5)
    finally:
        client.disconnect()
        client.loop_stop()
