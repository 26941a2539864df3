"""`ankaios-mqtt-dashboard logs WORKLOAD`: a workload's log through the bridge, as `ank logs` does.

It publishes one request to `<prefix>/$bridge/logs/request` with its own reply
topic under `<prefix>/$bridge/logs/reply/` (so the operator's ACL covers both),
prints each line of `<prefix>/<agent>/<workload>/<id>/logs` (prefixed with the
workload name when more than one instance streams, as `ank logs` does) and ends
when every instance's log has ended. Exit 1 with one line when the bridge
refuses (logs off, Ankaios denied, unknown workload, a limit) or does not answer.
"""

from __future__ import annotations

import argparse
import json
import queue
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from bridge.core.logrequests import request_topic
from bridge.core.topics import bridge_topic
from bridge.dashboard.logprinter import Printer
from bridge.mqtt.client import create_client, why
from bridge.mqtt.version import MQTT5, MQTT311, VersionChoice
from bridge.settings import commands
from bridge.settings.broker import MqttSettings, add_mqtt_arguments, mqtt_settings
from bridge.settings.options import ConfigError, OptionParser, RejectedError, integer, number

T = TypeVar("T")

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from types import FrameType

    import paho.mqtt.client as mqtt

PROG = f"{commands.DASHBOARD_PROG} logs"
# Follow "as long as the bridge allows": it cuts a longer follow to --logs-max-follow.
_FOLLOW_ALWAYS = 86400.0


@dataclass(frozen=True, slots=True)
class LogsOptions:
    """What to ask for and where."""

    mqtt: MqttSettings
    workload: str
    agent: str | None
    tail: int | None
    follow: float
    timeout: float


def parse_logs_options(argv: Sequence[str], environ: Mapping[str, str]) -> LogsOptions:
    """Return the options of `logs`; ConfigError for a bad one."""
    parser = OptionParser(PROG, "Print a workload's log through the bridge, as `ank logs` does.")
    add_mqtt_arguments(parser, client_id=f"{commands.DASHBOARD_PROG}-<random hex>")
    parser.add_argument("workload", help="the workload whose log to print")
    parser.add_argument("--agent", help="only the instance on this agent")
    parser.add_argument("--tail", type=_parsed(integer(0)), help="only the last N lines")
    parser.add_argument("-f", "--follow", action="store_true", help="follow the log")
    parser.add_argument(
        "--for", dest="seconds", type=_parsed(number(0, above=True)), help="follow for SECONDS"
    )
    parser.add_argument(
        "--timeout",
        type=_parsed(number(0, above=True)),
        default=10.0,
        help="seconds to wait for the bridge",
    )
    args = parser.parse_args(list(argv))
    mqtt = mqtt_settings(args, environ, f"{commands.DASHBOARD_PROG}-{secrets.token_hex(4)}", 0)
    follow = args.seconds or (_FOLLOW_ALWAYS if args.follow else 0.0)
    return LogsOptions(mqtt, args.workload, args.agent, args.tail, follow, args.timeout)


def _parsed(parse: Callable[[str], T]) -> Callable[[str], T]:
    def convert(text: str) -> T:
        try:
            return parse(text)
        except RejectedError as err:
            raise argparse.ArgumentTypeError(f"{text!r} {err}") from None

    return convert


def run_logs(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run `logs` and return the exit status (2 bad options, 1 refused or unreachable)."""
    try:
        options = parse_logs_options(argv, environ)
    except ConfigError as err:
        return _fail(2, str(err))
    try:
        return _stream(options)
    except ConfigError as err:
        return _fail(2, str(err))
    except OSError as err:
        return _fail(1, f"cannot connect to the MQTT broker at {options.mqtt.address}: {why(err)}")


def _fail(status: int, message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return status


def _stream(options: LogsOptions) -> int:
    settings = options.mqtt
    version = VersionChoice(settings.protocol).current
    while True:
        conversation = _Conversation(options, version)
        status = conversation.run()
        if status is not None:
            return status
        if version == MQTT5 and settings.protocol != MQTT5:
            version = MQTT311  # the broker refused MQTT 5: try 3.1.1 once
            continue
        return _fail(1, f"the MQTT broker at {settings.address} refused the connection")


class _Conversation:
    """One connection: subscribe, ask, print until the log ends (paho threads only enqueue)."""

    def __init__(self, options: LogsOptions, version: str) -> None:
        self.options = options
        self.version = version
        settings = options.mqtt
        self.reply = bridge_topic(settings.prefix, f"logs/reply/{settings.client_id}")
        self.correlation = secrets.token_hex(8)
        self.events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self.stopping = False

    def run(self) -> int | None:
        """Return the exit status, or None when the broker refused this MQTT version."""
        settings = self.options.mqtt
        client = create_client(settings, settings.client_id, version=self.version)
        client.on_connect = lambda _c, _u, _f, code, _p: self.events.put(("connack", code))
        client.on_subscribe = lambda *_: self.events.put(("suback", None))
        client.on_message = lambda _c, _u, m: self.events.put((m.topic, bytes(m.payload)))
        client.connect(settings.host, settings.port, settings.keepalive)
        client.loop_start()
        try:
            code = self._wait("connack")
            if code is None or getattr(code, "is_failure", True):
                return None
            client.subscribe([(self.reply, 1), (self._lines(), 0)])
            if self._wait("suback", "") is None:
                return _fail(1, f"the MQTT broker at {settings.address} did not subscribe")
            self._ask(client)
            return self._print(client)
        finally:
            client.disconnect()
            client.loop_stop()

    def _wait(self, kind: str, default: object = None) -> object:
        deadline = time.monotonic() + self.options.timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                got, value = self.events.get(timeout=left)
            except queue.Empty:
                break
            if got == kind:
                return value if value is not None else default
        return None

    def _lines(self) -> str:
        options = self.options
        return f"{options.mqtt.prefix}/{options.agent or '+'}/{options.workload}/+/logs"

    def _ask(self, client: mqtt.Client) -> None:
        options = self.options
        request: dict[str, object] = {"workload": options.workload, "correlation": self.correlation}
        optional = {"agent": options.agent, "tail": options.tail, "follow": options.follow or None}
        request.update({key: given for key, given in optional.items() if given is not None})
        properties = None
        if self.version == MQTT5:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.ResponseTopic = self.reply
            properties.CorrelationData = self.correlation.encode()
        else:
            request["replyTo"] = self.reply
        topic = request_topic(options.mqtt.prefix)
        client.publish(topic, json.dumps(request), qos=1, properties=properties)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _print(self, client: mqtt.Client) -> int:
        printer = Printer(self.options.mqtt.prefix, self.reply)
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        deadline = time.monotonic() + self.options.timeout
        while not printer.done(time.monotonic()):
            if self.stopping:
                cancel = {"cancel": self.correlation, "replyTo": self.reply}
                topic = request_topic(self.options.mqtt.prefix)
                client.publish(topic, json.dumps(cancel), qos=1).wait_for_publish(2)
                return 0
            if not printer.accepted and time.monotonic() > deadline:
                where = request_topic(self.options.mqtt.prefix)
                waited = self.options.timeout
                return _fail(1, f"no answer from a bridge on {where} within {waited:g} s")
            try:
                topic, payload = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(payload, bytes):
                for text in printer.take(topic, payload, time.monotonic()):
                    sys.stdout.write(text + "\n")
                sys.stdout.flush()
        return 0 if printer.failure is None else _fail(1, printer.failure)
