"""Deployment files: Dockerfile (hadolint), state.yaml (Ankaios rules) and docker-compose.yml.

All checks are static or use a local mosquitto; none needs podman or a container engine.
scripts/container-smoke.sh is the opt-in run of the real image.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from bridge.ankaios.fieldpaths import BRIDGE_MASKS
from bridge.settings.commands import load_settings
from tests.support.mqtt import publish, read_retained
from tests.support.tls import TlsMosquitto, make_pki, publish_as

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from tests.support.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
BRIDGE_WORKLOAD = "mqtt_bridge"
BROKER_WORKLOAD = "mosquitto"
CONTROL_INTERFACE_MOUNT = "/run/ankaios/control_interface"
BRIDGE_ENV = frozenset(
    (
        "ANKAIOS_CONTROL_INTERFACE_PATH",
        "MQTT_HOST",
        "MQTT_PORT",
        "MQTT_CLIENT_ID",
        "MQTT_QOS",
        "MQTT_TOPIC_PREFIX",
        "LOG_LEVEL",
        "MQTT_TLS",
        "MQTT_CA_FILE",
        "MQTT_CERT_FILE",
        "MQTT_KEY_FILE",
        "MQTT_TLS_INSECURE",
        "MQTT_USERNAME",
        "MQTT_PASSWORD_FILE",
        "MQTT_PASSWORD",
        "MQTT_RECONNECT_MAX_DELAY",
        "RESYNC_INTERVAL",
        "ANKAIOS_HANDSHAKE_TIMEOUT",
        "ANKAIOS_AGENT_RECONNECT_TIMEOUT",
        "ANKAIOS_REQUEST_TIMEOUT",
        "ANKAIOS_PROBE_INTERVAL",
    )
)

# --- Ankaios v1 manifest rules, from eclipse-ankaios/ankaios v1.0.1 ---------------------
# ankaios_api/src/ank_base/complete_state.rs (apiVersion), workload.rs (names, agent,
# config references), control_interface_access.rs (rules), build/*.rs (field names and
# enum spellings), agent podman_runtime_config.rs (runtimeConfig). Deliberately stricter
# than Ankaios in three ways: only `v1` (not the deprecated `v0.1`), no deprecated
# `filterMask`, and no unknown keys (serde would silently drop a misspelt one).
NAME = re.compile(r"[a-zA-Z0-9_-]*")
MAX_NAME = 63
STATE_KEYS = frozenset(("apiVersion", "workloads", "configs"))
WORKLOAD_KEYS = frozenset(
    (
        "agent",
        "tags",
        "dependencies",
        "restartPolicy",
        "runtime",
        "runtimeConfig",
        "controlInterfaceAccess",
        "configs",
        "files",
    )
)
RESTART_POLICIES = frozenset(("NEVER", "ON_FAILURE", "ALWAYS"))
ADD_CONDITIONS = frozenset(("ADD_COND_RUNNING", "ADD_COND_SUCCEEDED", "ADD_COND_FAILED"))
OPERATIONS = frozenset(("Nothing", "Read", "Write", "ReadWrite"))
PODMAN_KEYS = frozenset(("generalOptions", "commandOptions", "image", "commandArgs"))


def _name_problem(kind: str, name: object) -> str | None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return f"{kind} {name!r}: only [a-zA-Z0-9_-] allowed"
    if not name or len(name) > MAX_NAME:
        return f"{kind} {name!r}: length must be 1 to {MAX_NAME}"
    return None


def _rule_problems(where: str, rule: Mapping[str, Any]) -> Iterator[str]:
    kind = rule.get("type")
    if kind == "StateRule":
        if set(rule) - {"type", "operation", "filterMasks"}:
            yield f"{where}: StateRule keys are type, operation, filterMasks; got {sorted(rule)}"
        if rule.get("operation") not in OPERATIONS:
            yield f"{where}: operation {rule.get('operation')!r} not in {sorted(OPERATIONS)}"
        masks = rule.get("filterMasks")
        if not isinstance(masks, list) or not all(isinstance(m, str) and m for m in masks):
            yield f"{where}: filterMasks must be a list of non-empty strings"
    elif kind == "LogRule":
        names = rule.get("workloadNames")
        if set(rule) - {"type", "workloadNames"} or not isinstance(names, list):
            yield f"{where}: LogRule needs exactly type and a workloadNames list"
    else:
        yield f"{where}: rule type {kind!r} is neither StateRule nor LogRule"


def _access_problems(where: str, access: Mapping[str, Any]) -> Iterator[str]:
    if unknown := set(access) - {"allowRules", "denyRules"}:
        yield f"{where}: controlInterfaceAccess has unknown keys {sorted(unknown)}"
    for group in ("allowRules", "denyRules"):
        for index, rule in enumerate(access.get(group, [])):
            yield from _rule_problems(f"{where}: {group}[{index}]", rule)


def _reference_problems(where: str, spec: Mapping[str, Any], names: set[str]) -> Iterator[str]:
    for dependency, condition in spec.get("dependencies", {}).items():
        if dependency not in names:
            yield f"{where}: depends on {dependency!r}, which the manifest does not define"
        if condition not in ADD_CONDITIONS:
            yield f"{where}: add condition {condition!r} not in {sorted(ADD_CONDITIONS)}"
    for alias, key in spec.get("configs", {}).items():
        if not (NAME.fullmatch(str(alias)) and NAME.fullmatch(str(key))):
            yield f"{where}: config alias/reference {alias!r}: {key!r} not [a-zA-Z0-9_-]"


def _workload_problems(name: str, spec: Mapping[str, Any], names: set[str]) -> Iterator[str]:
    where = f"workload {name}"
    if unknown := set(spec) - WORKLOAD_KEYS:
        yield f"{where}: unknown keys {sorted(unknown)}"
    for key in ("agent", "runtime", "runtimeConfig"):
        if not isinstance(spec.get(key), str):
            yield f"{where}: {key} is mandatory and a string"
    if problem := _name_problem("agent name", spec.get("agent", "")):
        yield f"{where}: {problem}"
    if spec.get("restartPolicy", "NEVER") not in RESTART_POLICIES:
        yield f"{where}: restartPolicy {spec['restartPolicy']!r} not in {sorted(RESTART_POLICIES)}"
    tags = spec.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        yield f"{where}: tags must be a mapping of strings in apiVersion v1"
    yield from _reference_problems(where, spec, names)
    yield from _access_problems(where, spec.get("controlInterfaceAccess", {}))


def ankaios_problems(manifest: object) -> list[str]:
    """Return what Ankaios v1.0.1 (or this stricter check) rejects in a manifest."""
    if not isinstance(manifest, dict):
        return ["the manifest is not a mapping"]
    problems = []
    if manifest.get("apiVersion") != "v1":
        problems.append(f"apiVersion {manifest.get('apiVersion')!r}, expected 'v1'")
    if unknown := set(manifest) - STATE_KEYS:
        problems.append(f"unknown top-level keys {sorted(unknown)}")
    workloads = manifest.get("workloads") or {}
    problems.extend(
        problem for name in workloads if (problem := _name_problem("workload name", name))
    )
    for name, spec in workloads.items():
        problems.extend(_workload_problems(str(name), spec, set(workloads)))
    problems.extend(
        f"config key {key!r} not [a-zA-Z0-9_-]"
        for key in manifest.get("configs", {})
        if not NAME.fullmatch(str(key))
    )
    return problems


def load_manifest() -> dict[str, Any]:
    """Return state.yaml as data."""
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "state.yaml").read_text())
    return manifest


def podman_config(workload: str) -> dict[str, Any]:
    """Return the parsed podman runtimeConfig of one workload in state.yaml."""
    config: dict[str, Any] = yaml.safe_load(load_manifest()["workloads"][workload]["runtimeConfig"])
    return config


def env_options(options: list[str]) -> dict[str, str]:
    """Return the `-e K=V` pairs of podman command options."""
    pairs = [value for flag, value in itertools.pairwise(options) if flag == "-e"]
    return dict(pair.split("=", 1) for pair in pairs)


# --- tools from the dev dependency group --------------------------------------------------
def dev_tool(name: str) -> str:
    """Return the path of a binary the dev group installs; fail (never skip) without it."""
    search = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(
            f"{name} not found next to {sys.executable} or on PATH; "
            "install the dev group: pip install --group dev"
        )
    return found


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool in the repository root and capture its output."""
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def compose() -> Callable[..., dict[str, Any]]:
    """Return a function giving `docker-compose config --format json` for some profiles."""
    binary = dev_tool("docker-compose")
    cache: dict[tuple[str, ...], dict[str, Any]] = {}

    def config(*profiles: str) -> dict[str, Any]:
        if profiles not in cache:
            flags = [arg for profile in profiles for arg in ("--profile", profile)]
            result = run_tool(
                binary, "-f", "docker-compose.yml", *flags, "config", "--format", "json"
            )
            assert result.returncode == 0, result.stderr
            cache[profiles] = json.loads(result.stdout)
        return cache[profiles]

    return config


