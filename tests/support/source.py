"""Drive the bridge's AnkaiosSource directly and collect what it reports."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from types import TracebackType

from bridge.ankaios.source import AnkaiosSource
from bridge.core.inputs import Changes, Snapshot, SourceFailed
from bridge.settings.commands import default_settings
from tests.support.mqtt import wait_for


class Collector:
    """An AnkaiosSource with a sink that records every Snapshot, Changes and SourceFailed."""

    def __init__(
        self, directory: Path, hold: threading.Event | None = None, **settings: float
    ) -> None:
        self.items: list[object] = []
        self.held = False
        self._hold = hold
        self._lock = threading.Lock()
        given = dataclasses.replace(
            default_settings().ankaios, control_interface=directory, **settings
        )
        self.source = AnkaiosSource(given, self._sink)

    def _sink(self, item: object) -> None:
        with self._lock:
            self.items.append(item)
        if self._hold is not None and isinstance(item, Snapshot) and not self.held:
            # Keep the reader thread busy with the first snapshot until the test lets go.
            self.held = True
            self._hold.wait(5)

    def __enter__(self) -> Collector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.source.stop()

    def of(self, kind: type[object]) -> list[object]:
        """Return the recorded items of one kind."""
        with self._lock:
            return [item for item in self.items if isinstance(item, kind)]

    def snapshots(self) -> list[Snapshot]:
        """Return the recorded snapshots."""
        return [item for item in self.of(Snapshot) if isinstance(item, Snapshot)]

    def changes(self) -> list[Changes]:
        """Return the recorded changes."""
        return [item for item in self.of(Changes) if isinstance(item, Changes)]

    def failures(self) -> list[SourceFailed]:
        """Return the recorded failures."""
        return [item for item in self.of(SourceFailed) if isinstance(item, SourceFailed)]

    def wait_snapshots(self, count: int, timeout: float = 5.0) -> Snapshot:
        """Wait until `count` snapshots have arrived and return the last."""
        wait_for(lambda: len(self.snapshots()) >= count, timeout, f"{count} snapshot(s)")
        return self.snapshots()[-1]
