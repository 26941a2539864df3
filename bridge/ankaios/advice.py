"""What the operator is told about the control interface: one line each (pure).

The fatal ones end the bridge; the others are warnings while it recovers.
"""

from __future__ import annotations

import errno
from pathlib import Path

RECREATE = "re-create the workload (ank delete workload <name>, then ank apply state.yaml)"


def fifos_removed(directory: Path) -> str:
    """Say that the FIFO paths are gone: a replaced control interface was dropped (1.0.1)."""
    return (
        f"the Ankaios control interface at {directory} is gone: the agent replaced it when it "
        "reconnected to its server, then removed it, and cannot give this workload instance a "
        f"new one; {RECREATE}"
    )


def cannot_open(directory: Path, err: OSError) -> str:
    """Say why the FIFOs cannot be opened (permissions, not FIFOs)."""
    hint = (
        " (the agent creates the FIFOs for its own user with mode 0700; state.yaml says which "
        "user the bridge must run as)"
        if err.errno == errno.EACCES
        else ""
    )
    return f"cannot open the Ankaios control interface at {directory}: {err.strerror or err}{hint}"


def agent_away(directory: Path, bound: float) -> str:
    """Say that nobody read the control interface for longer than the configured bound."""
    return (
        f"the Ankaios agent does not read the control interface at {directory} (gave up after "
        f"{bound:g} s); if the agent is gone for good, {RECREATE}"
    )


def handshake_unanswered(timeout: float) -> str:
    """Say that the first Hello of the process was never answered."""
    return (
        f"the Ankaios agent did not answer the handshake within {timeout:g} s. Ankaios 1.0.x "
        "answers it once per workload instance, so a bridge process restarted inside the same "
        f"instance is never accepted; {RECREATE}"
    )


def refused(reason: str) -> str:
    """Say that the agent answered the Hello with ConnectionClosed."""
    return f"the Ankaios agent refused the connection: {reason}"


def closed(reason: str) -> str:
    """Say that the agent closed an accepted connection: its task has ended."""
    return (
        f"the Ankaios agent closed the control interface: {reason}. Ankaios 1.0.x accepts one "
        f"handshake per workload instance, so this process cannot reconnect; {RECREATE}"
    )


_RULE = "controlInterfaceAccess.allowRules"
# What a subscriber misses when a subscription's masks are denied, by subscription.
_MISSED = {
    "workload states": "sub-states (states are published with sub-states as of the last state "
    "change only)",
    "additional info": 'the additional info of execution states (status says "additionalInfo":"")',
    "agents": "agents (no <prefix>/<agent>/$agent/status topics)",
}


def state_mask_denied(state_mask: str, masks: tuple[str, ...]) -> str:
    """Say that Ankaios denies even the state mask: the allow rule the manifest needs."""
    return (
        f"Ankaios denied reading {state_mask!r}; add {_RULE}: [{{type: StateRule, "
        f"operation: Read, filterMasks: {list(masks)}}}] to the bridge's workload and re-create it"
    )


def mask_denied(subscription: str, masks: tuple[str, ...]) -> str:
    """Say what is missed when optional masks are denied, and which filter masks to add."""
    return (
        f"Ankaios denied reading {_MISSED[subscription]}. Add "
        f"{' and '.join(repr(mask) for mask in masks)} to the filterMasks of the bridge's "
        f"StateRule ({_RULE}) to see them"
    )


def garbled(reason: str) -> str:
    """Say that unreadable bytes were skipped and the state is read afresh."""
    return f"skipped unreadable control-interface data ({reason}); re-reading the state"


def waiting_for_agent(directory: Path) -> str:
    """Say that nobody reads the control interface yet: the bridge waits."""
    return (
        f"waiting for the Ankaios agent to read the control interface at {directory} "
        "(it is restarting or has not reached its server yet)"
    )


def agent_lost(why: str) -> str:
    """Say that the agent went away (it died or restarts) and the bridge waits for it."""
    return f"lost the Ankaios agent ({why}); waiting for it to come back"


def replaced() -> str:
    """Say that the agent swapped the FIFOs (a server reconnect) and the bridge says Hello again."""
    return (
        "the Ankaios agent replaced the control interface (it reconnected to its server); "
        "handshaking again on the same FIFOs"
    )


def handshake_slow(timeout: float) -> str:
    """Say that a (repeated) Hello has waited longer than the handshake timeout."""
    return f"the Ankaios agent has not accepted the handshake for {timeout:g} s; still trying"


def unanswered(waited: float) -> str:
    """Say that Ankaios has not answered for a while: the retained states may be stale."""
    return (
        f"Ankaios has not answered for {waited:.0f} s (the agent may have lost its server); the "
        "retained states may be stale until it answers again"
    )