# --- Dockerfile ---------------------------------------------------------------------------
def test_dockerfile_lints_clean_with_hadolint() -> None:
    """Hadolint reports nothing for the Dockerfile under the project's .hadolint.yaml."""
    hadolint = dev_tool("hadolint")
    result = run_tool(hadolint, "--no-color", "--config", ".hadolint.yaml", "Dockerfile")
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_hadolint_fails_a_dockerfile_breaking_the_image_rules() -> None:
    """The lint can fail: an unpinned, cache-keeping pip install is reported."""
    hadolint = dev_tool("hadolint")
    bad = "FROM docker.io/library/python:3.12-slim\nRUN pip install paho-mqtt\n"
    result = subprocess.run(
        [hadolint, "--no-color", "--config", str(ROOT / ".hadolint.yaml"), "-"],
        input=bad,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DL3013" in result.stdout
    assert "DL3042" in result.stdout


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_image_runs_the_bridge_as_pid_1_under_a_fixed_non_root_uid() -> None:
    """Exec-form ENTRYPOINT of the bridge, numeric non-root USER, no HEALTHCHECK."""
    instructions = _instructions()
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    entrypoints = [json.loads(arg) for op, arg in final if op == "ENTRYPOINT"]
    assert entrypoints == [["/opt/venv/bin/ankaios-mqtt-bridge"]]
    users = [arg for op, arg in final if op == "USER"]
    assert len(users) == 1
    assert users[0] == "${APP_UID}:${APP_UID}"
    uid_args = [arg for op, arg in final if op == "ARG" and arg.startswith("APP_UID=")]
    assert uid_args == ["APP_UID=10001"]
    assert all(op != "HEALTHCHECK" for op, _ in instructions)


def test_base_image_and_dashboard_extra_are_build_arguments() -> None:
    """PYTHON_IMAGE picks the base of both stages; the dashboard extra is on by default."""
    instructions = _instructions()
    assert instructions[0][0] == "ARG"
    assert instructions[0][1].startswith("PYTHON_IMAGE=")
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert [f.split()[0] for f in froms] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert ("ARG", "EXTRAS=dashboard") in instructions


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    """.dockerignore excludes everything but the files the Dockerfile COPYs from the context."""
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {
        source.rstrip("/")
        for op, arg in _instructions()
        if op == "COPY" and "--from" not in arg
        for source in arg.split()[:-1]
    }
    assert copied == allowed
    assert all((ROOT / path).exists() for path in allowed)


# --- state.yaml -----------------------------------------------------------------------------
def test_state_manifest_passes_the_ankaios_v1_rules() -> None:
    """state.yaml is a v1 manifest Ankaios accepts: names, agents, rules and enums."""
    assert ankaios_problems(load_manifest()) == []


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda m: m.update(apiVersion="v0.1"), "apiVersion"),
        (lambda m: m["workloads"].update({"mqtt.bridge": {}}), "only [a-zA-Z0-9_-]"),
        (lambda m: m["workloads"].update({"w" * 64: {}}), "length must be 1 to 63"),
        (lambda m: m["workloads"][BRIDGE_WORKLOAD].update(agent="agent A"), "agent name"),
        (lambda m: m["workloads"][BRIDGE_WORKLOAD].update(restartPolicy="never"), "restartPolicy"),
        (lambda m: m["workloads"][BRIDGE_WORKLOAD].update(tags=["a"]), "tags"),
        (lambda m: m["workloads"][BRIDGE_WORKLOAD].update(dependencies={"x": "RUNNING"}), "x"),
        (lambda m: m["workloads"][BRIDGE_WORKLOAD].pop("runtimeConfig"), "runtimeConfig"),
        (lambda m: _state_rule(m).update(filterMasks=[""]), "non-empty"),
        (lambda m: _state_rule(m).update(filterMask=_state_rule(m).pop("filterMasks")), "keys"),
        (lambda m: _state_rule(m).update(operation="read"), "operation"),
        (lambda m: _state_rule(m).update(type="StatRule"), "rule type"),
    ],
)
def test_manifest_check_rejects_what_ankaios_rejects(
    mutate: Callable[[dict[str, Any]], object], complaint: str
) -> None:
    """The manifest check is able to fail: each broken variant of state.yaml is reported."""
    manifest = load_manifest()
    mutate(manifest)
    problems = ankaios_problems(manifest)
    assert any(complaint in problem for problem in problems), problems


