"""README's configuration table tells the truth: every flag and its environment twin, no more."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bridge.config import build_parser

README = Path(__file__).resolve().parent.parent / "README.md"
_CODE = re.compile(r"`([^`]+)`")
_TWIN = re.compile(r"\(([A-Z][A-Z0-9_]+)")


def documented() -> dict[str, str]:
    """Return flag -> environment variable from README's configuration table."""
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    pairs: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`--"):
            continue
        flags, twins = _CODE.findall(cells[0]), _CODE.findall(cells[1])
        assert len(flags) == len(twins), line
        pairs.update(zip(flags, twins, strict=True))
    return pairs


def implemented() -> dict[str, str]:
    """Return flag -> environment variable as the bridge's parser declares them in its help."""
    pairs: dict[str, str] = {}
    for action in build_parser()._actions:
        if action.help in (None, argparse.SUPPRESS) or not action.option_strings:
            continue
        if isinstance(action, argparse._HelpAction):
            continue
        twin = _TWIN.search(action.help)
        assert twin is not None, f"{action.option_strings[0]} names no environment variable"
        pairs[action.option_strings[0]] = twin.group(1)
    return pairs


def test_readme_lists_exactly_the_bridge_flags_and_their_variables() -> None:
    """Every flag of the bridge is in README's table with its environment twin, and the table lists nothing else."""
    assert documented() == implemented()


def test_the_password_has_a_variable_and_no_flag() -> None:
    """MQTT_PASSWORD is documented as a variable without a flag (a flag would show in ps)."""
    section = README.read_text().split("## Configuration", 1)[1]
    assert "| | `MQTT_PASSWORD` |" in section
    assert "--mqtt-password" not in implemented()
