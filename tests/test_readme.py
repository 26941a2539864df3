"""README's configuration tables tell the truth: every option with its twin and default, no more."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bridge.settings import commands, watchdog
from bridge.settings.commands import build_parser
from bridge.settings.options import Declared

README = Path(__file__).resolve().parent.parent / "README.md"
_CODE = re.compile(r"`([^`]+)`")
_DASHBOARD = "### Dashboard options"
_WATCHDOG = "### Watchdog options"

Row = tuple[str | None, str | None]


def _section() -> str:
    return README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]


def documented(part: str) -> dict[Row, str]:
    """Return (flag, variable) -> default as a README table lists them (None: there is none)."""
    rows: dict[Row, str] = {}
    for line in part.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4:
            continue
        flags: list[str | None] = list(_CODE.findall(cells[0]))
        twins: list[str | None] = list(_CODE.findall(cells[1]))
        if not flags and not twins:
            continue
        flags = flags or [None] * len(twins)
        twins = twins or [None] * len(flags)
        for flag, twin in zip(flags, twins, strict=True):
            rows[flag, twin] = cells[2].replace("`", "")
    return rows


def declared(options: tuple[Declared, ...]) -> dict[Row, str]:
    """Return (flag, variable) -> default as the option table declares them."""
    return {(option.flag, option.env): option.shown_default for option in options}


def test_readme_lists_exactly_the_bridge_options() -> None:
    """README's bridge table lists every bridge option with its variable and default, and nothing else."""
    bridge_part = _section().split(_DASHBOARD, 1)[0]
    assert documented(bridge_part) == declared(commands.BRIDGE_OPTIONS)


def test_readme_lists_exactly_the_dashboard_options() -> None:
    """README's dashboard table lists every option of the dashboard's own, with its default, and nothing else."""
    dashboard_part = _section().split(_DASHBOARD, 1)[1].split(_WATCHDOG, 1)[0]
    assert documented(dashboard_part) == declared(commands.DASHBOARD_OWN_OPTIONS)


def test_readme_lists_exactly_the_watchdog_options() -> None:
    """README's watchdog table lists every option of the watchdog's own, with its variable and default, and nothing else."""
    watchdog_part = _section().split(_WATCHDOG, 1)[1]
    assert documented(watchdog_part) == declared(watchdog.WATCHDOG_OWN_OPTIONS)


def test_the_watchdog_parser_takes_the_broker_options_and_its_table() -> None:
    """The watchdog's flags are the broker's (as the bridge's) and its table's, each help ending with its variable and default."""
    helps = {
        action.option_strings[0]: action.help
        for action in watchdog.build_parser()._actions
        if action.help not in (None, argparse.SUPPRESS)
        and not isinstance(action, argparse._HelpAction)
    }
    own = {
        option.flag: option for option in watchdog.WATCHDOG_OWN_OPTIONS if option.flag is not None
    }
    bridge_flags = {action.option_strings[0] for action in build_parser()._actions}
    assert set(helps) - set(own) <= bridge_flags
    assert "--mqtt-host" in helps
    for flag, option in own.items():
        assert str(helps[flag]).endswith(f"({option.env}, default {option.shown_default})")


def test_the_bridge_parser_accepts_exactly_the_table() -> None:
    """The bridge's flags are the table's, and each help text ends with its variable and default."""
    helps = {
        action.option_strings[0]: action.help
        for action in build_parser()._actions
        if action.help not in (None, argparse.SUPPRESS)
        and not isinstance(action, argparse._HelpAction)
    }
    flagged = {option.flag: option for option in commands.BRIDGE_OPTIONS if option.flag is not None}
    assert set(helps) == set(flagged)
    for flag, option in flagged.items():
        assert str(helps[flag]).endswith(f"({option.env}, default {option.shown_default})")


def test_the_password_has_a_variable_and_no_flag() -> None:
    """MQTT_PASSWORD is documented as a variable without a flag (a flag would show in ps)."""
    assert "| | `MQTT_PASSWORD` |" in _section()
    assert (None, "MQTT_PASSWORD") in declared(commands.BRIDGE_OPTIONS)
    assert "--mqtt-password" not in {option.flag for option in commands.BRIDGE_OPTIONS}
