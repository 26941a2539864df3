"""Why the bridge must stop, and what to do: each with its upstream cause (pure).

Each reason goes to the log as one line and to `<prefix>/$bridge/info` as `stopped`
before the bridge says `offline`; `recreate` tells a watchdog (bridge.watchdog)
whether `ank delete workload` then `ank apply` brings a working control interface
back. Ankaios 1.0.x accepts one handshake per control-interface task, and only a new
workload instance gets a new task (upstream agent `runtime_manager.rs`,
`control_interface/control_interface_task.rs` `check_initial_hello`).
"""

from __future__ import annotations

import errno
from pathlib import Path

from bridge.core.info import StopReason

RECREATE = "re-create the workload: ank delete workload <name>, then ank apply <manifest>"
_RULE = "controlInterfaceAccess.allowRules"
# Said once in the log and, for as long as the bridge runs, in `$bridge/info` `warnings`.
ONE_RECONNECT_LEFT = (
    "the Ankaios agent replaced this workload's control interface when it reconnected to its "
    "server; under Ankaios 1.0.x its next server reconnect ends the control interface for good "
    "(agent runtime_manager.rs, io_utils/directory.rs). Re-create the workload at a convenient "
    "moment to renew it (ank delete workload <name>, then ank apply <manifest>)"
)


def fifos_removed(directory: Path) -> StopReason:
    """Say that the FIFO paths are gone: a replaced control interface was dropped (1.0.x)."""
    return StopReason(
        f"the Ankaios control interface at {directory} is gone: the agent replaced it when it "
        "reconnected to its server and removed its FIFOs, and a running container cannot see "
        "new ones (a second server reconnect, or an agent restart after one; agent "
        "runtime_manager.rs handle_server_hello, io_utils/directory.rs)",
        RECREATE,
        recreate=True,
    )


def missing(directory: Path, name: str) -> StopReason:
    """Say that there are no FIFOs at start: no access, or a policy restart after a resume."""
    return StopReason(
        f"no Ankaios control interface at {directory} ({name} is not a FIFO): Ankaios creates "
        f"it only for a workload whose manifest has {_RULE} (see state.yaml), and a container "
        "re-run by its restart policy after the agent resumed it gets none (agent "
        "workload_control_loop.rs)",
        f"check that the manifest grants {_RULE}, then {RECREATE}",
        recreate=True,
    )


def cannot_open(directory: Path, err: OSError) -> StopReason:
    """Say why existing FIFOs cannot be opened: permissions, or not FIFOs (the deployment's)."""
    hint = (
        "run the bridge as the user state.yaml names: the agent creates the FIFOs for its "
        "own user with mode 0700"
        if err.errno == errno.EACCES
        else "check the --control-interface path"
    )
    return StopReason(
        f"cannot open the Ankaios control interface at {directory}: {err.strerror or err}",
        hint,
        recreate=False,
    )


def agent_away(directory: Path, bound: float) -> StopReason:
    """Say that nobody read the control interface for longer than the configured bound."""
    return StopReason(
        f"the Ankaios agent does not read the control interface at {directory} (gave up after "
        f"{bound:g} s; it is gone, or has not reached its server: agent grpc/src/client.rs)",
        f"if the agent is gone for good, {RECREATE}",
        recreate=True,
    )


def handshake_unanswered(timeout: float) -> StopReason:
    """Say that the first Hello of the process was never answered."""
    return StopReason(
        f"the Ankaios agent did not answer the handshake within {timeout:g} s: Ankaios 1.0.x "
        "answers it once per workload instance, so a bridge process restarted inside the same "
        "instance is never accepted (control_interface_task.rs: another Hello is only logged)",
        RECREATE,
        recreate=True,
    )


def refused(reason: str) -> StopReason:
    """Say that the agent answered the Hello with ConnectionClosed."""
    if "protocol version" in reason:
        # Upstream common/src/helpers.rs check_version_compatibility: a new instance of
        # the same image is refused the same way.
        return StopReason(
            f"the Ankaios agent refused the connection: {reason}",
            "run a bridge whose ankaios-sdk speaks this agent's protocol version",
            recreate=False,
        )
    return StopReason(
        f"the Ankaios agent refused the connection: {reason}", RECREATE, recreate=True
    )


def closed(reason: str) -> StopReason:
    """Say that the agent closed an accepted connection: its task has ended."""
    return StopReason(
        f"the Ankaios agent closed the control interface: {reason}. Ankaios 1.0.x accepts one "
        "handshake per workload instance, so this process cannot reconnect",
        RECREATE,
        recreate=True,
    )


def required_masks_denied(required: tuple[str, ...], masks: tuple[str, ...]) -> StopReason:
    """Say that Ankaios denies even the masks the bridge needs: the manifest must change."""
    listed = " and ".join(repr(mask) for mask in required)
    return StopReason(
        f"Ankaios denied reading {listed}",
        f"add {_RULE}: [{{type: StateRule, operation: Read, filterMasks: {list(masks)}}}] "
        "to the bridge's workload and re-create it",
        recreate=False,
    )


def reader_failed() -> StopReason:
    """Say that the reader thread hit a bug: the traceback is in the log."""
    return StopReason(
        "the control-interface reader failed (a bug; the log has the traceback)",
        "report it with the log; restarting the bridge's workload may help meanwhile",
        recreate=False,
    )
