"""Shared fixtures: real brokers (mosquitto, NATS per test; RabbitMQ per run), a simulated agent."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.simulator import AgentSimulator
from tests.support.broker import MOSQUITTO, Mosquitto
from tests.support.brokers import NATS_SERVER, Nats
from tests.support.rabbitmq import RabbitMq, rabbitmq_installed
from tests.support.scene import NGINX, RADIO
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
def sim(tmp_path: Path) -> Iterator[AgentSimulator]:
    """A simulated agent with two workloads: nginx running on hpc1, radio starting on hpc2."""
    with AgentSimulator(tmp_path / "ci") as running:
        running.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
        running.set_state("hpc2", "radio", RADIO, "PENDING", "PENDING_STARTING")
        yield running


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
