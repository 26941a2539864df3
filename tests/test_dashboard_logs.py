"""`ankaios-mqtt-dashboard logs`: a workload's log through a real bridge, the simulator and mosquitto."""

from __future__ import annotations

import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.brokers import Nats
from tests.support.mqtt import wait_for
from tests.support.mqtt311 import Client311
from tests.support.scene import FAST, NGINX, RADIO, MakeSim
from tests.test_logs import serving

VERSIONS = pytest.mark.parametrize("version", ["5", "3.1.1"])


def dashboard_logs(broker: Mosquitto, version: str, *args: str) -> subprocess.Popen[str]:
    """Start `ankaios-mqtt-dashboard logs ARGS` against the broker, speaking `version`."""
    argv = [sys.executable, "-m", "bridge.dashboard", "logs", *args]
    argv += ["--mqtt-host", broker.host, "--mqtt-port", str(broker.port)]
    argv += ["--mqtt-protocol", version]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def read_lines(process: subprocess.Popen[str], count: int, timeout: float = 10.0) -> list[str]:
    """Return the next `count` lines the process prints; fail after `timeout` s without them."""
    assert process.stdout is not None
    lines: queue.SimpleQueue[str] = queue.SimpleQueue()
    stdout = process.stdout
    threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while len(got) < count:
        try:
            got.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
        except queue.Empty:
            pytest.fail(f"only {got!r} within {timeout} s")
        if len(got) < count:
            threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
    return got


@pytest.fixture
def printing(make_sim: MakeSim) -> AgentSimulator:
    """Nginx running on hpc1 that has printed three lines; LogRules for nginx only."""
    sim = make_sim(log_rules=("nginx",))
    sim.set_state("hpc1", "nginx", NGINX, "RUNNING", "RUNNING_OK")
    sim.set_state("hpc2", "radio", RADIO, "RUNNING", "RUNNING_OK")
    sim.print_lines("hpc1", "nginx", NGINX, "first", "second", "third")
    return sim


@VERSIONS
def test_tail_prints_the_lines_as_ank_logs_does(
    printing: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """`logs nginx --tail 2` prints the last two lines alone and exits 0 when the log ends."""
    with serving(printing, broker, version, "--logs"):
        process = dashboard_logs(broker, version, "nginx", "--tail", "2")
        out, err = process.communicate(timeout=20)
    assert (process.returncode, out, err) == (0, "second\nthird\n", "")


@VERSIONS
def test_follow_prints_new_lines_until_its_time_is_over(
    printing: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """`logs nginx --tail 0 -f --for 2` prints what is printed meanwhile, then exits 0."""
    with serving(printing, broker, version, "--logs"):
        process = dashboard_logs(broker, version, "nginx", "--tail", "0", "-f", "--for", "2")
        wait_for(lambda: len(printing._journal.logs.campaigns) == 1, 10, "the follow")
        printing.print_lines("hpc1", "nginx", NGINX, "live")
        out, err = process.communicate(timeout=20)
    assert (process.returncode, out, err) == (0, "live\n", "")


@VERSIONS
def test_ctrl_c_cancels_the_follow(
    printing: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """Ctrl-C ends `logs -f` with exit 0, and the bridge cancels the request in Ankaios."""
    with serving(printing, broker, version, "--logs"):
        process = dashboard_logs(broker, version, "nginx", "-f")
        printed = read_lines(process, 3)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
        wait_for(lambda: not printing._journal.logs.campaigns, 5, "the cancel")
    assert printed == ["first\n", "second\n", "third\n"]
    assert (process.returncode, out, err) == (0, "", "")


@VERSIONS
def test_logs_off_exits_1_with_one_line(
    printing: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """Against a bridge without --logs the command says how to turn logs on and exits 1."""
    with serving(printing, broker, version):
        off = dashboard_logs(broker, version, "nginx")
        out_off, err_off = off.communicate(timeout=20)
    assert (off.returncode, out_off) == (1, "")
    assert err_off == (
        "ankaios-mqtt-dashboard logs: logs are off in this bridge: start it with --logs "
        "(LOGS=true) and grant it a LogRule (README, Logs on demand)\n"
    )


@VERSIONS
def test_a_denial_exits_1_with_one_line(
    printing: AgentSimulator, broker: Mosquitto, version: str
) -> None:
    """A workload no LogRule allows ends the command with 1 and Ankaios's answer in one line."""
    with serving(printing, broker, version, "--logs"):
        denied = dashboard_logs(broker, version, "radio")
        out_denied, err_denied = denied.communicate(timeout=20)
    assert (denied.returncode, out_denied) == (1, "")
    assert err_denied == (
        "ankaios-mqtt-dashboard logs: Ankaios denied the logs request (Access denied): the "
        "bridge's controlInterfaceAccess needs a LogRule allowing 'radio'\n"
    )


def test_no_bridge_exits_1_after_the_timeout(broker: Mosquitto) -> None:
    """Without a bridge on the broker the command says so in one line after --timeout and exits 1."""
    started = time.monotonic()
    process = dashboard_logs(broker, "5", "nginx", "--timeout", "1")
    out, err = process.communicate(timeout=20)
    assert (process.returncode, out) == (1, "")
    assert err == (
        "ankaios-mqtt-dashboard logs: no answer from a bridge on "
        "ankaios/$bridge/logs/request within 1 s\n"
    )
    assert time.monotonic() - started < 10


def test_a_pending_instance_gives_no_line_until_the_follow_ends(
    make_sim: MakeSim, broker: Mosquitto
) -> None:
    """An instance without a container (pending) sends nothing, as upstream: the follow ends on time."""
    sim = make_sim(log_rules=("nginx",))
    sim.set_state("hpc1", "nginx", NGINX, "PENDING", "PENDING_STARTING")
    with serving(sim, broker, "5", "--logs"):
        started = time.monotonic()
        process = dashboard_logs(broker, "5", "nginx", "-f", "--for", "2")
        out, err = process.communicate(timeout=20)
    assert (process.returncode, out, err) == (0, "", "")
    assert time.monotonic() - started >= 2


def test_tail_on_a_broker_that_speaks_only_3_1_1(
    printing: AgentSimulator, nats_broker: Nats
) -> None:
    """On NATS the command falls back to MQTT 3.1.1 on its own (replyTo) and prints the tail."""
    host, port = nats_broker.host, nats_broker.port
    with BridgeProcess(printing.directory, port, *FAST, "--logs"), Client311(host, port) as watcher:
        watcher.subscribe("ankaios/$bridge/ankaios")
        wait_for(
            lambda: any(m.payload == b"connected" for m in watcher.messages),
            10,
            "the bridge connected to Ankaios",
        )
        argv = [sys.executable, "-m", "bridge.dashboard", "logs", "nginx", "--tail", "1"]
        argv += ["--mqtt-host", host, "--mqtt-port", str(port)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "third\n", "")
