"""The `ankaios-mqtt-bridge` command: wiring, logging, signals and exit codes."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from types import FrameType

import bridge
from bridge.ankaios.protocol import new_request_id
from bridge.ankaios.reader import AnkaiosReader
from bridge.ankaios.transport import ControlInterfaceError
from bridge.core.info import BridgeFacts, StopReason
from bridge.core.inputs import Stop
from bridge.core.logdesk import LogDesk
from bridge.core.mirror import Mirror
from bridge.core.model import format_since
from bridge.core.owner import Owner
from bridge.mqtt.link import BrokerLink
from bridge.settings.commands import BridgeSettings, load_settings
from bridge.settings.options import ConfigError

LOG = logging.getLogger("bridge")
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
# How long a bridge that must give up waits for the broker to say `offline`.
_FATAL_CONNECT_WAIT = 3.0


def configure_logging(level: str) -> None:
    """One line per event on stderr, as container logs expect."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def run(settings: BridgeSettings) -> int:
    """Run the bridge until a signal or an unrecoverable error; return the exit status.

    The main thread is the owner: it runs the mirror over the one input queue that
    the broker link's callbacks, the control-interface reader and the signal
    handlers feed.
    """
    clock = partial(datetime.now, UTC)
    facts = BridgeFacts(
        bridge.__version__, format_since(clock()), settings.mqtt.prefix, settings.mqtt.qos
    )
    mirror = Mirror(facts, settings.mirror)
    desk = LogDesk(settings.logs, settings.mqtt.prefix, new_request_id)
    owner = Owner(mirror, clock, desk)
    link = BrokerLink(settings.mqtt, owner.put)
    source = AnkaiosReader(settings.ankaios, owner.put)
    # Logs requests go from the owner to the reader, which alone writes to the FIFOs.
    owner.to_ankaios = source.logs.put

    def stop(signum: int, _frame: FrameType | None) -> None:
        # SimpleQueue.put is safe in a signal handler (it takes no lock the
        # interrupted main thread could hold); logging's locks are reentrant.
        LOG.info("received %s; stopping", signal.Signals(signum).name)
        owner.put(Stop())

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # The broker client first: an unusable certificate or password file must end
    # the bridge before it spends its workload instance's only handshake.
    link.start()
    try:
        source.start()
    except ControlInterfaceError as err:
        LOG.error("%s", err)  # noqa: TRY400 - an operator's mistake, not a crash
        _part(owner, link, err.stop)
        return EXIT_FAILURE
    failure = owner.run(link)
    source.stop()
    _part(owner, link, failure)
    if failure is not None:
        LOG.error("%s", failure.line())
        return EXIT_FAILURE
    LOG.info("stopped; published 'offline'")
    return EXIT_OK


def _part(owner: Owner, link: BrokerLink, stop: StopReason | None) -> None:
    """Say `$bridge/ankaios` disconnected and why (the mirror's), then `offline` (the link's)."""
    if stop is not None:
        # A bridge that must give up still leaves its words on a broker that is slow to come.
        link.wait_connected(_FATAL_CONNECT_WAIT)
    owner.farewell(link, stop)
    link.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ankaios-mqtt-bridge`."""
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings(args, os.environ, socket.gethostname())
    except ConfigError as err:
        print(f"ankaios-mqtt-bridge: {err}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        return run(settings)
    except ConfigError as err:
        LOG.error("%s", err)  # noqa: TRY400 - an operator's mistake, not a crash
        return EXIT_CONFIG
