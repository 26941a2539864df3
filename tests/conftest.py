"""Shared fixtures: a real mosquitto per test, a simulated agent with two workloads."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.simulator import AgentSimulator
from tests.support.broker import MOSQUITTO, Mosquitto
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
