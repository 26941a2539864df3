"""The `ank` CLI: running it, and reading its workload table.

`ank delete workload NAME` (which itself waits for the deletion in Ankaios 1.0.1,
ank/src/cli_commands/delete_workloads.rs), then `ank get workloads` every half
second until NAME is gone, then `ank apply MANIFEST`.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bridge.settings.broker import PASSWORD

LOG = logging.getLogger("bridge.watchdog")
# Each command's bound: `ank delete` waits until the workload's container has stopped.
COMMAND_TIMEOUT = 120.0
POLL_INTERVAL = 0.5
_TAIL = 300
# The table of ank/src/cli_commands/workload_table_row.rs; a deleted workload the
# server still reports is shown as `Removed` (get_workloads.rs tests).
_NAME_HEADER = "WORKLOAD NAME"
_STATE_HEADER = "EXECUTION STATE"
_REMOVED = "Removed"
# Header cells are words joined by single spaces, apart by at least two.
_HEADER_CELL = re.compile(r"\S+(?: \S+)*")


class AnkError(Exception):
    """A step of the re-creation failed; the message is one line for the log."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one `ank` command did."""

    status: int
    stdout: str
    stderr: str


def tail(text: str, limit: int = _TAIL) -> str:
    """Return the end of a command's output on one line (`…` when cut)."""
    flat = " / ".join(line.strip() for line in text.strip().splitlines() if line.strip())
    return flat if len(flat) <= limit else "…" + flat[-limit:]


def listed(table: str, workload: str) -> bool:
    """Whether `ank get workloads` output lists `workload` other than as `Removed`.

    Cells are cut at the header's column starts: the agent and runtime of a removed
    workload are empty, so splitting at spaces would shift them.
    """
    lines = table.splitlines()
    header = next(
        (n for n, line in enumerate(lines) if line.lstrip().startswith(_NAME_HEADER)), None
    )
    if header is None:
        return any(line.split()[:1] == [workload] for line in lines)
    starts = {cell.group(): cell.start() for cell in _HEADER_CELL.finditer(lines[header])}
    cuts = sorted(starts.values())
    name_end = cuts[1] if len(cuts) > 1 else None
    state_at = starts.get(_STATE_HEADER)
    state_end = next((cut for cut in cuts if state_at is not None and cut > state_at), None)
    for line in lines[header + 1 :]:
        if line[:name_end].strip() != workload:
            continue
        state = line[state_at:state_end].strip() if state_at is not None else ""
        if not state.startswith(_REMOVED):
            return True
    return False


class Ank:
    """Runs one `ank` program; its environment is the watchdog's, without the MQTT password."""

    def __init__(self, program: str, environ: Mapping[str, str]) -> None:
        self.program = program
        self.environ = {key: text for key, text in environ.items() if key != PASSWORD.env}

    def run(self, *args: str) -> Outcome:
        """Run `ank ARGS`; AnkError when it cannot run, fails or outlives COMMAND_TIMEOUT."""
        shown = " ".join(("ank", *args))
        try:
            done = subprocess.run(
                [self.program, *args],
                capture_output=True,
                text=True,
                errors="replace",
                env=self.environ,
                stdin=subprocess.DEVNULL,
                timeout=COMMAND_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            msg = f"{shown} did not end within {COMMAND_TIMEOUT:g} s"
            raise AnkError(msg) from None
        except OSError as err:
            msg = f"{shown} could not run: {err.strerror or err}"
            raise AnkError(msg) from None
        if done.returncode != 0:
            said = tail(done.stderr) or tail(done.stdout) or "no output"
            msg = f"{shown} failed with exit status {done.returncode}: {said}"
            raise AnkError(msg)
        return Outcome(done.returncode, done.stdout, done.stderr)


def recreate(
    ank: Ank,
    workload: str,
    manifest: Path,
    gone_within: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Delete the workload, wait until `ank get workloads` no longer lists it, apply the manifest.

    One log line per step. AnkError (one line) when a step fails: nothing after it runs.
    """
    LOG.info("running ank delete workload %s", workload)
    ank.run("delete", "workload", workload)
    start = clock()
    while listed(ank.run("get", "workloads").stdout, workload):
        if clock() - start >= gone_within:
            msg = (
                f"ank get workloads still lists {workload} {gone_within:g} s after "
                "ank delete workload (--delete-timeout); not applying the manifest"
            )
            raise AnkError(msg)
        sleep(POLL_INTERVAL)
    LOG.info("workload %s is gone; running ank apply %s", workload, manifest)
    ank.run("apply", str(manifest))
    LOG.info("applied %s: workload %s re-created", manifest, workload)
