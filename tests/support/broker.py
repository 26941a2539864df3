"""A real mosquitto on a free loopback port, for tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar

from tests.support.wire import MQTT_5, MQTT_311

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, timeout: float = 10.0) -> None:
    """Block until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class PrivateBroker:
    """Directory handling, context manager and log access shared by the private brokers."""

    name: ClassVar[str] = ""
    protocols: ClassVar[tuple[str, ...]] = ()
    _prefix: ClassVar[str] = "broker-"
    _log_name: ClassVar[str] = "broker.log"

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def directory(self) -> Path:
        """The private directory holding config, log and stored data."""
        assert self._dir is not None
        return self._dir

    def _make_directory(self) -> bool:
        """Create the private directory on the first start; return whether this start is the first."""
        if self._dir is not None:
            return False
        self._dir = Path(tempfile.mkdtemp(prefix=self._prefix))
        return True

    def __enter__(self) -> PrivateBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def start(self) -> None:
        """Start the broker and wait until an MQTT 3.1.1 CONNECT is accepted."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the broker with SIGTERM (it saves what it keeps) and wait until it is gone."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None

    def kill(self) -> None:
        """Stop the broker with SIGKILL (nothing is saved) and wait until it is gone."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def restart(self) -> None:
        """Stop and start again on the same port with the same stored data."""
        self.stop()
        self.start()

    def log(self) -> str:
        """Return the broker's log so far."""
        path = self.directory / self._log_name
        return path.read_text(errors="replace") if path.exists() else ""


class Mosquitto(PrivateBroker):
    """Runs mosquitto with a generated config; `restart()` keeps port and persistence file."""

    name: ClassVar[str] = "mosquitto"
    protocols: ClassVar[tuple[str, ...]] = (MQTT_5, MQTT_311)
    _prefix: ClassVar[str] = "mosquitto-"
    _log_name: ClassVar[str] = "mosquitto.log"

    def __init__(self, *, persistence: bool = False, extra_config: str = "", port: int = 0) -> None:
        super().__init__()
        self.persistence = persistence
        self.extra_config = extra_config
        self.port = port

    def __enter__(self) -> Mosquitto:
        self.start()
        return self

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        if self._make_directory():
            self.port = self.port or free_port()
        config = self.directory / "mosquitto.conf"
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            # As root, mosquitto drops to its own user and then cannot read a private tmpdir.
            "user root",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {self.directory}/",
            f"log_dest file {self.directory}/mosquitto.log",
            "log_type error",
            "log_type warning",
            "log_type notice",
            self.extra_config,
        ]
        config.write_text("\n".join(lines) + "\n")
        self._process = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until_listening(self.port)
