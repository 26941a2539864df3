"""The log desk: the logs requests the bridge serves, their limits, replies and lines (pure).

Each request is one stream: one LogsRequest on the control interface (its request
id), one reply topic, the instances Ankaios accepted, a deadline, and a rate
window. What upstream Ankaios 1.0.1 does that shapes it: the server keeps only
the requested instances in its desired state and says which in LogsRequestAccepted
(`server/src/ankaios_server.rs`); an instance's fetcher ends with LogsStopResponse
when its container ends (a restart needs a new request) or its agent disconnects
(`agent/src/workload_log_facade.rs`, `ankaios_server.rs` on AgentGone); nothing comes
when the agent could not create a fetcher, so every stream has a deadline.
Memory is bounded by the number of streams, never by the log volume.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from bridge.core.loginputs import (
    CancelLogs,
    LogAnswer,
    LogLines,
    LogsAccepted,
    LogsAsked,
    LogsRefused,
    LogsStopped,
    StartLogs,
)
from bridge.core.logrequests import (
    Ask,
    Cancel,
    Malformed,
    ReplyTo,
    instance_document,
    parse_request,
)
from bridge.core.logstreams import SECOND, Decision, Stream
from bridge.core.model import InstanceStatus
from bridge.core.topics import InstanceKey
from bridge.settings.logs import LogsSettings

LOG = logging.getLogger(__name__)
# A request without follow ends when no line came for this long: it also ends one
# whose fetcher the agent could not create (upstream then sends nothing at all).
TAIL_WAIT = 10.0
_MAX_LOGGED = 100
TURN_ON = (
    "logs are off in this bridge: start it with --logs (LOGS=true) and grant it a LogRule "
    "(README, Logs on demand)"
)


class LogDesk:
    """Serves logs requests within the settings' limits; `new_id` makes control-interface ids."""

    def __init__(self, settings: LogsSettings, prefix: str, new_id: Callable[[], str]) -> None:
        self.settings = settings
        self.prefix = prefix
        self.new_id = new_id
        self.streams: dict[str, Stream] = {}
        self.connected = False
        self._logged = 0

    def next_due(self) -> datetime | None:
        """When `tick` has something to do next (a deadline, dropped lines to report)."""
        moments = [stream.deadline for stream in self.streams.values()]
        moments += [s.window + SECOND for s in self.streams.values() if s.dropped and s.window]
        return min(moments, default=None)

    def handle(
        self,
        item: LogsAsked | LogAnswer,
        now: datetime,
        truth: Mapping[InstanceKey, InstanceStatus] | None,
    ) -> Decision:
        """Decide on one logs input."""
        decision = Decision()
        if isinstance(item, LogsAsked):
            self._asked(item, now, truth, decision)
            return decision
        stream = self.streams.get(item.request_id)
        if stream is None:
            return decision  # ended already; its cancel is on its way
        if isinstance(item, LogsAccepted):
            self._accepted(stream, item.instances, decision)
        elif isinstance(item, LogsRefused):
            del self.streams[stream.request_id]
            detail = (
                f"Ankaios denied the logs request ({item.message}): the bridge's "
                f"controlInterfaceAccess needs a LogRule allowing {stream.workload!r}"
            )
            decision.reply(stream.reply, "refused", reason="denied", detail=detail)
        elif isinstance(item, LogLines):
            if not stream.follow:
                stream.deadline = now + timedelta(seconds=TAIL_WAIT)
            limits = (self.settings.max_rate, self.settings.max_line)
            stream.lines(item.lines, self.prefix, limits, now, decision)
        elif isinstance(item, LogsStopped) and item.instance in stream.live:
            stream.flush_dropped(self.prefix, decision)
            del stream.live[item.instance]
            why = stream.stop_reason(item.instance, truth)
            stream.ended(item.instance, "stopped", why, decision)
            if not stream.live:
                self._close(stream, decision)
        return decision

    def link(self, *, connected: bool) -> Decision:
        """Ankaios is reachable or not: a lost link ends every stream (its requests are gone)."""
        self.connected = connected
        decision = Decision()
        if not connected:
            for stream in list(self.streams.values()):
                self._end(stream, "lost", "the bridge lost its connection to Ankaios", decision)
        return decision

    def tick(self, now: datetime) -> Decision:
        """End the streams whose time is over; report lines dropped in a finished second."""
        decision = Decision()
        for stream in list(self.streams.values()):
            if stream.window is not None and now >= stream.window + SECOND:
                stream.flush_dropped(self.prefix, decision)
            if now >= stream.deadline:
                if stream.follow and stream.accepted:
                    detail = f"the follow duration of {stream.follow:g} s is over"
                elif stream.accepted:
                    detail = f"no more lines for {TAIL_WAIT:g} s"
                else:
                    detail = f"Ankaios did not answer the logs request within {TAIL_WAIT:g} s"
                self._end(stream, "duration", detail, decision)
        return decision

    def farewell(self) -> Decision:
        """End every stream: the bridge is stopping (the reader cancels them on the FIFOs)."""
        decision = Decision()
        for stream in list(self.streams.values()):
            self._end(stream, "shutdown", "the bridge is shutting down", decision)
        return decision

    def _asked(
        self,
        asked: LogsAsked,
        now: datetime,
        truth: Mapping[InstanceKey, InstanceStatus] | None,
        decision: Decision,
    ) -> None:
        parsed = parse_request(asked)
        reply = parsed.reply
        if reply is None:
            reason = parsed.reason if isinstance(parsed, Malformed) else "no reply topic"
            self._warn(f"ignored a logs request without a reply topic: {reason}")
        elif not self.settings.enabled:
            decision.reply(reply, "refused", reason="off", detail=TURN_ON)
        elif isinstance(parsed, Malformed):
            self._warn(f"refused a malformed logs request: {parsed.reason}")
            decision.reply(reply, "refused", reason="malformed", detail=parsed.reason)
        elif isinstance(parsed, Cancel):
            self._cancel(parsed.correlation, reply, decision)
        else:
            self._start(parsed, now, truth, decision)

    def _start(
        self,
        ask: Ask,
        now: datetime,
        truth: Mapping[InstanceKey, InstanceStatus] | None,
        decision: Decision,
    ) -> None:
        limits = self.settings
        if not self.connected or truth is None:
            detail = "the bridge is not connected to Ankaios (see <prefix>/$bridge/ankaios)"
            decision.reply(ask.reply, "refused", reason="unavailable", detail=detail)
            return
        if len(self.streams) >= limits.max_streams:
            many = f"{limits.max_streams} logs request{'s' * (limits.max_streams > 1)}"
            detail = f"the bridge serves {many}, its limit (--logs-max-streams)"
            decision.reply(ask.reply, "refused", reason="limit", detail=detail)
            return
        instances = ask.instances(truth)
        if not instances:
            detail = f"no scheduled instance of workload {ask.workload!r}" + (
                f" on agent {ask.agent!r}" if ask.agent else ""
            )
            decision.reply(ask.reply, "refused", reason="unknown", detail=detail)
            return
        follow = min(ask.follow, limits.max_follow)
        request_id = self.new_id()
        wait = follow or TAIL_WAIT
        self.streams[request_id] = Stream(
            request_id,
            ask.reply,
            ask.workload,
            dict.fromkeys(instances),
            follow,
            now + timedelta(seconds=wait),
        )
        decision.commands.append(
            StartLogs(request_id, instances, bool(follow), ask.tail, ask.since)
        )

    def _accepted(
        self, stream: Stream, instances: tuple[InstanceKey, ...], decision: Decision
    ) -> None:
        if not instances:
            detail = f"Ankaios has no instance of {stream.workload!r} in its desired state"
            decision.reply(stream.reply, "refused", reason="unknown", detail=detail)
            self._close(stream, decision)
            return
        stream.accepted = True
        stream.live = dict.fromkeys(instances)
        listed = [instance_document(key) for key in instances]
        decision.reply(stream.reply, "accepted", instances=listed, follow=stream.follow)

    def _cancel(self, correlation: str, reply: ReplyTo, decision: Decision) -> None:
        # Under MQTT 5 the correlation may be the Correlation Data alone.
        found = [
            stream
            for stream in self.streams.values()
            if correlation
            in (
                stream.reply.correlation,
                (stream.reply.correlation_data or b"").decode(errors="replace"),
            )
        ]
        if not found:
            detail = f"no log request has the correlation {correlation!r}"
            decision.reply(reply, "refused", reason="unknown", detail=detail)
        for stream in found:
            self._end(stream, "cancelled", "a cancel request ended it", decision)

    def _end(self, stream: Stream, reason: str, detail: str, decision: Decision) -> None:
        stream.flush_dropped(self.prefix, decision)
        if not stream.accepted:
            decision.reply(stream.reply, "refused", reason=reason, detail=detail)
        for key in stream.live if stream.accepted else ():
            stream.ended(key, reason, detail, decision)
        self._close(stream, decision)

    def _close(self, stream: Stream, decision: Decision) -> None:
        # Upstream keeps a log campaign until it is cancelled: always say so.
        self.streams.pop(stream.request_id, None)
        decision.commands.append(CancelLogs(stream.request_id))

    def _warn(self, text: str) -> None:
        # Bounded: anyone who may publish the request topic could flood the log.
        if self._logged < _MAX_LOGGED:
            self._logged += 1
            LOG.warning("%s", text)
