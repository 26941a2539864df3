"""`ankaios-mqtt-watchdog` end to end: real brokers, the retained `$bridge` topics published by the test, the fake `ank`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bridge.simulator import AgentSimulator
from tests.support.bridge import BridgeProcess
from tests.support.broker import Mosquitto
from tests.support.brokers import Nats
from tests.support.mqtt import read_retained
from tests.support.scene import FAST, assert_converges
from tests.support.tls import Pki, TlsMosquitto, publish_as
from tests.support.watchdog import DELETE, FAKE_ANK, GET, WORKLOAD, WatchdogProcess, info, stop

APPLY = "apply"


def workloads(dog: WatchdogProcess) -> list[str]:
    """Return the workloads the fake Ankaios runs now."""
    return sorted(json.loads(dog.state_file.read_text())["workloads"])


def test_a_stop_that_recreating_fixes_deletes_waits_until_gone_and_applies(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """`offline` after `stopped` with `recreate: true`: exactly delete, get until the workload is gone, apply; one line per step with the reason."""
    with WatchdogProcess(tmp_path, broker.host, broker.port, env={"FAKE_ANK_LINGER": "2"}) as dog:
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:01:02.345Z")))
        calls = dog.wait_calls(5)
        dog.wait_log("re-created")
        assert calls == [DELETE, GET, GET, GET, [APPLY, str(dog.manifest)]]
        assert workloads(dog) == ["mosquitto", WORKLOAD]
        log = dog.log()
        assert (
            f"re-creating workload {WORKLOAD} (1 this hour), because the bridge stopped at "
            "2026-12-07T16:01:02.345Z: the control interface is gone"
        ) in log
        assert f"running ank delete workload {WORKLOAD}" in log
        assert f"workload {WORKLOAD} is gone; running ank apply {dog.manifest}" in log
        assert f"applied {dog.manifest}: workload {WORKLOAD} re-created" in log
        assert dog.signal() == 0


def test_a_retained_stop_found_at_start_is_acted_on_once(tmp_path: Path, broker: Mosquitto) -> None:
    """A watchdog started after the bridge stopped re-creates the workload; the same stop heard again after a broker restart is not acted on twice, a new one is."""
    dog = WatchdogProcess(tmp_path, broker.host, broker.port)
    dog.say(b"offline", info(stop("2026-12-07T16:01:02.345Z")))
    with dog:
        assert dog.wait_calls(3) == [DELETE, GET, [APPLY, str(dog.manifest)]]
        dog.wait_log("re-created")
        broker.restart()
        dog.say(b"offline", info(stop("2026-12-07T16:01:02.345Z")))
        dog.wait_log("subscribed to ", count=2)
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:09:00.000Z")))
        dog.wait_log("re-created", count=2)
        assert dog.calls() == [DELETE, GET, [APPLY, str(dog.manifest)]] * 2
        acted = [
            line.split(" at ", 1)[1][:24]
            for line in dog.log().splitlines()
            if "re-creating workload" in line
        ]
        assert acted == ["2026-12-07T16:01:02.345Z", "2026-12-07T16:09:00.000Z"]


def test_a_clean_stop_and_a_killed_bridge_are_left_alone(tmp_path: Path, broker: Mosquitto) -> None:
    """`offline` without `stopped` (SIGTERM, or the will), even after a handled stop, runs no `ank`; the next real stop is handled."""
    cycle = [DELETE, GET, [APPLY, "manifest"]]
    with WatchdogProcess(tmp_path, broker.host, broker.port) as dog:
        cycle[2][1] = str(dog.manifest)
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:01:02.345Z")))
        assert dog.wait_calls(3) == cycle
        # The re-created bridge runs, then stops cleanly, then is killed.
        dog.say(b"online", info())
        dog.say(b"offline", info())
        dog.say(b"online")
        dog.say(b"offline")
        # The messages arrive in order: once this stop is handled, the ones before were seen.
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:09:00.000Z")))
        assert dog.wait_calls(6) == cycle * 2
        assert dog.log().count("running ank delete workload") == 2


def test_a_stop_that_recreating_does_not_fix_is_refused_with_the_advice(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """`recreate: false` runs no `ank` and logs once that a person must act, with the advice."""
    with WatchdogProcess(tmp_path, broker.host, broker.port) as dog:
        denied = stop(
            "2026-12-07T16:01:00.000Z", recreate=False, reason="Ankaios denied reading 'x'"
        )
        dog.say(b"offline", info(denied))
        dog.say(b"offline", info(denied))
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:02:00.000Z")))
        assert dog.wait_calls(3) == [DELETE, GET, [APPLY, str(dog.manifest)]]
        line = (
            f"WARNING bridge.watchdog: not re-creating workload {WORKLOAD}: that would not help; "
            "a person must act: re-create the workload; the bridge stopped at "
            "2026-12-07T16:01:00.000Z: Ankaios denied reading 'x'"
        )
        assert dog.log().count(line) == 1


def test_the_hourly_limit_is_one_line_and_no_action(tmp_path: Path, broker: Mosquitto) -> None:
    """Past --max-recreations within the hour, a stop gets one line saying so and no `ank` call."""
    with WatchdogProcess(tmp_path, broker.host, broker.port, "--max-recreations", "1") as dog:
        dog.say(b"offline", info(stop("2026-12-07T16:01:00.000Z")))
        dog.wait_log("re-created")
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:02:00.000Z")))
        dog.wait_log("is reached")
        dog.say(b"offline", info(stop("2026-12-07T16:02:00.000Z")))
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:02:00.000Z")))
        # A bad status: its one line shows that everything before it was handled.
        dog.say(b"bogus")
        dog.wait_log(
            "ignoring ankaios/$bridge/status: 'bogus' is not a status; expected online or offline"
        )
        assert dog.signal() == 0
        assert dog.calls() == [DELETE, GET, [APPLY, str(dog.manifest)]]
        line = (
            f"WARNING bridge.watchdog: not re-creating workload {WORKLOAD}: the limit of 1 "
            "re-creations within an hour (--max-recreations) is reached; next possible in "
        )
        assert dog.log().count(line) == 1
        assert (
            "the bridge stopped at 2026-12-07T16:02:00.000Z: the control interface is gone"
            in dog.log()
        )


def test_a_failing_ank_is_one_line_then_tried_again_after_the_wait(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """An `ank apply` that fails logs its exit status and stderr in one line; the re-creation is tried again after the wait, within the limit."""
    args = ("--max-recreations", "2")
    with WatchdogProcess(
        tmp_path, broker.host, broker.port, *args, env={"FAKE_ANK_FAIL": APPLY}
    ) as dog:
        dog.say(b"offline", info(stop("2026-12-07T16:01:00.000Z")))
        dog.wait_log("is reached")
        assert dog.calls() == [DELETE, GET, [APPLY, str(dog.manifest)]] * 2
        line = (
            f"ERROR bridge.watchdog: ank apply {dog.manifest} failed with exit status 1: Error: fake "
            "ank: apply failed as asked (FAKE_ANK_FAIL); trying again in 0.1 s if the bridge still needs it"
        )
        assert line in dog.log()
        assert "Traceback" not in dog.log()


def test_under_mqtt_311_on_nats(tmp_path: Path, nats_broker: Nats) -> None:
    """Against NATS (MQTT 3.1.1 only) the watchdog falls back to 3.1.1 and re-creates the workload on a stop."""
    with WatchdogProcess(tmp_path, nats_broker.host, nats_broker.port) as dog:
        assert (
            f"connected to the broker at {nats_broker.host}:{nats_broker.port} with MQTT 3.1.1"
            in dog.log()
        )
        dog.say(b"online", info())
        dog.say(b"offline", info(stop("2026-12-07T16:01:02.345Z")))
        assert dog.wait_calls(3) == [DELETE, GET, [APPLY, str(dog.manifest)]]


def run_watchdog(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the watchdog command with `args` and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "bridge.watchdog", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )


def test_a_missing_manifest_or_ank_ends_with_exit_2_and_one_line(tmp_path: Path) -> None:
    """A manifest that is not a file, a missing `ank`, or no --workload: exit 2 and one line naming the option."""
    missing = tmp_path / "nope.yaml"
    done = run_watchdog("--workload", WORKLOAD, "--manifest", str(missing), "--ank", str(FAKE_ANK))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"ankaios-mqtt-watchdog: --manifest / WATCHDOG_MANIFEST: {missing} is not a file; give the "
        "manifest that ank apply re-creates the bridge's workload from\n"
    )
    manifest = tmp_path / "state.yaml"
    manifest.write_text("workloads: {}\n")
    done = run_watchdog(
        "--workload", WORKLOAD, "--manifest", str(manifest), "--ank", str(tmp_path / "ank")
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"ankaios-mqtt-watchdog: --ank / WATCHDOG_ANK: '{tmp_path / 'ank'}' is not an executable program "
        "(nor one on PATH); the watchdog needs the ank CLI\n"
    )
    done = run_watchdog("--manifest", str(manifest))
    assert done.returncode == 2
    assert done.stderr == (
        "ankaios-mqtt-watchdog: --workload / WATCHDOG_WORKLOAD is required: the bridge's workload "
        "name, as ank get workloads lists it\n"
    )


def test_with_the_real_bridge_the_workload_comes_back(
    tmp_path: Path, sim: AgentSimulator, broker: Mosquitto
) -> None:
    """A bridge whose FIFOs are gone (a second server reconnect) stops with its reason; the watchdog deletes and applies its workload; the new instance's bridge is online, connected and converged."""
    with (
        WatchdogProcess(tmp_path, broker.host, broker.port) as dog,
        BridgeProcess(sim.directory, broker.port, *FAST) as bridge,
    ):
        assert_converges(sim, broker)
        sim.replace_control_interface()
        assert_converges(sim, broker)
        sim.replace_control_interface()
        assert bridge.wait(5) == 1
        assert dog.wait_calls(3) == [DELETE, GET, [APPLY, str(dog.manifest)]]
        # Ankaios: the applied manifest makes a new workload instance with a new control
        # interface, and its container runs a new bridge.
        sim.new_workload_instance()
        with BridgeProcess(sim.directory, broker.port, *FAST):
            assert_converges(sim, broker, timeout=5)
            info_document = json.loads(
                read_retained(broker.host, broker.port)["ankaios/$bridge/info"]
            )
        assert "stopped" not in info_document
        assert info_document["ankaios"] == "connected"
        recreating = [line for line in dog.log().splitlines() if "re-creating workload" in line]
        assert len(recreating) == 1
        assert f"the Ankaios control interface at {sim.directory} is gone" in recreating[0]
        assert dog.calls() == [DELETE, GET, [APPLY, str(dog.manifest)]]


