"""The hand-over of logs requests from the owner thread to the control-interface reader.

The owner puts commands (bridge.core.loginputs); the reader, which alone writes to
the FIFOs, takes their frames when it may write (never while a request is overdue:
see bridge.ankaios.feeds `due`), hands log answers back to the owner, and cancels
every request still open when it stops.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from bridge.ankaios.logwire import request_frame
from bridge.ankaios.protocol import ErrorAnswer, Message
from bridge.core.loginputs import CancelLogs, LogAnswer, LogCommand, LogsRefused, StartLogs


class LogChannel:
    """The hand-over: commands in from the owner (`put`), frames out and answers back (reader)."""

    def __init__(self) -> None:
        self._commands: queue.SimpleQueue[LogCommand] = queue.SimpleQueue()
        # Request ids asked and not cancelled yet (reader thread only).
        self._open: dict[str, None] = {}

    def put(self, command: LogCommand) -> None:
        """Hand a command to the reader thread (thread-safe)."""
        self._commands.put(command)

    def frames(self, overdue: Callable[[], float | None]) -> list[bytes]:
        """Return the frames of the commands given so far; none while a request is `overdue`.

        Asked after every message the reader handles: `overdue` is only worked out when
        a command waits.
        """
        frames: list[bytes] = []
        if self._commands.empty() or overdue() is not None:
            return frames
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            if isinstance(command, StartLogs):
                self._open[command.request_id] = None
            else:
                self._open.pop(command.request_id, None)
            frames.append(request_frame(command))
        return frames

    def farewell(self) -> list[bytes]:
        """Return a cancel for every request still open: the bridge is stopping."""
        open_ids, self._open = list(self._open), {}
        return [request_frame(CancelLogs(request_id)) for request_id in open_ids]

    def take(self, message: Message) -> LogAnswer | None:
        """Return the owner's input for an answer to a logs request, else None."""
        if isinstance(message, LogAnswer):
            return message
        if isinstance(message, ErrorAnswer) and message.request_id in self._open:
            del self._open[message.request_id]
            return LogsRefused(message.request_id, message.message)
        return None
