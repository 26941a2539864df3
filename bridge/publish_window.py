"""The bounded publish window: how many of the bridge's publishes paho may hold at once.

paho keeps every QoS 1 message until its PUBACK (about 1.8 KB each), so a
10,000-instance sync would otherwise hold 20,000 of them (86 MiB peak RSS
instead of 48).
"""

from __future__ import annotations

import threading

SIZE = 256
# How long one wait for a slot lasts before the caller checks the connection again.
WAIT = 0.2


class PublishWindow:
    """Counts the bridge's publishes that paho has not finished (PUBACK, or written for QoS 0)."""

    def __init__(self, size: int = SIZE) -> None:
        self._free = threading.Semaphore(size)
        # Slots go back half a window at a time: waking the publisher for every
        # PUBACK hands the GIL over twice per message (a 10,000-instance sync took 1.4x as long).
        self._batch = max(1, size // 2)
        self._freed = 0
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        # For QoS 0 paho may report a publish done before publish() has returned its mid.
        self._early: set[int] = set()

    def acquire(self, timeout: float) -> bool:
        """Take a slot, waiting at most `timeout` seconds."""
        return self._free.acquire(timeout=timeout)

    def release(self) -> None:
        """Give a slot back."""
        self._free.release()

    def track(self, mid: int) -> None:
        """Remember that publish `mid` holds a slot until it is done."""
        with self._lock:
            if mid in self._early:
                self._early.discard(mid)
                self._give_back()
            else:
                self._pending.add(mid)

    def done(self, mid: int) -> None:
        """Publish `mid` is finished: free its slot."""
        with self._lock:
            if mid in self._pending:
                self._pending.discard(mid)
                self._give_back()
            else:
                self._early.add(mid)

    def _give_back(self) -> None:
        self._freed += 1
        if self._freed >= self._batch:
            self._free.release(self._freed)
            self._freed = 0
