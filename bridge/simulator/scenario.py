"""Timed scenarios of workload changes, read from TOML files (parsing is pure).

A scenario is a list of ``[[step]]`` tables, each with ``at`` (seconds from the
start) and an ``action``, and optionally ``[load] every = SECONDS`` (periodic
load reports); see ``scenarios/demo.toml`` for a complete example.
"""

from __future__ import annotations

import importlib.resources
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.simulator.cluster import STATE_KINDS, execution_state, instance_id

_NAME = re.compile(r"^[a-zA-Z0-9_-]+$")
_KEYS = {
    "connect": {"at", "action", "agent", "tags"},
    "disconnect": {"at", "action", "agent"},
    "set": {"at", "action", "agent", "workload", "config", "id", "state", "substate", "info"},
    "remove": {"at", "action", "agent", "workload", "config", "id"},
    "load": {"at", "action", "agent", "cpu", "memory"},
    "restart-agent": {"at", "action", "down", "first", "gap"},
    "reconnect-server": {"at", "action"},
    "server-outage": {"at", "action", "duration"},
    "hang-server": {"at", "action", "duration"},
}
FAULTS = ("restart-agent", "reconnect-server", "server-outage", "hang-server")
_CLOSE_ORDERS = ("reader", "writer")
_TAIL = 2.0  # seconds a pass lasts after its last step unless `duration` says otherwise


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Step:
    """One change at ``at`` seconds: an agent or instance change, or a control-interface fault."""

    at: float
    action: str
    agent: str
    workload: str = ""
    instance_id: str = ""
    state: str = ""
    substate: str = ""
    info: str | None = None
    tags: tuple[tuple[str, str], ...] = ()  # connect: the AgentHello's tags, sorted by key
    cpu_usage: int = 0
    free_memory: int = 0
    down: float = 1.0  # restart-agent: seconds the agent process is away
    first: str = "reader"  # restart-agent: the end the dying agent closes first
    gap: float = 0.0  # restart-agent: seconds between the two closes
    duration: float = 0.0  # server-outage, hang-server: seconds the server is away or hung


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named, time-ordered list of steps; one pass lasts ``duration`` seconds."""

    name: str
    steps: tuple[Step, ...]
    duration: float
    load_every: float | None = None  # seconds between load reports of every agent; None: off


def _text(table: Mapping[str, object], key: str, *, empty_ok: bool = False) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not (value or empty_ok):
        raise ValueError(f"'{key}' must be a non-empty string")
    if value and not _NAME.match(value):
        raise ValueError(f"'{key}' = {value!r} may only use letters, digits, '_' and '-'")
    return value


def _count(table: Mapping[str, object], key: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"'{key}' must be a whole number >= 0")
    return value


def _seconds(table: Mapping[str, object], key: str, default: float, *, positive: bool) -> float:
    value = table.get(key, default)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and isinstance(value, int | float) and (value > 0 or (value == 0 and not positive)):
        return float(value)
    bound = "> 0" if positive else ">= 0"
    raise ValueError(f"'{key}' must be a number of seconds {bound}, got {value!r}")


def _fault(at: float, action: str, table: Mapping[str, object]) -> Step:
    if action == "reconnect-server":
        return Step(at, action, "")
    if action in ("server-outage", "hang-server"):
        if "duration" not in table:
            raise ValueError("'duration' (seconds the server is away or hung) is required")
        return Step(at, action, "", duration=_seconds(table, "duration", 0, positive=True))
    first = table.get("first", "reader")
    if first not in _CLOSE_ORDERS:
        raise ValueError(f'\'first\' must be "reader" or "writer", got {first!r}')
    down = _seconds(table, "down", 1.0, positive=False)
    gap = _seconds(table, "gap", 0.0, positive=False)
    return Step(at, action, "", down=down, first=str(first), gap=gap)


def _tags(table: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    # An agent's --tag key=value pairs (agent/src/cli.rs): any strings, key non-empty.
    tags = table.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(key, str) and key and isinstance(value, str) for key, value in tags.items()
    ):
        raise TypeError("'tags' must be a table of strings, e.g. tags = {zone = \"front\"}")
    return tuple(sorted(tags.items()))


def _load_every(document: Mapping[str, object], source: str) -> float | None:
    load = document.get("load")
    if load is None:
        return None
    if not isinstance(load, dict) or set(load) != {"every"}:
        raise ScenarioError(f"{source}: [load] takes exactly one key, every = SECONDS")
    try:
        return _seconds(load, "every", 0, positive=True)
    except ValueError as err:
        raise ScenarioError(f"{source}: [load]: {err}") from None


def _instance(table: Mapping[str, object]) -> str:
    if ("config" in table) == ("id" in table):
        raise ValueError("give exactly one of 'config' (hashed to an instance id) or 'id'")
    if "config" in table:
        config = table["config"]
        if not isinstance(config, str) or not config:
            raise ValueError("'config' must be a non-empty string")
        return instance_id(config)
    return _text(table, "id")


def parse_step(table: Mapping[str, object]) -> Step:
    """Parse one ``[[step]]`` table; ValueError or TypeError say what is wrong with it."""
    action = table.get("action")
    if action not in _KEYS:
        raise ValueError(f"unknown action {action!r}; accepted actions: {', '.join(_KEYS)}")
    unknown = sorted(set(table) - _KEYS[str(action)])
    if unknown:
        accepted = ", ".join(sorted(_KEYS[str(action)]))
        raise ValueError(
            f"unknown key(s) {', '.join(unknown)} for '{action}'; accepted: {accepted}"
        )
    at = table.get("at")
    if not isinstance(at, int | float) or isinstance(at, bool) or at < 0:
        raise ValueError("'at' must be a number of seconds >= 0")
    if action in FAULTS:
        return _fault(float(at), str(action), table)
    if action in ("connect", "disconnect"):
        # `tags` is no key of disconnect, so a disconnect step has none.
        return Step(float(at), str(action), _text(table, "agent"), tags=_tags(table))
    if action == "load":
        cpu, memory = _count(table, "cpu"), _count(table, "memory")
        return Step(float(at), "load", _text(table, "agent"), cpu_usage=cpu, free_memory=memory)
    agent = _text(table, "agent", empty_ok=True)
    workload, iid = _text(table, "workload"), _instance(table)
    if action == "remove":
        return Step(float(at), "remove", agent, workload, iid)
    state, substate, info = table.get("state"), table.get("substate"), table.get("info")
    if not isinstance(state, str) or not isinstance(substate, str | None):
        raise TypeError("'state' (and 'substate' if given) must be strings")
    if info is not None and not isinstance(info, str):
        raise TypeError("'info' must be a string")
    execution_state(state, substate, info)  # raises naming the accepted states/sub-states
    chosen = substate or next(iter(STATE_KINDS[state].substates))
    return Step(float(at), "set", agent, workload, iid, state, chosen, info)


def parse_scenario(text: str, source: str) -> Scenario:
    """Parse a scenario; every problem raises ScenarioError naming source and step."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{source}: not valid TOML: {err}") from None
    tables = document.get("step")
    if not isinstance(tables, list) or not tables:
        raise ScenarioError(f"{source}: no [[step]] tables; a scenario needs at least one step")
    steps: list[Step] = []
    for number, table in enumerate(tables, start=1):
        try:
            steps.append(parse_step(table))
        except (ValueError, TypeError) as err:
            raise ScenarioError(f"{source}: step {number}: {err}") from None
    steps.sort(key=lambda step: step.at)
    duration = document.get("duration", steps[-1].at + _TAIL)
    if not isinstance(duration, int | float) or duration < steps[-1].at:
        raise ScenarioError(f"{source}: 'duration' must be a number >= the last step's 'at'")
    name = document.get("name", Path(source).stem)
    return Scenario(str(name), tuple(steps), float(duration), _load_every(document, source))


