"""A TCP relay to a local port, for tests of reconnects and of a link that goes away."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Self


class Relay:
    """Relays TCP connections to `target_port`; `cut()` drops them all, `restore()` heals it.

    It records when each connection arrives (how often a client tries, whatever the
    broker logs) and what each one started with (a TLS record starts with 0x16).
    While cut, every connection is closed at once and new ones on arrival, as when
    the cellular network goes away; the broker behind it keeps running.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.arrivals: list[float] = []
        self.first_bytes: dict[int, int] = {}
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="relay", daemon=True)

    def __enter__(self) -> Self:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = int(self._listener.getsockname()[1])
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping.set()
        self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        self._close_all()

    def cut(self) -> None:
        """Close every relayed connection and refuse new ones until `restore()`."""
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        """Relay new connections again."""
        self._cut.clear()

    def _close_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                downstream, _ = self._listener.accept()
            except TimeoutError:
                continue
            self.arrivals.append(time.monotonic())
            number = len(self.arrivals) - 1
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                _close(downstream)
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._cut.is_set():
                    _close(downstream)
                    _close(upstream)
                    continue
                self._sockets.update((downstream, upstream))
            for source, sink in ((downstream, upstream), (upstream, downstream)):
                seen = self.first_bytes if source is downstream else {}
                threading.Thread(
                    target=_pump, args=(source, sink, seen, number), daemon=True
                ).start()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _pump(source: socket.socket, sink: socket.socket, seen: dict[int, int], number: int) -> None:
    try:
        while data := source.recv(65536):
            seen.setdefault(number, data[0])
            sink.sendall(data)
    except OSError:
        pass
    # Either side ending ends the connection, as a dropped uplink does.
    _close(source)
    _close(sink)
