"""Which MQTT version to speak: the `--mqtt-protocol` setting and the `auto` fallback (pure).

Vehicles run MQTT 5 brokers (mosquitto, NanoMQ, EMQX, HiveMQ) and MQTT 3.1.1-only
ones (NATS, RabbitMQ before 3.13, gateways). `auto` offers MQTT 5 and, when the
broker refuses that version, offers 3.1.1 at once; the version a broker accepts
is kept for the life of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MQTT5 = "5"
MQTT311 = "3.1.1"
AUTO = "auto"
CHOICES = (AUTO, MQTT5, MQTT311)
# CONNACK "Unsupported protocol version". A 3.1.1-only broker such as NATS answers an
# MQTT 5 CONNECT with the 3.1.1 code 1, which paho reports as 0x84; a 3.1.1 client
# never sees its on_connect for it (paho ends the connection as a protocol error).
_UNSUPPORTED_VERSION = 0x84


def refuses_version(reason_value: int) -> bool:
    """Whether a refusing CONNACK's reason code says the protocol version is unsupported."""
    return reason_value == _UNSUPPORTED_VERSION


@dataclass(slots=True)
class VersionChoice:
    """The version to offer next, and why the versions offered in this round were refused.

    A round is one attempt at the setting's first version and, under `auto`, the
    3.1.1 attempt right after it. `failure()` gives the round's one log line.
    """

    setting: str = AUTO
    current: str = field(init=False)
    kept: bool = field(default=False, init=False)
    _first_refusal: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.current = MQTT311 if self.setting == MQTT311 else MQTT5

    def accepted(self) -> None:
        """Keep `current` from now on: the broker accepted it."""
        self.kept = True
        self._first_refusal = None

    def refused(self, reason: str) -> bool:
        """Note that the broker refused `current` as a protocol; True to offer 3.1.1 at once.

        `reason` is the broker's own word: a CONNACK reason, or how the connection
        ended before any CONNACK (RabbitMQ 3.10 closes an MQTT 5 CONNECT that way).
        """
        if self.setting == AUTO and not self.kept and self.current == MQTT5:
            self._first_refusal = reason
            self.current = MQTT311
            return True
        return False

    def refusal(self, reason: str, *, of_version: bool) -> str | None:
        """Return the round's cause of a refusal, or None to offer 3.1.1 at once.

        `of_version`: the broker's word says it refuses the protocol version (a CONNACK
        that says so, or a plain close before any CONNACK).
        """
        if of_version and self.refused(reason):
            return None
        return self.failure(reason)

    def failure(self, reason: str) -> str:
        """Return the round's cause for the log, naming both versions when both were tried.

        The next round starts again with the setting's first version.
        """
        first, self._first_refusal = self._first_refusal, None
        if first is None:
            return reason
        if not self.kept:
            self.current = MQTT5
        return f"MQTT 5: {first}; MQTT 3.1.1: {reason}"