def load_scenario(name_or_path: str) -> Scenario:
    """Load a bundled scenario by name (e.g. ``demo``) or a scenario file by path."""
    bundled = importlib.resources.files("bridge.simulator").joinpath("scenarios")
    candidate = bundled.joinpath(f"{name_or_path}.toml")
    if "/" not in name_or_path and not Path(name_or_path).exists() and candidate.is_file():
        return parse_scenario(candidate.read_text(encoding="utf-8"), f"{name_or_path} (bundled)")
    path = Path(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise ScenarioError(f"{path}: cannot read scenario: {reason}") from None
    return parse_scenario(text, str(path))


def describe(step: Step) -> str:
    """Return a one-line human description of a step."""
    faults = {
        "restart-agent": f"agent restart: {step.first} closed first, {step.gap:g} s gap, "
        f"back after {step.down:g} s",
        "reconnect-server": "agent reconnects to the server: the control interface is replaced",
        "server-outage": f"server unreachable for {step.duration:g} s",
        "hang-server": f"server hung for {step.duration:g} s: late answers, delayed events",
    }
    if step.action in faults:
        return faults[step.action]
    if step.action in ("connect", "disconnect"):
        tags = ", ".join(f"{key}={value}" for key, value in step.tags)
        return f"agent {step.agent} {step.action}ed" + (f" ({tags})" if tags else "")
    if step.action == "load":
        gib = step.free_memory / 2**30
        return f"agent {step.agent} load: cpu {step.cpu_usage} %, free memory {gib:.1f} GiB"
    where = f"{step.agent or '(not scheduled)'}/{step.workload}/{step.instance_id[:8]}"
    if step.action == "remove":
        return f"{where} removed"
    info = f" - {step.info}" if step.info else ""
    return f"{where} {step.state} ({step.substate}){info}"
