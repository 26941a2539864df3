"""A fleet back end with a TLS listener, a link that can be cut, and the shipped fleet fragment."""

from __future__ import annotations

import contextlib
import socket
import threading
from pathlib import Path
from typing import Self

from tests.support.broker import Mosquitto, free_port, wait_until_listening
from tests.support.tls import Pki

ROOT = Path(__file__).resolve().parent.parent.parent
FRAGMENT = ROOT / "deploy" / "mosquitto-fleet.conf"


def vehicle_fragment(vehicle_id: str, port: int, pki: Pki) -> str:
    """Return deploy/mosquitto-fleet.conf with only address, VEHICLE_ID and certificates replaced.

    The TLS check needs the host name the back end's certificate lists: `localhost`.
    """
    text = FRAGMENT.read_text()
    replacements = {
        "address fleet.example.com:8883": f"address localhost:{port}",
        "/etc/mosquitto/fleet/ca.crt": str(pki.ca),
        "/etc/mosquitto/fleet/vehicle.crt": str(pki.client.cert),
        "/etc/mosquitto/fleet/vehicle.key": str(pki.client.key),
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{FRAGMENT.name} no longer holds {old!r} once"
        text = text.replace(old, new)
    assert "VEHICLE_ID" in text
    return text.replace("VEHICLE_ID", vehicle_id)


class BackEnd(Mosquitto):
    """The fleet's broker: vehicles log in on `tls_port` with a client certificate.

    The CN becomes the user name, and the ACL lets that vehicle write only under
    `fleet/<vehicle id>/`. The test plays the back-end service on the plain `port`.
    """

    def __init__(self, pki: Pki, vehicle_id: str) -> None:
        super().__init__()
        self.pki = pki
        self.vehicle_id = vehicle_id
        self.tls_port = 0

    def start(self) -> None:
        """Start the broker and wait until both listeners accept connections."""
        if not self.tls_port:
            self.tls_port = free_port()
        self.extra_config = self._tls_listener()
        super().start()
        wait_until_listening(self.tls_port)

    def _tls_listener(self) -> str:
        acl = self.pki.directory / f"fleet-{self.vehicle_id}.acl"
        # Rules before any `user` line apply to anonymous clients: the test's service.
        acl.write_text(
            "topic readwrite fleet/#\ntopic readwrite test-marker/#\n"
            f"user bridge\ntopic readwrite fleet/{self.vehicle_id}/#\n"
        )
        pki = self.pki
        return "\n".join(
            (
                f"acl_file {acl}",
                f"listener {self.tls_port} 127.0.0.1",
                f"cafile {pki.ca}",
                f"certfile {pki.server.cert}",
                f"keyfile {pki.server.key}",
                "require_certificate true",
                "use_identity_as_username true",
            )
        )


class Link:
    """A TCP relay standing in for the vehicle's uplink: `cut()` drops it, `restore()` heals it.

    While cut, every connection is closed at once and new ones are closed on arrival,
    as when the cellular network goes away; the broker behind it keeps running.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="link", daemon=True)

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
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    # Either side ending ends the connection, as a dropped uplink does.
    _close(source)
    _close(sink)
