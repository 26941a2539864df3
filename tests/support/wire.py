"""Raw MQTT CONNECT probes: what a broker answers before any client library gets involved."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable

MQTT_5 = "5"
MQTT_311 = "3.1.1"

_LEVELS = {MQTT_311: 4, MQTT_5: 5}
_CONNACK = 0x20
_DISCONNECT = b"\xe0\x00"


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _remaining_length(length: int) -> bytes:
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes(encoded)


def connect_packet(version: str, client_id: str) -> bytes:
    """Return a clean-session CONNECT of MQTT `version` ("5" or "3.1.1") without will or login."""
    variable = _string(b"MQTT") + bytes([_LEVELS[version], 0x02]) + (60).to_bytes(2, "big")
    if version == MQTT_5:
        variable += b"\x00"  # no properties
    payload = _string(client_id.encode())
    return b"\x10" + _remaining_length(len(variable) + len(payload)) + variable + payload


def _read_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _read_packet(sock: socket.socket) -> tuple[int, bytes] | None:
    """Return (first byte, body) of the next packet, None when the broker closed first."""
    first = _read_exactly(sock, 1)
    if not first:
        return None
    length, shift = 0, 0
    while True:
        digit = _read_exactly(sock, 1)
        if not digit:
            return None
        length |= (digit[0] & 0x7F) << shift
        shift += 7
        if not digit[0] & 0x80:
            break
    body = _read_exactly(sock, length)
    return (first[0], body) if len(body) == length else None


def connack_code(host: str, port: int, version: str = MQTT_311, timeout: float = 2.0) -> int | None:
    """Send one CONNECT of `version`; return the CONNACK's return code, None if the broker closes first.

    A refused TCP connection or a broker that stays silent for `timeout` raises OSError.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(connect_packet(version, f"probe-{uuid.uuid4().hex[:16]}"))
        packet = _read_packet(sock)
        if packet is None:
            return None
        kind, body = packet
        if kind != _CONNACK or len(body) < 2:
            msg = f"expected a CONNACK, got packet 0x{kind:02x} {body!r}"
            raise AssertionError(msg)
        if body[1] == 0:
            # A clean goodbye, so that the broker logs no lost connection.
            sock.sendall(_DISCONNECT)
        return body[1]


def wait_until_accepting(
    host: str,
    port: int,
    alive: Callable[[], bool],
    timeout: float,
    what: str,
    user: tuple[str, str] | None = None,
) -> None:
    """Block until a 3.1.1 CONNECT on host:port gets an accepting CONNACK.

    With `user` (the broker wants credentials, the probe gives none) a CONNACK that refuses
    the credentials (4, 5) counts too. Fails at once when `alive()` turns false (the broker
    exited), else after `timeout` seconds.
    """
    answers = {0, 4, 5} if user is not None else {0}
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            code = connack_code(host, port, MQTT_311, timeout=max(0.2, min(2.0, remaining)))
            if code in answers:
                return
        except OSError:
            pass
        if not alive():
            msg = f"{what} exited before accepting MQTT connections"
            raise RuntimeError(msg)
        if time.monotonic() > deadline:
            msg = f"{what} accepted no MQTT connection within {timeout} s"
            raise TimeoutError(msg)
        time.sleep(0.05)