def _state_rule(manifest: dict[str, Any]) -> dict[str, Any]:
    rules = manifest["workloads"][BRIDGE_WORKLOAD]["controlInterfaceAccess"]["allowRules"]
    rule: dict[str, Any] = rules[0]
    return rule


def test_bridge_may_read_exactly_the_masks_it_subscribes_to() -> None:
    """One Read StateRule with bridge.ankaios.fieldpaths.BRIDGE_MASKS, no more, no deny rules."""
    access = load_manifest()["workloads"][BRIDGE_WORKLOAD]["controlInterfaceAccess"]
    assert access["allowRules"] == [
        {"type": "StateRule", "operation": "Read", "filterMasks": list(BRIDGE_MASKS)}
    ]
    assert "denyRules" not in access


def test_bridge_starts_after_the_broker_and_is_never_restarted_in_place() -> None:
    """The bridge waits for a running broker and has restartPolicy NEVER (no second Hello)."""
    workloads = load_manifest()["workloads"]
    bridge = workloads[BRIDGE_WORKLOAD]
    assert bridge["dependencies"] == {BROKER_WORKLOAD: "ADD_COND_RUNNING"}
    assert bridge["restartPolicy"] == "NEVER"
    assert bridge["agent"] == workloads[BROKER_WORKLOAD]["agent"]
    assert {spec["runtime"] for spec in workloads.values()} == {"podman"}


