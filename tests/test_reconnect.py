"""The shared reconnect loop: backoff, what counts as one outage, and stopping."""

from __future__ import annotations

import threading

import pytest

from bridge.mqtt.reconnect import FIRST_RETRY, Failure, Reconnect, next_wait


@pytest.mark.parametrize(
    ("last", "accepted", "expected"),
    [
        (None, False, FIRST_RETRY),
        (0.1, False, 0.2),
        (0.2, False, 0.4),
        (0.4, False, 0.5),
        (0.5, False, 0.5),
        (0.5, True, FIRST_RETRY),
        (None, True, FIRST_RETRY),
    ],
)
def test_waits_double_up_to_the_cap_and_start_over_after_an_accepted_connection(
    last: float | None, accepted: bool, expected: float
) -> None:
    """The wait after an attempt doubles from 0.1 s up to the cap, and is 0.1 s again once accepted."""
    assert next_wait(last, accepted=accepted, max_delay=0.5) == pytest.approx(expected)


def test_an_outage_is_first_reported_once_and_an_accepted_connection_ends_it() -> None:
    """Only the first failure of an outage is `first`; a loss after an accepted connection starts a new outage."""
    reported: list[Failure] = []
    loop = Reconnect(0.1, reported.append)

    def accepted_then_lost() -> None:
        loop.accepted()
        loop.failed("lost")

    script = iter(
        [
            lambda: loop.failed("refused"),
            lambda: loop.failed("closed", refused=True),
            accepted_then_lost,
            lambda: loop.failed("refused again"),
            loop.stop,
        ]
    )

    def attempt() -> None:
        next(script)()

    loop.run(attempt)
    assert reported == [
        Failure("refused", first=True),
        Failure("closed", first=False, refused=True),
        Failure("lost", first=True),
        Failure("refused again", first=False),
    ]


def test_nothing_is_reported_once_stopping_and_the_loop_ends() -> None:
    """A failure after stop() is not reported, and run() returns instead of attempting again."""
    reported: list[Failure] = []
    loop = Reconnect(0.1, reported.append)
    attempts: list[int] = []

    def attempt() -> None:
        attempts.append(1)
        loop.stop()
        loop.failed("closed while stopping")

    runner = threading.Thread(target=loop.run, args=(attempt,))
    runner.start()
    runner.join(5)
    assert not runner.is_alive()
    assert attempts == [1]
    assert reported == []
