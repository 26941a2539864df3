"""Run the real `ankaios-mqtt-bridge` as a child process, as Ankaios would."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tests.support.child import ChildProcess

if TYPE_CHECKING:
    from pathlib import Path


class BridgeProcess(ChildProcess):
    """The bridge in its own process; stderr goes to a file readable with `log()`."""

    name = "bridge"

    def __init__(
        self,
        control_interface: Path,
        port: int,
        *args: str,
        env: dict[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        argv = [
            sys.executable,
            "-m",
            "bridge",
            "--control-interface",
            str(control_interface),
            "--mqtt-host",
            host,
            "--mqtt-port",
            str(port),
            *args,
        ]
        super().__init__(argv, env)

    def __enter__(self) -> BridgeProcess:
        self.start()
        return self