def test_bridge_settings_in_state_are_valid_for_the_bridge() -> None:
    """The podman runtimeConfig is well formed and its -e settings load as bridge settings."""
    config = podman_config(BRIDGE_WORKLOAD)
    assert set(config) <= PODMAN_KEYS
    options = config["commandOptions"]
    assert all(isinstance(option, str) for option in options)
    env = env_options(options)
    assert set(env) <= BRIDGE_ENV
    settings = load_settings([], env, hostname="agent-host")
    assert (settings.mqtt.host, settings.mqtt.port) == ("127.0.0.1", 1883)
    assert settings.mqtt.prefix == "ankaios"
    # The broker is reachable on 127.0.0.1 only if both share the host network.
    assert "--net=host" in options
    assert "--net=host" in podman_config(BROKER_WORKLOAD)["commandOptions"]


# --- docker-compose.yml ---------------------------------------------------------------------
def test_compose_file_is_valid_for_the_compose_binary() -> None:
    """`docker-compose config --quiet` accepts the file, with and without the tools profile."""
    binary = dev_tool("docker-compose")
    for flags in ((), ("--profile", "tools")):
        result = run_tool(binary, "-f", "docker-compose.yml", *flags, "config", "--quiet")
        assert (result.returncode, result.stderr) == (0, "")
    assert "version" not in yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_the_dashboard_only_in_the_tools_profile(
    compose: Callable[..., dict[str, Any]],
) -> None:
    """`up` starts broker, simulator and bridge; the dashboard comes with --profile tools."""
    assert set(compose()["services"]) == {"mosquitto", "simulator", "bridge"}
    dashboard = compose("tools")["services"]["dashboard"]
    assert dashboard["entrypoint"] == ["ankaios-mqtt-dashboard"]
    assert dashboard["profiles"] == ["tools"]
    assert dashboard["tty"] is True
    assert dashboard["stdin_open"] is True
    images = {s["image"] for s in compose("tools")["services"].values() if "build" in s}
    assert len(images) == 1


def test_bridge_shares_the_simulator_fifos_where_ankaios_mounts_them(
    compose: Callable[..., dict[str, Any]],
) -> None:
    """Bridge and simulator mount one volume at the control-interface path."""
    services = compose()["services"]
    mounts = {
        name: {(v["source"], v["target"]) for v in services[name]["volumes"]}
        for name in ("bridge", "simulator")
    }
    assert (
        mounts["bridge"] == mounts["simulator"] == {("control_interface", CONTROL_INTERFACE_MOUNT)}
    )
    entrypoint = services["simulator"]["entrypoint"]
    assert entrypoint[0] == "ankaios-simulator"
    assert entrypoint[1:5] == ["--control-interface", CONTROL_INTERFACE_MOUNT, "--scenario", "demo"]


