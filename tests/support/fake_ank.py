#!/usr/bin/env python3
"""A fake `ank` for the watchdog's tests and the demo: records its calls, keeps a workload list.

Standard library only, so the demo's virtualenv (without the dev group) runs it too.
Environment:

- FAKE_ANK_CALLS: a file; each call appends its arguments as one JSON list.
- FAKE_ANK_STATE: a JSON file `{"workloads": {name: {"agent", "runtime", "state"}}}`
  (missing: none). `get workloads` prints it as ank 1.0.1's table
  (ank/src/cli_commands/workload_table_row.rs: `WORKLOAD NAME   AGENT ...`), `delete
  workload NAME` removes NAME, `apply MANIFEST` adds the manifest's workloads (names
  at two spaces under `workloads:`, their `agent:` and `runtime:` at four).
- FAKE_ANK_LINGER: after a delete, `get workloads` still lists the workload, as
  `Stopping(WaitingToStop)`, this many times (default 0).
- FAKE_ANK_FAIL: `delete`, `get` or `apply`: that command fails (exit 1, a line on stderr).
- FAKE_ANK_ON_APPLY: a shell command run after a successful apply (the demo's new
  bridge); its output must not go to this process's, which the watchdog reads to the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_COLUMNS = ("WORKLOAD NAME", "AGENT", "RUNTIME", "EXECUTION STATE", "ADDITIONAL INFO")
_GAP = "   "


def _load(path: Path | None) -> dict[str, dict[str, object]]:
    if path is None or not path.exists():
        return {}
    workloads: dict[str, dict[str, object]] = json.loads(path.read_text())["workloads"]
    return workloads


def _save(path: Path | None, workloads: dict[str, dict[str, object]]) -> None:
    if path is not None:
        path.write_text(json.dumps({"workloads": workloads}))


def table(workloads: dict[str, dict[str, object]]) -> str:
    """Return the workloads as `ank get workloads` prints them (left-aligned, three spaces apart)."""
    rows = [list(_COLUMNS)] + [
        [name, str(w["agent"]), str(w["runtime"]), str(w["state"]), ""]
        for name, w in sorted(workloads.items())
    ]
    widths = [max(len(row[n]) for row in rows) for n in range(len(_COLUMNS))]
    return "\n".join(
        _GAP.join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )


def manifest_workloads(text: str) -> dict[str, dict[str, object]]:
    """Return the workloads a manifest declares: name -> agent, runtime, state Pending."""
    found: dict[str, dict[str, object]] = {}
    inside = False
    current: dict[str, object] | None = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            inside = line.rstrip() == "workloads:"
            continue
        if not inside:
            continue
        if line.startswith("  ") and not line.startswith("   ") and line.rstrip().endswith(":"):
            current = {"agent": "", "runtime": "", "state": "Pending(Initial)"}
            found[line.strip().removesuffix(":")] = current
        elif current is not None and line.startswith("    ") and not line.startswith("     "):
            key, _, value = line.strip().partition(":")
            if key in ("agent", "runtime"):
                current[key] = value.strip().strip("'\"")
    return found


def _get(workloads: dict[str, dict[str, object]], state: Path | None) -> int:
    print(table(workloads))
    for workload in workloads.values():
        if "gets_left" in workload:
            workload["gets_left"] = int(str(workload["gets_left"])) - 1
    _save(state, {n: w for n, w in workloads.items() if w.get("gets_left", 1) != 0})
    return 0


def _delete(names: list[str], workloads: dict[str, dict[str, object]], state: Path | None) -> int:
    linger = int(os.environ.get("FAKE_ANK_LINGER", "0"))
    for name in names:
        if name in workloads and linger > 0:
            workloads[name].update(state="Stopping(WaitingToStop)", gets_left=linger)
        else:
            workloads.pop(name, None)
    _save(state, workloads)
    return 0


def _apply(manifest: str, workloads: dict[str, dict[str, object]], state: Path | None) -> int:
    try:
        declared = manifest_workloads(Path(manifest).read_text())
    except OSError as err:
        sys.stderr.write(f"Error: could not read {manifest}: {err.strerror}\n")
        return 1
    workloads.update(declared)
    _save(state, workloads)
    hook = os.environ.get("FAKE_ANK_ON_APPLY")
    if hook:
        subprocess.run(["sh", "-c", hook], check=True, stdin=subprocess.DEVNULL)
    return 0


def main(argv: list[str]) -> int:
    """Run one fake `ank` command; the exit status is ank's (0, or 1 with a line on stderr)."""
    calls = os.environ.get("FAKE_ANK_CALLS")
    if calls:
        with Path(calls).open("a") as log:
            log.write(json.dumps(argv) + "\n")
    state_env = os.environ.get("FAKE_ANK_STATE")
    state = Path(state_env) if state_env else None
    workloads = _load(state)
    if argv[:1] == [os.environ.get("FAKE_ANK_FAIL")]:
        sys.stderr.write(f"Error: fake ank: {argv[0]} failed as asked (FAKE_ANK_FAIL)\n")
        return 1
    if argv[:2] in (["get", "workloads"], ["get", "workload"]):
        return _get(workloads, state)
    if argv[:2] in (["delete", "workload"], ["delete", "workloads"]) and len(argv) > 2:
        return _delete(argv[2:], workloads, state)
    if argv[:1] == ["apply"] and len(argv) == 2:
        return _apply(argv[1], workloads, state)
    sys.stderr.write(f"fake ank: unsupported arguments {argv}\n")
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
