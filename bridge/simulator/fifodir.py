"""The control-interface directory and its two FIFOs on the file system, as the agent keeps them.

``input`` and ``output`` are named from the workload's point of view. The agent
creates them with mode 0600 and reuses an existing FIFO (``agent/src/io_utils/fifo.rs``),
and unlinks them, then the directory, when the control interface is dropped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path

INPUT = "input"
OUTPUT = "output"


def ensure_fifo(path: Path) -> None:
    """Create a FIFO with mode 0600 at ``path``; an existing FIFO is reused (fifo.rs)."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        os.mkfifo(path, 0o600)
        path.chmod(0o600)
        return
    if not stat.S_ISFIFO(mode):
        raise FileExistsError(f"{path} exists and is not a FIFO")


def create_fifos(directory: Path) -> None:
    """Create the directory and both FIFOs unless they exist (input_output.rs ``new``)."""
    directory.mkdir(parents=True, exist_ok=True)
    ensure_fifo(directory / INPUT)
    ensure_fifo(directory / OUTPUT)


def remove_fifos(directory: Path, *, directory_too: bool) -> None:
    """Unlink ``input`` then ``output`` (fifo.rs Drop), then the directory (directory.rs Drop)."""
    for name in (INPUT, OUTPUT):
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            (directory / name).unlink()
    if directory_too:
        shutil.rmtree(directory, ignore_errors=True)