def test_bridge_starts_only_after_healthy_broker_and_fifos(
    compose: Callable[..., dict[str, Any]],
) -> None:
    """depends_on waits for the broker's and the simulator's healthchecks."""
    services = compose()["services"]
    bridge = services["bridge"]
    assert {name: dep["condition"] for name, dep in bridge["depends_on"].items()} == {
        "mosquitto": "service_healthy",
        "simulator": "service_healthy",
    }
    fifo_check = " ".join(services["simulator"]["healthcheck"]["test"])
    for fifo in ("input", "output"):
        assert f"test -p {CONTROL_INTERFACE_MOUNT}/{fifo}" in fifo_check
    assert services["mosquitto"]["healthcheck"]["test"][:2] == ["CMD", "mosquitto_sub"]
    # A bridge restarted alone would send a Hello the simulator (like Ankaios) ignores.
    assert bridge["restart"] == "no"
    conf = {(v["source"], v["target"]) for v in services["mosquitto"]["volumes"]}
    assert conf == {(str(ROOT / "deploy/mosquitto.conf"), "/mosquitto/config/mosquitto.conf")}


def test_bridge_settings_in_compose_are_valid_for_the_bridge(
    compose: Callable[..., dict[str, Any]],
) -> None:
    """The compose environment names known variables and loads as bridge settings."""
    env = compose()["services"]["bridge"]["environment"]
    assert set(env) <= BRIDGE_ENV
    settings = load_settings([], env, hostname="compose")
    assert settings.mqtt.host == "mosquitto"


def _unescape(argv: list[str]) -> list[str]:
    # `config` prints `$$` (compose's escape for a literal `$`) as it was written.
    return [arg.replace("$$", "$") for arg in argv]


def _run_healthcheck(argv: list[str], environ: dict[str, str]) -> int:
    path = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))
    env = {**os.environ, "PATH": path, **environ}
    return subprocess.run(argv, env=env, timeout=10, check=False).returncode


def test_compose_healthchecks_report_broker_and_bridge_health(
    compose: Callable[..., dict[str, Any]], broker: Mosquitto
) -> None:
    """The bridge check passes on a retained `online` only; the broker's topic is retained."""
    services = compose()["services"]
    kind, *command = _unescape(services["bridge"]["healthcheck"]["test"])
    assert (kind, command) == ("CMD", ["ankaios-mqtt-healthcheck"])
    # The bridge's own environment, MQTT_CLIENT_ID included: the check must not reuse it.
    env = {**services["bridge"]["environment"], "MQTT_HOST": broker.host}
    env["MQTT_PORT"] = str(broker.port)

    publish(broker.host, broker.port, "ankaios/$bridge/status", b"online")
    assert _run_healthcheck(command, env) == 0
    publish(broker.host, broker.port, "ankaios/$bridge/status", b"offline")
    assert _run_healthcheck(command, env) == 1

    # The broker's check (mosquitto_sub -C 1 -W 3) needs a topic answered at once: retained.
    topic = _unescape(services["mosquitto"]["healthcheck"]["test"])[3]
    assert topic in read_retained(broker.host, broker.port, topic)


def test_compose_bridge_healthcheck_works_with_tls_and_a_password(
    compose: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    """With the README's secure settings (CA file, user, password file) the bridge check passes."""
    pki = make_pki(tmp_path)
    bridge = compose()["services"]["bridge"]
    command = _unescape(bridge["healthcheck"]["test"])[1:]
    broker = TlsMosquitto(pki)
    with broker:
        env = {
            **bridge["environment"],
            "MQTT_HOST": broker.host,
            "MQTT_PORT": str(broker.port),
            "MQTT_CA_FILE": str(pki.ca),
            "MQTT_USERNAME": pki.bridge.username,
            "MQTT_PASSWORD_FILE": str(pki.bridge_password_file),
        }
        assert _run_healthcheck(command, env) == 1
        publish_as(broker, pki.bridge, "ankaios/$bridge/status", b"online")
        assert _run_healthcheck(command, env) == 0
