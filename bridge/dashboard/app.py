"""The `ankaios-mqtt-dashboard` command: options, `--once` and the live loop."""

from __future__ import annotations

import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

from rich.console import Console
from rich.live import Live

from bridge.dashboard.document import format_document, snapshot_document
from bridge.dashboard.events import Disconnected, Event
from bridge.dashboard.feed import Feed, Inbox
from bridge.dashboard.screen import build_screen
from bridge.dashboard.selection import Selection
from bridge.dashboard.tree import View
from bridge.dashboard.view import apply_all
from bridge.settings import commands
from bridge.settings.broker import MqttSettings, add_mqtt_arguments, mqtt_settings
from bridge.settings.options import ConfigError, OptionParser, add_options, build

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

PROG = commands.DASHBOARD_PROG
# Wide enough that no instance line is ever cut when the output goes to a file or pipe.
PIPE_WIDTH = 4096
TICK = 1.0  # the SINCE column counts seconds
# Events are taken in batches of this many seconds: each batch costs one copy of
# the tree and one redraw, so a burst of 10,000 messages stays cheap.
GATHER = 0.05


class BrokerUnavailableError(Exception):
    """The broker could not be reached or refused the dashboard; the message is one line."""


@dataclass(frozen=True, slots=True)
class Options:
    """The dashboard's settings: the broker and what to do."""

    mqtt: MqttSettings
    once: bool
    timeout: float
    # "text" or "json".
    format: str
    # Empty: every agent, every execution state (names upper-case).
    agents: tuple[str, ...]
    states: tuple[str, ...]


def selection(options: Options) -> Selection:
    """Return the instances and agents `--agent` and `--state` select."""
    return Selection(options.agents, options.states)


def parse_options(argv: Sequence[str], environ: Mapping[str, str]) -> Options:
    """Return the options: flag beats environment beats default, as for the bridge."""
    # The bridge's parser: abbreviated flags are refused here too.
    parser = OptionParser(PROG, "Show the Ankaios workload states held by the broker.")
    add_mqtt_arguments(parser, client_id=f"{PROG}-<random hex>")
    add_options(parser, commands.DASHBOARD_OWN_OPTIONS)
    args = parser.parse_args(list(argv))
    client_id = f"{PROG}-{secrets.token_hex(4)}"
    mqtt = mqtt_settings(args, environ, default_client_id=client_id, qos=0)
    return build(Options, commands.DASHBOARD_OWN_OPTIONS, args, environ, mqtt=mqtt)


def run(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Run the dashboard and return the exit status."""
    try:
        options = parse_options(argv, environ)
        console = Console(highlight=False)
        if options.once:
            return _print_once(options, console)
        if options.format != "text":
            return _fail(2, f"--format {options.format} needs --once; the live view is text")
        if console.is_terminal:
            return _show_live(options, console)
        return _fail(2, "standard output is not a terminal; use --once for a plain-text snapshot")
    except ConfigError as err:
        return _fail(2, str(err))
    except BrokerUnavailableError as err:
        return _fail(1, str(err))


def _fail(status: int, message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return status


def _print_once(options: Options, console: Console) -> int:
    view = wait_for_snapshot(options.mqtt, options.timeout)
    broker = options.mqtt.address
    if options.format == "json":
        sys.stdout.write(
            format_document(snapshot_document(view, broker, selection(options))) + "\n"
        )
        return 0
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    now = datetime.now().astimezone()
    screen = build_screen(view, broker, now, selection=selection(options))
    # The table crops its own lines; the console's crop would cost 80 ms per 10,000 rows.
    console.print(screen, crop=False)
    return 0


def wait_for_snapshot(settings: MqttSettings, timeout: float) -> View:
    """Return the view once the retained snapshot has arrived; raise when it cannot."""
    inbox = Inbox()
    view = View(settings.prefix)
    deadline = time.monotonic() + timeout
    with Feed(settings, inbox):
        while not view.snapshots:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrokerUnavailableError(_why_not(view, settings, timeout))
            batch = inbox.take(left, min(GATHER, left))
            view = apply_all(view, batch)
            _end_if_final(batch)
            if any(isinstance(event, Disconnected) and event.refused for event in batch):
                msg = f"the MQTT broker at {settings.address} {view.reason}"
                raise BrokerUnavailableError(msg)
    return view


def _end_if_final(batch: list[Event]) -> None:
    """Raise when the broker cannot serve the dashboard at all (its own line says why)."""
    for event in batch:
        if isinstance(event, Disconnected) and event.final:
            raise BrokerUnavailableError(event.reason)


def _why_not(view: View, settings: MqttSettings, timeout: float) -> str:
    where = f"the MQTT broker at {settings.address}"
    if view.connection == "connected":
        topics = f"{settings.prefix}/#"
        return f"{where} did not deliver the retained topics under {topics} within {timeout:g} s"
    cause = f" ({view.reason})" if view.reason else ""
    return f"cannot reach {where} within {timeout:g} s{cause}"


def _show_live(options: Options, console: Console) -> int:
    settings, chosen = options.mqtt, selection(options)
    inbox = Inbox()
    view = View(settings.prefix)
    broker = settings.address
    # Ctrl-C and SIGTERM only set a flag: a KeyboardInterrupt raised at any bytecode
    # can leave a lock held (right after a `with lock:` acquired it), and paho's
    # network thread then waits on it forever while the dashboard never exits.
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    with (
        Feed(settings, inbox),
        Live(console=console, auto_refresh=False, redirect_stderr=False) as live,
    ):
        while not stopping.is_set():
            # A signal does not cut the wait short: the loop sees it within one TICK.
            batch = inbox.take(TICK, GATHER)
            _end_if_final(batch)
            view = apply_all(view, batch)
            now = datetime.now().astimezone()
            screen = build_screen(view, broker, now, console.height, chosen)
            live.update(screen, refresh=True)
    return 0
