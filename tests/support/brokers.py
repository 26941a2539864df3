"""Test brokers besides mosquitto: what they share, and a private NATS with an MQTT listener.

NATS (here) and RabbitMQ (tests/support/rabbitmq.py) speak MQTT 3.1.1 only. Both offer the
`Mosquitto` helper's interface (host, port, directory, start, stop, kill, restart, log,
context manager) plus `name` and `protocols`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import uuid
from typing import Protocol

from tests.support.broker import PrivateBroker
from tests.support.wire import MQTT_311, wait_until_accepting

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


class Broker(Protocol):
    """What every test broker helper offers (Mosquitto, Nats, RabbitMq)."""

    host: str
    port: int

    @property
    def name(self) -> str:
        """The broker's name: "mosquitto", "nats", "rabbitmq"."""

    @property
    def protocols(self) -> tuple[str, ...]:
        """The MQTT versions it accepts, newest first ("5", "3.1.1")."""

    def start(self) -> None:
        """Start the broker and wait until it accepts MQTT connections."""

    def stop(self) -> None:
        """Stop the broker cleanly."""

    def kill(self) -> None:
        """Stop the broker with SIGKILL."""

    def restart(self) -> None:
        """Stop and start again, keeping port and retained messages."""

    def log(self) -> str:
        """Return the broker's log so far."""


def mqtt_protocols(broker: Broker) -> tuple[str, ...]:
    """Return the MQTT versions `broker` accepts, newest first ("5", "3.1.1")."""
    return broker.protocols


def free_ports(count: int) -> list[int]:
    """Return `count` distinct TCP ports on 127.0.0.1 that nothing listens on right now."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            # Held open together, so that the kernel never hands out one port twice.
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


_NATS_CONFIG = """\
listen: "127.0.0.1:{client_port}"
server_name: "{server_name}"
log_file: "{directory}/nats.log"
jetstream {{
  store_dir: "{directory}/js"
}}
mqtt {{
  listen: "127.0.0.1:{mqtt_port}"
  {authorization}
}}
"""


class Nats(PrivateBroker):
    """A private `nats-server` with JetStream and an MQTT listener; `port` is the MQTT port.

    MQTT keeps sessions and retained messages in JetStream (store_dir in `directory`), so
    `restart()` keeps them. `client_port` is the NATS client port.
    """

    name = "nats"
    protocols = (MQTT_311,)
    _prefix = "nats-"
    _log_name = "nats.log"

    def __init__(self, user: tuple[str, str] | None = None) -> None:
        super().__init__()
        # (user name, password) an MQTT client must give; None: anyone may connect.
        self.user = user
        self.client_port = 0
        self.server_name = ""

    def __enter__(self) -> Nats:
        self.start()
        return self

    def start(self) -> None:
        """Start nats-server and wait until its MQTT listener answers a CONNECT (JetStream is up)."""
        if self._make_directory():
            self.client_port, self.port = free_ports(2)
            self.server_name = f"test-{uuid.uuid4().hex[:12]}"
        config = self.directory / "nats.conf"
        config.write_text(
            _NATS_CONFIG.format(
                client_port=self.client_port,
                server_name=self.server_name,
                directory=self.directory,
                mqtt_port=self.port,
                authorization=(
                    f'authorization {{ username: "{self.user[0]}", password: "{self.user[1]}" }}'
                    if self.user
                    else ""
                ),
            )
        )
        process = subprocess.Popen(
            [NATS_SERVER, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._process = process
        try:
            wait_until_accepting(
                self.host,
                self.port,
                lambda: process.poll() is None,
                20.0,
                "nats-server",
                self.user,
            )
        except BaseException:
            self.kill()
            raise
