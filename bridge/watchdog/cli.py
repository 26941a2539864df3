"""`ankaios-mqtt-watchdog`: re-create the bridge's workload when the bridge says it must stop.

It runs where `ank` works (not in the bridge's container), reads the bridge's broker
settings, follows `<prefix>/$bridge/status` and `$bridge/info`, and leaves every
decision to bridge.watchdog.rules. Exit status 0 after SIGTERM/SIGINT, 2 for a bad
setting, a missing manifest or `ank` program.
"""

from __future__ import annotations

import logging
import os
import queue
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import FrameType

from bridge.app import configure_logging
from bridge.mqtt.client import describe_settings
from bridge.settings.options import ConfigError
from bridge.settings.watchdog import (
    ANK,
    MANIFEST,
    WATCHDOG_PROG,
    WatchdogSettings,
    load_watchdog_settings,
)
from bridge.watchdog.ank import Ank, AnkError, recreate
from bridge.watchdog.rules import (
    BadPayloadError,
    Limits,
    Recreate,
    Watchdog,
    describe,
    read_status,
    read_stopped,
)
from bridge.watchdog.subscriber import STATUS, BridgeWatch, Heard

LOG = logging.getLogger("bridge.watchdog")
EXIT_OK = 0
EXIT_CONFIG = 2


def checked(settings: WatchdogSettings, environ: Mapping[str, str]) -> WatchdogSettings:
    """Return the settings with `ank` resolved; ConfigError for a missing manifest or program."""
    if not settings.manifest.is_file():
        msg = (
            f"{MANIFEST.names}: {settings.manifest} is not a file; give the manifest "
            "that ank apply re-creates the bridge's workload from"
        )
        raise ConfigError(msg)
    found = shutil.which(settings.ank, path=environ.get("PATH", os.defpath))
    if found is None:
        msg = (
            f"{ANK.names}: {settings.ank!r} is not an executable program (nor one on PATH); "
            "the watchdog needs the ank CLI"
        )
        raise ConfigError(msg)
    return replace(settings, ank=found)


def heard(dog: Watchdog, message: Heard, where: str, now: float) -> None:
    """Feed one message to the rules; a payload they cannot read is one line and skipped."""
    try:
        if message.leaf == STATUS:
            dog.heard_status(read_status(message.payload), now)
        else:
            dog.heard_stopped(read_stopped(message.payload))
    except BadPayloadError as err:
        LOG.warning("ignoring %s/%s: %s", where, message.leaf, err)


def run(settings: WatchdogSettings, environ: Mapping[str, str]) -> int:
    """Watch the bridge and re-create its workload until a signal; return the exit status."""
    inbox: queue.SimpleQueue[Heard | None] = queue.SimpleQueue()

    def stop(signum: int, _frame: FrameType | None) -> None:
        # SimpleQueue.put is safe in a signal handler; a re-creation under way finishes
        # first: a workload deleted and never applied again would be worse.
        LOG.info("received %s; stopping", signal.Signals(signum).name)
        inbox.put(None)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    limits = Limits(settings.max_recreations, settings.backoff, settings.max_backoff)
    dog = Watchdog(limits)
    ank = Ank(settings.ank, environ)
    watch = BridgeWatch(settings.mqtt, inbox.put)
    where = f"{settings.mqtt.prefix}/$bridge"
    LOG.info(
        "watching %s/status and %s/info for workload %s (manifest %s, ank %s); %s",
        where,
        where,
        settings.workload,
        settings.manifest,
        settings.ank,
        describe_settings(settings.mqtt),
    )
    watch.start()
    try:
        while True:
            wake = dog.wake
            try:
                message = inbox.get(
                    timeout=None if wake is None else max(0.0, wake - time.monotonic())
                )
            except queue.Empty:
                pass  # the rules' wake-up: a wait or the hour's limit is over
            else:
                if message is None:
                    break
                heard(dog, message, where, time.monotonic())
            _act(dog, settings, ank)
    finally:
        watch.stop()
    LOG.info("stopped")
    return EXIT_OK


def _act(dog: Watchdog, settings: WatchdogSettings, ank: Ank) -> None:
    decision = dog.decide(time.monotonic())
    if decision is None:
        return
    line = describe(decision, settings.workload, time.monotonic())
    if not isinstance(decision, Recreate):
        LOG.warning("%s", line)
        return
    LOG.info("%s", line)
    try:
        recreate(ank, settings.workload, settings.manifest, settings.delete_timeout)
    except AnkError as err:
        pause = dog.finished(decision.stopped, time.monotonic(), ok=False)
        LOG.error("%s; trying again in %g s if the bridge still needs it", err, pause)  # noqa: TRY400 - one line, no traceback
        return
    dog.finished(decision.stopped, time.monotonic(), ok=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `ankaios-mqtt-watchdog`."""
    args = sys.argv[1:] if argv is None else argv
    environ = os.environ
    try:
        client_id = f"{WATCHDOG_PROG}-{secrets.token_hex(4)}"
        settings = checked(load_watchdog_settings(args, environ, client_id), environ)
    except ConfigError as err:
        print(f"{WATCHDOG_PROG}: {err}", file=sys.stderr)  # noqa: T201
        return EXIT_CONFIG
    configure_logging(settings.log_level)
    try:
        return run(settings, environ)
    except ConfigError as err:
        LOG.error("%s", err)  # noqa: TRY400 - an operator's mistake, not a crash
        return EXIT_CONFIG
