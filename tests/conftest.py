"""Shared fixtures: real brokers (mosquitto, NATS per test; RabbitMQ per run), a simulated agent."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ankaios_sdk import ControlInterface

from bridge.simulator import AgentSimulator
from tests.support.broker import MOSQUITTO, Mosquitto
from tests.support.brokers import NATS_SERVER, Nats
from tests.support.rabbitmq import RabbitMq, rabbitmq_installed
from tests.support.scene import TWO_WORKLOADS, MakeSim, Start
from tests.support.tls import Pki, TlsMosquitto, make_pki


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """Start a private mosquitto on a free loopback port for one test."""
    if not shutil.which(MOSQUITTO):
        pytest.fail("mosquitto is not installed; .ci/run installs it")
    with Mosquitto() as running:
        yield running


@pytest.fixture
def nats_broker() -> Iterator[Nats]:
    """Start a private nats-server (JetStream, MQTT 3.1.1 listener) for one test."""
    if not shutil.which(NATS_SERVER):
        pytest.fail("nats-server is not installed; .ci/run installs it")
    with Nats() as running:
        yield running


# The session's RabbitMQ node, once started: for the check after each test that used it.
_RABBITMQ = pytest.StashKey[RabbitMq]()


@pytest.fixture(scope="session")
def rabbitmq_broker(request: pytest.FixtureRequest) -> Iterator[RabbitMq]:
    """One private RabbitMQ node (MQTT 3.1.1) for the whole run: it takes seconds to start.

    Nothing is wiped between tests: under 3.1.1 no client can even list what is retained,
    since RabbitMQ sends retained messages only to exact-topic subscriptions. Instead each
    test writes under its own `unique_prefix`, and `_rabbitmq_left_working` makes sure a test
    that stopped or killed the node hands it on accepting connections.
    """
    if not rabbitmq_installed():
        pytest.skip("rabbitmq-server is not installed (Debian's rabbitmq-server; CI leaves it out)")
    with RabbitMq() as running:
        request.config.stash[_RABBITMQ] = running
        yield running
        del request.config.stash[_RABBITMQ]


@pytest.fixture(autouse=True)
def _rabbitmq_left_working(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the session's RabbitMQ node, bring it back if the test broke it."""
    yield
    # Read after the test: a parametrized test may have asked for the node only by name.
    node = request.config.stash.get(_RABBITMQ, None)
    if node is not None and "rabbitmq_broker" in request.fixturenames:
        node.ensure_running()


@pytest.fixture
def unique_prefix() -> str:
    """A topic prefix no other test uses (`ankaios/t<hex>`), so retained leftovers never meet.

    It stays under `ankaios/`, so `ankaios/#` covers it, and it is a valid bridge `--prefix`.
    """
    return f"ankaios/t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_sim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeSim]:
    """A factory of started simulated agents, each stopped when the test ends.

    `make_sim(initial_state, agents=..., name=..., sdk=..., **options)` serves the control
    interface in `tmp_path / name`, connects `agents` (name to tags) first, then sets each
    `(agent, workload, instance id, state, substate)` of `initial_state`. `options` go to
    AgentSimulator (read_rules, deny_rules, write_rules, log_rules, owner_agent). With
    `sdk=True` the ankaios-sdk's control-interface path points at it for this test only.
    """
    with contextlib.ExitStack() as stack:

        def make(
            initial_state: Iterable[Start] = (),
            *,
            agents: Mapping[str, Mapping[str, str]] | None = None,
            name: str = "ci",
            sdk: bool = False,
            **options: Any,
        ) -> AgentSimulator:
            running = stack.enter_context(AgentSimulator(tmp_path / name, **options))
            if sdk:
                monkeypatch.setattr(
                    ControlInterface, "ANKAIOS_CONTROL_INTERFACE_BASE_PATH", str(running.directory)
                )
            for agent, tags in (agents or {}).items():
                running.connect_agent(agent, tags)
            for agent, workload, iid, state, substate in initial_state:
                running.set_state(agent, workload, iid, state, substate)
            return running

        yield make


@pytest.fixture
def sim(request: pytest.FixtureRequest, make_sim: MakeSim) -> AgentSimulator:
    """A simulated agent with two workloads: nginx running on hpc1, radio starting on hpc2.

    A `sim` marker replaces that start: its arguments are `make_sim`'s, so
    `@pytest.mark.sim()` is an empty agent and `@pytest.mark.sim(write_rules=...)` one
    that allows writes.
    """
    marker = request.node.get_closest_marker("sim")
    if marker is None:
        return make_sim(TWO_WORKLOADS)
    return make_sim(*marker.args, **marker.kwargs)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Throwaway CAs, certificates, a password file and an ACL, made once per session."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def tls_broker(pki: Pki) -> Iterator[TlsMosquitto]:
    """A fresh mosquitto with a password listener and a mutual-TLS listener."""
    broker = TlsMosquitto(pki)
    with broker:
        yield broker
