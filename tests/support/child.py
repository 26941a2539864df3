"""One of the project's programs as a child process, its output in a log file readable at any time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType


class ChildProcess:
    """A program started by `start()`, killed at the end of the `with` block; `log()` is its output."""

    name = "child"

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.env = {**os.environ, "LOG_LEVEL": "DEBUG", **(env or {})}
        self._log = Path(tempfile.mkstemp(prefix=f"{self.name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self._kept: str | None = None

    def __enter__(self) -> ChildProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._kept = self.log()
        if exc is not None:
            sys.stderr.write(f"--- {self.name} log ---\n{self._kept}\n")
        self._log.unlink(missing_ok=True)

    def start(self) -> None:
        """Start the process (again, after it ended: the log goes on)."""
        with self._log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )

    def signal(self, signum: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send `signum` and return the exit status."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.wait(timeout)

    def wait(self, timeout: float = 10.0) -> int:
        """Wait for the process to end and return its exit status."""
        assert self.process is not None
        return self.process.wait(timeout)

    def log(self) -> str:
        """Return everything the process wrote so far (kept after the block ends)."""
        if self._kept is not None:
            return self._kept
        return self._log.read_text(errors="replace")
