"""The `ankaios-mqtt-dashboard` console: a live table of the workload states under the prefix."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the dashboard; the console script passes nothing and exits with the result."""
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if environ is None else environ
    if args[:1] == ["logs"]:
        # Needs no rich: it prints lines.
        from bridge.dashboard.logs import run_logs  # noqa: PLC0415 - only for `logs`

        return run_logs(args[1:], env)
    try:
        # rich comes with the optional `dashboard` extra; the bridge itself never needs it.
        from bridge.dashboard.app import run  # noqa: PLC0415 - see above
    except ModuleNotFoundError as err:
        if err.name != "rich" and not (err.name or "").startswith("rich."):
            raise
        sys.stderr.write(
            "ankaios-mqtt-dashboard: needs rich: pip install 'ankaios-mqtt-bridge[dashboard]'\n"
        )
        return 2
    return run(args, env)
