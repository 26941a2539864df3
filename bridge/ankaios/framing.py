"""Length-delimited framing of the control interface: protobuf varint lengths (pure)."""

from __future__ import annotations

# A varint of more than 5 bytes cannot be a sane frame length (the agent reads at
# most 19 varint bytes; 5 already allow 4 GiB).
_MAX_VARINT_BYTES = 5
# No state of a real system comes near this; a larger length means the stream is garbage.
MAX_FRAME_BYTES = 64 << 20


class FrameError(Exception):
    """The byte stream from the agent cannot be split into frames any more."""


def encode_varint(value: int) -> bytes:
    """Return `value` as a protobuf varint."""
    out = bytearray()
    while value > 0x7F:  # noqa: PLR2004 - seven payload bits per byte
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def decode_varint(buffer: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """Return (value, index after it) of the varint at `start`, or None if it is incomplete.

    Raises FrameError for a varint longer than a frame length can be.
    """
    value = 0
    shift = 0
    for index in range(start, min(len(buffer), start + _MAX_VARINT_BYTES)):
        byte = buffer[index]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:  # noqa: PLR2004 - no continuation bit
            return value, index + 1
        shift += 7
    if len(buffer) - start >= _MAX_VARINT_BYTES:
        raise FrameError("frame length is not a valid varint")
    return None


def frame(body: bytes) -> bytes:
    """Return `body` prefixed with its varint length."""
    return encode_varint(len(body)) + body


class FrameSplitter:
    """Splits a byte stream into frame bodies, keeping partial frames for the next read.

    The agent writes large frames in pipe-sized pieces; a frame is complete only
    when all of its bytes have arrived, however many reads that takes.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data` and return every frame body that is now complete."""
        buffer = self._buffer
        buffer += data
        bodies: list[bytes] = []
        start = 0
        end = len(buffer)
        while start < end:
            try:
                header = decode_varint(buffer, start)
            except FrameError:
                buffer.clear()
                raise
            if header is None:
                break
            length, body_start = header
            if length > MAX_FRAME_BYTES:
                buffer.clear()
                raise FrameError(f"frame length {length} exceeds {MAX_FRAME_BYTES} bytes")
            if body_start + length > end:
                break
            bodies.append(bytes(buffer[body_start : body_start + length]))
            start = body_start + length
        del buffer[:start]
        return bodies

    def clear(self) -> None:
        """Drop any partial frame (the stream restarts)."""
        self._buffer.clear()
