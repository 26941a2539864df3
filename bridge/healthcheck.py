"""`ankaios-mqtt-healthcheck`: exit 0 while the broker holds the bridge's retained `online`.

It reads the bridge's broker settings (flags and variables: host, port, TLS, client
certificate, user name, password file, prefix) with the bridge's own parser and
client factory, so it reaches any broker the bridge reaches. It never uses the
bridge's client id: a second connection with that id would disconnect the bridge.
Exit status 1 (unhealthy, one line on standard error) covers every failure, bad
settings included: container engines reserve status 2.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from typing import TYPE_CHECKING

from paho.mqtt.client import MQTT_ERR_CONN_LOST, MQTT_ERR_SUCCESS

from bridge.core.topics import ONLINE, bridge_topic
from bridge.mqtt.client import SocketErrors, create_client, why
from bridge.mqtt.version import VersionChoice, refuses_version
from bridge.settings import commands
from bridge.settings.broker import add_mqtt_arguments, mqtt_settings
from bridge.settings.options import ConfigError, OptionParser, add_options, value

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import paho.mqtt.client as mqtt
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode

    from bridge.settings.broker import MqttSettings

PROG = "ankaios-mqtt-healthcheck"


class _Probe:
    """One subscription to the status topic; `verdict` is None until the answer is known."""

    def __init__(self, topic: str, version: VersionChoice) -> None:
        self.topic = topic
        self.version = version
        self.verdict: str | None = None
        self.healthy = False
        # Any CONNACK: a close without one is how RabbitMQ 3.10 refuses MQTT 5.
        self.answered = False
        self.fall_back = False
        self._end_mid: int | None = None

    def on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: object,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.answered = True
        if reason_code.is_failure:
            of_version = refuses_version(reason_code.value)
            cause = self.version.refusal(str(reason_code), of_version=of_version)
            if cause is None:
                self.fall_back = True
                return
            self.verdict = f"the broker refused the connection: {cause}"
            return
        self.version.accepted()
        client.subscribe(self.topic, qos=0)
        # mosquitto answers one connection's packets in order: the UNSUBACK of a filter
        # never subscribed comes after the retained message, if there is one.
        self._end_mid = client.unsubscribe(f"{self.topic}/$healthcheck-end")[1]

    def on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        if any(code.is_failure for code in reason_codes):
            self.verdict = f"the broker refused the subscription to {self.topic}"

    def on_message(self, _client: mqtt.Client, _userdata: object, msg: mqtt.MQTTMessage) -> None:
        # Only the retained value counts: a live publish is not what a new subscriber sees.
        if msg.retain and self.verdict is None:
            self.healthy = msg.payload == ONLINE
            shown = bytes(msg.payload[:32]).decode(errors="replace")
            self.verdict = "online" if self.healthy else f"{self.topic} is {shown!r}"

    def on_unsubscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: object,
        _properties: Properties | None,
    ) -> None:
        if mid == self._end_mid and self.verdict is None:
            self.verdict = f"the broker holds no retained {self.topic}"


def check(settings: MqttSettings, timeout: float) -> str | None:
    """Return None when the bridge's retained status is `online`, else why not (one line)."""
    version = VersionChoice(settings.protocol)
    deadline = time.monotonic() + timeout
    # At most two connections: `auto` falls back from MQTT 5 to 3.1.1 once.
    while True:
        probe = _Probe(bridge_topic(settings.prefix, "status"), version)
        problem = _check_once(settings, probe, deadline, timeout)
        if not probe.fall_back:
            return problem


def _check_once(
    settings: MqttSettings, probe: _Probe, deadline: float, timeout: float
) -> str | None:
    """Connect once with the probe's version; `probe.fall_back` asks for 3.1.1 next."""
    client = create_client(
        settings, f"{PROG}-{secrets.token_hex(4)}", version=probe.version.current
    )
    client.on_connect = probe.on_connect
    client.on_subscribe = probe.on_subscribe
    client.on_message = probe.on_message
    client.on_unsubscribe = probe.on_unsubscribe
    errors = SocketErrors()
    client.enable_logger(errors.logger)
    client.connect_timeout = timeout
    where = settings.address
    try:
        client.connect(settings.host, settings.port, settings.keepalive)
    except (OSError, ValueError) as err:
        return f"cannot connect to the MQTT broker at {where}: {why(err)}"
    try:
        while probe.verdict is None and not probe.fall_back:
            left = deadline - time.monotonic()
            if left <= 0:
                return f"no answer about {probe.topic} from {where} within {timeout:g} s"
            code = client.loop(min(left, 0.1))
            if code != MQTT_ERR_SUCCESS and probe.verdict is None and not probe.fall_back:
                # A plain close before any CONNACK: how RabbitMQ 3.10 refuses MQTT 5.
                plain = code == MQTT_ERR_CONN_LOST and errors.text is None
                of_version = plain and not probe.answered
                cause = probe.version.refusal(errors.text or "closed", of_version=of_version)
                if cause is None:
                    probe.fall_back = True
                    return None
                return f"the MQTT broker at {where} closed the connection ({cause})"
    finally:
        client.disconnect()
    return None if probe.healthy else probe.verdict


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Return 0 when the bridge is online, 1 otherwise (with one line on standard error)."""
    parser = OptionParser(prog=PROG, description=__doc__.splitlines()[0])
    add_mqtt_arguments(parser)
    add_options(parser, commands.HEALTHCHECK_OWN_OPTIONS)
    try:
        args = parser.parse_args(list(argv))
        timeout = value(commands.HEALTH_TIMEOUT, args, environ)
        settings = mqtt_settings(args, environ, default_client_id=PROG, qos=0)
        problem = check(settings, timeout)
    except ConfigError as err:
        problem = str(err)
    if problem is None:
        return 0
    sys.stderr.write(f"{PROG}: {problem}\n")
    return 1


def main() -> int:
    """Run the health check with the process's arguments and environment."""
    return run(sys.argv[1:], os.environ)


if __name__ == "__main__":
    raise SystemExit(main())
