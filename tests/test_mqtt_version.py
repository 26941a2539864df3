"""`--mqtt-protocol`: which MQTT version is offered, and the one line when a broker refuses both."""

from __future__ import annotations

from bridge.mqtt.version import VersionChoice, refuses_version


def test_auto_offers_5_then_3_1_1_and_keeps_what_was_accepted() -> None:
    """A refusal of MQTT 5 brings 3.1.1 at once; once accepted it is kept for good."""
    choice = VersionChoice("auto")
    assert choice.current == "5"
    assert choice.refused("Unsupported protocol version")
    assert choice.current == "3.1.1"
    choice.accepted()
    assert not choice.refused("closed before CONNACK")
    assert choice.current == "3.1.1"


def test_a_broker_refusing_both_gets_one_line_with_both_reasons() -> None:
    """The round's line names what the broker said to each version, and the next round starts at 5."""
    choice = VersionChoice("auto")
    assert choice.refused("Unsupported protocol version")
    line = choice.failure("Not authorized")
    assert line == "MQTT 5: Unsupported protocol version; MQTT 3.1.1: Not authorized"
    assert choice.current == "5"


def test_a_fixed_version_never_falls_back() -> None:
    """`5` and `3.1.1` offer only themselves, and the reason is the broker's alone."""
    for setting in ("5", "3.1.1"):
        choice = VersionChoice(setting)
        assert choice.current == setting
        assert not choice.refused("Unsupported protocol version")
        assert choice.failure("Not authorized") == "Not authorized"


def test_only_the_version_reason_codes_mean_a_version_refusal() -> None:
    """0x84 refuses the version; bad credentials do not."""
    assert refuses_version(0x84)
    assert not refuses_version(0x87)
    assert not refuses_version(5)


def test_a_refusal_that_is_no_version_question_ends_the_round_at_once() -> None:
    """Only a refusal of the version brings the at-once 3.1.1 attempt; any other is the round's cause."""
    choice = VersionChoice("auto")
    assert choice.refusal("Not authorized", of_version=False) == "Not authorized"
    assert choice.current == "5"
    assert choice.refusal("Unsupported protocol version", of_version=True) is None
    assert choice.current == "3.1.1"
    assert choice.refusal("Not authorized", of_version=False) == (
        "MQTT 5: Unsupported protocol version; MQTT 3.1.1: Not authorized"
    )
    assert choice.current == "5"
