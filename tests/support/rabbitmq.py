"""A private RabbitMQ node with the MQTT plugin on free loopback ports, for tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import uuid
from pathlib import Path

from tests.support.broker import PrivateBroker, wait_until_listening
from tests.support.brokers import free_ports
from tests.support.wire import MQTT_311, wait_until_accepting

RABBITMQ_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
EPMD = shutil.which("epmd") or "/usr/bin/epmd"
_RABBITMQ_USER = "rabbitmq"
# Erlang distribution (the node's and each rabbitmqctl's) on loopback only.
_LOOPBACK_DIST = "-kernel inet_dist_use_interface {127,0,0,1}"


def rabbitmq_installed() -> bool:
    """Tell whether Debian's rabbitmq-server scripts are installed here."""
    return (RABBITMQ_SCRIPTS / "rabbitmq-server").exists()


class RabbitMq(PrivateBroker):
    """A private RabbitMQ 3.10 node with the MQTT plugin; `port` is the MQTT port.

    Everything the node writes (config, mnesia, logs, feature flags, expanded plugins, pid
    file, HOME and so its Erlang cookie) lives in `directory`, owned by the `rabbitmq` user
    when run as root. Debian's /usr/sbin wrappers are bypassed: as root they `su rabbitmq`,
    which resets HOME. The node registers with an epmd of its own on a private port, so it
    neither relies on nor disturbs the system's epmd and node.

    Measured here: the first start takes 6 to 8 s (a fresh database), later ones about 2 s.
    Retained messages live in a disk store (DETS) and survive `stop()` + `start()` and
    `restart()`. After `kill()` only what the store had synced survives: a retained message
    published 3 s before the kill was lost, one published 5 s before survived.
    """

    name = "rabbitmq"
    protocols = (MQTT_311,)
    _prefix = "rabbitmq-"

    def __init__(self, start_timeout: float = 60.0) -> None:
        super().__init__()
        self.start_timeout = start_timeout
        self.amqp_port = 0
        self.dist_port = 0
        self.epmd_port = 0
        self.node = ""
        self._epmd: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> RabbitMq:
        self.start()
        return self

    def _prepare(self) -> None:
        """Choose ports and node name, write the configuration and hand the directory over."""
        self.amqp_port, self.port, self.dist_port, self.epmd_port = free_ports(4)
        self.node = f"test-{uuid.uuid4().hex[:12]}@localhost"
        directory = self.directory
        (directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n"
            f"mqtt.listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "mqtt.allow_anonymous = true\n"
        )
        (directory / "enabled_plugins").write_text("[rabbitmq_mqtt].\n")
        # Replaces /etc/rabbitmq/rabbitmq-env.conf, which belongs to the system's node.
        (directory / "rabbitmq-env.conf").write_text("")
        if os.geteuid() == 0:
            _hand_over(directory)

    def _environment(self) -> dict[str, str]:
        directory = self.directory
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_CONF_ENV_FILE": f"{directory}/rabbitmq-env.conf",
            "RABBITMQ_CONFIG_FILE": f"{directory}/rabbitmq",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{directory}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{directory}/enabled_plugins",
            "RABBITMQ_MNESIA_BASE": f"{directory}/mnesia",
            "RABBITMQ_LOG_BASE": f"{directory}/log",
            "RABBITMQ_FEATURE_FLAGS_FILE": f"{directory}/feature_flags",
            "RABBITMQ_PLUGINS_EXPAND_DIR": f"{directory}/expand",
            "RABBITMQ_PID_FILE": f"{directory}/pid",
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_FLAGS": _LOOPBACK_DIST,
            "HOME": str(directory),
        }

    @staticmethod
    def _owner() -> str | None:
        """Whom the node's programs run as: the `rabbitmq` user when we are root, else us."""
        return _RABBITMQ_USER if os.geteuid() == 0 else None

    def start(self) -> None:
        """Start the node and wait (up to `start_timeout`) until an MQTT CONNECT is accepted."""
        if self._make_directory():
            self._prepare()
        self._start_epmd()
        owner = self._owner()
        with (self.directory / "server.out").open("ab") as output:
            process = subprocess.Popen(
                [str(RABBITMQ_SCRIPTS / "rabbitmq-server")],
                env=self._environment(),
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C of pytest must not stop the node mid-test.
                start_new_session=True,
                user=owner,
                group=owner,
                extra_groups=[] if owner else None,
            )
        self._process = process
        try:
            wait_until_accepting(
                self.host, self.port, lambda: process.poll() is None, self.start_timeout, self.node
            )
        except BaseException:
            self.kill()
            raise

    def ensure_running(self) -> None:
        """Bring the node back to accepting MQTT connections, whatever a test did to it.

        A node that does not accept within 5 s (an application a test stopped, a hung VM) is
        killed and started again; its retained messages survive (see the class).
        """
        process = self._process
        if process is not None and process.poll() is None:
            try:
                wait_until_accepting(
                    self.host, self.port, lambda: process.poll() is None, 5.0, self.node
                )
            except (RuntimeError, TimeoutError):
                self.kill()
            else:
                return
        self.kill()
        self.start()

    def rabbitmqctl(self, *arguments: str, timeout: float = 60.0) -> str:
        """Run `rabbitmqctl -n <node> <arguments>` with the node's environment; return its output."""
        owner = self._owner()
        # The CLI is a short-lived Erlang node too; by default it takes a port of 35672-35682,
        # which every other rabbitmqctl on the machine competes for.
        (cli_port,) = free_ports(1)
        environment = {
            **self._environment(),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(cli_port),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(cli_port),
        }
        result = subprocess.run(
            [str(RABBITMQ_SCRIPTS / "rabbitmqctl"), "-n", self.node, *arguments],
            env=environment,
            cwd=self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            user=owner,
            group=owner,
            extra_groups=[] if owner else None,
        )
        if result.returncode != 0:
            msg = f"rabbitmqctl {' '.join(arguments)} failed: {result.stdout}{result.stderr}"
            raise RuntimeError(msg)
        return result.stdout

    def stop(self) -> None:
        """Stop the node with `rabbitmqctl stop`, SIGKILL it if that fails, and end its epmd."""
        process = self._process
        if process is not None:
            try:
                self.rabbitmqctl("stop", timeout=30)
                process.wait(timeout=30)
            except (RuntimeError, subprocess.TimeoutExpired):
                self._kill_group(process)
            self._process = None
        self._stop_epmd()

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM (nothing is flushed), wait until it is gone, end its epmd."""
        process = self._process
        if process is not None:
            beam = self.beam_pid()
            if beam is None:
                self._kill_group(process)
            else:
                # The VM alone, as in a crash: its start script reaps it and exits, so no
                # zombie is left for PID 1 to collect.
                os.kill(beam, signal.SIGKILL)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._kill_group(process)
            self._process = None
        self._stop_epmd()

    def restart(self) -> None:
        """Restart the RabbitMQ application inside the running VM: same port, same retained messages.

        `rabbitmqctl stop_app` + `start_app` closes every MQTT connection and accepts again
        after about 1.1 s; a full `stop()` + `start()` takes about 3.5 s (1.3 s + 2.1 s).
        """
        if self._process is None:
            self.start()
            return
        self.rabbitmqctl("stop_app")
        self.rabbitmqctl("start_app")
        process = self._process
        wait_until_accepting(
            self.host, self.port, lambda: process.poll() is None, self.start_timeout, self.node
        )

    def beam_pid(self) -> int | None:
        """Return the OS pid of the running node's Erlang VM, None when none runs."""
        process = self._process
        if process is None:
            return None
        try:
            pid = int((self.directory / "pid").read_text().strip())
            # The pid file outlives its VM: trust it only for a process of our node's group.
            return pid if os.getpgid(pid) == process.pid else None
        except (OSError, ValueError):
            return None

    def _kill_group(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the start script, the VM and its helpers: one process group, led by the script."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def _start_epmd(self) -> None:
        """Start the node's private epmd as our child, before the node would daemonize one.

        As our child, `stop()` ends exactly this epmd and waits for it; a daemonized one could
        only be told to quit by port.
        """
        if self._epmd is not None and self._epmd.poll() is None:
            return
        self._epmd = subprocess.Popen(
            [EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until_listening(self.epmd_port)

    def _stop_epmd(self) -> None:
        """End the node's private epmd."""
        if self._epmd is not None:
            self._epmd.terminate()
            self._epmd.wait(timeout=10)
            self._epmd = None

    def log(self) -> str:
        """Return the node's log so far."""
        path = self.directory / "log" / f"{self.node}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _hand_over(directory: Path) -> None:
    """Give `directory` to the rabbitmq user; fail early when it could not even reach it."""
    for parent in directory.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            msg = (
                f"{parent} is not searchable by others: the rabbitmq user cannot reach {directory}"
            )
            raise RuntimeError(msg)
    for path in [directory, *directory.rglob("*")]:
        shutil.chown(path, _RABBITMQ_USER, _RABBITMQ_USER)
    directory.chmod(0o755)
