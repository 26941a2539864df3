"""What `ankaios-mqtt-dashboard logs` prints when the broker reorders lines and replies (pure)."""

from __future__ import annotations

import json

from bridge.dashboard.logprinter import GRACE, Printer

REPLY = "ankaios/$bridge/logs/reply/me"
A = {"agent": "hpc1", "workload": "nginx", "id": "a" * 64}
B = {"agent": "hpc2", "workload": "nginx", "id": "b" * 64}
A_LINES = f"ankaios/hpc1/nginx/{'a' * 64}/logs"
B_LINES = f"ankaios/hpc2/nginx/{'b' * 64}/logs"


def reply(**document: object) -> bytes:
    """Return a reply payload."""
    return json.dumps(document).encode()


def test_lines_before_accepted_and_after_ended_are_all_printed() -> None:
    """A line that overtakes `accepted`, and one that comes after `ended`, are both printed."""
    printer = Printer("ankaios", REPLY)
    assert printer.take(A_LINES, b"early", 0.0) == []
    accepted = reply(event="accepted", instances=[A], follow=0)
    assert printer.take(REPLY, accepted, 0.0) == ["early"]
    ended = reply(event="ended", reason="stopped", detail="d", instance=A, lines=2)
    assert printer.take(REPLY, ended, 0.1) == []
    assert not printer.done(0.2)
    assert printer.take(A_LINES, b"late", 0.2) == ["late"]
    assert printer.done(0.2)
    assert printer.failure is None


def test_a_lost_line_ends_the_wait_after_the_grace() -> None:
    """A QoS 0 line that never comes holds the command GRACE seconds after the last `ended`."""
    printer = Printer("ankaios", REPLY)
    printer.take(REPLY, reply(event="accepted", instances=[A], follow=0), 0.0)
    printer.take(
        REPLY, reply(event="ended", reason="stopped", detail="d", instance=A, lines=1), 1.0
    )
    assert not printer.done(1.0 + GRACE / 2)
    assert printer.done(1.0 + GRACE)


def test_several_instances_are_named_and_each_must_end() -> None:
    """With two instances each line carries the workload name, and both must end."""
    printer = Printer("ankaios", REPLY)
    printer.take(REPLY, reply(event="accepted", instances=[A, B], follow=5), 0.0)
    assert printer.take(B_LINES, b"hello", 0.0) == ["nginx hello"]
    printer.take(REPLY, reply(event="ended", reason="duration", detail="d", instance=A, lines=0), 1)
    assert not printer.done(9.0)
    printer.take(
        REPLY, reply(event="ended", reason="shutdown", detail="bye", instance=B, lines=1), 1
    )
    assert printer.done(1.0)
    assert printer.failure == "bye"


def test_a_refusal_ends_at_once_with_its_detail() -> None:
    """`refused` ends the command with the detail as its one line."""
    printer = Printer("ankaios", REPLY)
    printer.take(REPLY, reply(event="refused", reason="off", detail="logs are off"), 0.0)
    assert printer.done(0.0)
    assert printer.failure == "logs are off"