def test_tls_and_a_password_and_no_secret_in_the_log_or_for_ank(
    tmp_path: Path, pki: Pki, tls_broker: TlsMosquitto
) -> None:
    """With the bridge's TLS, user and MQTT_PASSWORD the watchdog logs in and acts; the password is neither logged nor handed to `ank`."""
    env = {
        "MQTT_CA_FILE": str(pki.ca),
        "MQTT_USERNAME": pki.bridge.username,
        "MQTT_PASSWORD": pki.bridge.password,
        "FAKE_ANK_ON_APPLY": f"env > {tmp_path / 'ank-env'}",
    }
    with WatchdogProcess(tmp_path, tls_broker.host, tls_broker.port, env=env) as dog:
        publish_as(
            tls_broker, pki.bridge, "ankaios/$bridge/info", info(stop("2026-12-07T16:01:02.345Z"))
        )
        publish_as(tls_broker, pki.bridge, "ankaios/$bridge/status", b"offline")
        assert dog.wait_calls(3) == [DELETE, GET, [APPLY, str(dog.manifest)]]
        dog.wait_log("re-created")
        assert "password=set" in dog.log()
        assert pki.bridge.password not in dog.log()
        handed = (tmp_path / "ank-env").read_text()
        assert f"MQTT_USERNAME={pki.bridge.username}" in handed
        assert "MQTT_PASSWORD" not in handed
        assert pki.bridge.password not in handed


def test_a_workload_still_listed_after_the_delete_timeout_is_not_applied(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """When `ank get workloads` still lists the workload after --delete-timeout, one ERROR line says so and `ank apply` is not run."""
    args = ("--delete-timeout", "0.3", "--max-recreations", "1")
    env = {"FAKE_ANK_LINGER": "1000"}
    with WatchdogProcess(tmp_path, broker.host, broker.port, *args, env=env) as dog:
        dog.say(b"offline", info(stop("2026-12-07T16:01:00.000Z")))
        dog.wait_log("is reached")
        calls = dog.calls()
        assert calls[0] == DELETE
        assert set(map(tuple, calls[1:])) == {tuple(GET)}
        assert len(calls) >= 2
        assert (
            f"ERROR bridge.watchdog: ank get workloads still lists {WORKLOAD} 0.3 s after ank "
            "delete workload (--delete-timeout); not applying the manifest; trying again in 0.1 s"
        ) in dog.log()
