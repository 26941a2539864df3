"""The benchmark table's rows: bridge/baseline ratios per MQTT version, from the sessions."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.phases import Plan, SessionResult
from benchmarks.report import Row, percentile, ratios, spread

SMALL, LARGE = 1_000, 10_000
Pairs = list[tuple[SessionResult, SessionResult]]
Pick = Callable[[SessionResult], float | None]
Check = Callable[[float, float | None], bool]
# protocol -> (1,000-instance pairs, 10,000-instance pairs), in the order measured
Runs = dict[str, tuple[Pairs, Pairs]]


def _row(
    figure: str, unit: str, pairs: Pairs, pick: Pick, target: str = "-", check: Check | None = None
) -> Row:
    ours = [pick(bridge) for bridge, _ in pairs]
    theirs = [pick(raw) for _, raw in pairs]
    mine, base, ratio = spread(ours), spread(theirs), ratios(ours, theirs)
    met = None
    if check is not None and mine is not None:
        met = check(mine.median, ratio.median if ratio else None)
    runs = f"{sum(value is not None for value in ours)} of {len(pairs)}"
    return Row(figure, unit, mine, base, ratio, target, met, runs)


def _sync(result: SessionResult) -> float | None:
    return result.sync_s


def _latency(share: float) -> Pick:
    return lambda result: percentile(result.latencies_ms, share)


def _rss(result: SessionResult) -> float | None:
    return result.peak_rss_kib / 1024 if result.peak_rss_kib else None


def named(protocol: str) -> str:
    """Return a version's name as the table writes it."""
    return f"MQTT {protocol}"


def _protocol_rows(protocol: str, small: Pairs, large: Pairs, plan: Plan) -> dict[str, Row]:
    """Return the rows every protocol gets, by kind; labels end with the protocol."""
    name = named(protocol)
    startups = [bridge.startup_s for bridge, _ in small + large]
    started = sum(value is not None for value in startups)
    return {
        "sync small": _row(f"initial sync, {SMALL:,} instances ({name})", "s", small, _sync),
        "sync large": _row(
            f"initial sync, {LARGE:,} instances ({name})",
            "s",
            large,
            _sync,
            "≤ 1.25x raw",
            lambda _mine, ratio: ratio is not None and ratio <= 1.25,
        ),
        "start-up": Row(
            f"bridge start-up (process start → connected) ({name})",
            "s",
            spread(startups),
            None,
            None,
            "-",
            None,
            f"{started} of {len(startups)}",
        ),
        "throughput": _row(
            f"throughput, {plan.burst:,} changes back to back ({SMALL:,} instances) ({name})",
            "changes/s",
            small,
            lambda s: s.throughput,
            "≥ 0.8x raw",
            lambda _mine, ratio: ratio is not None and ratio >= 0.8,
        ),
        "rss": _row(
            f"peak RSS (VmHWM), {LARGE:,} instances ({name})",
            "MiB",
            large,
            _rss,
            "< 60 MiB",
            lambda mine, _ratio: mine < 60,
        ),
    }


def _latency_rows(protocol: str, small: Pairs, plan: Plan) -> list[Row]:
    rate = f"{plan.rate:g} changes/s ({named(protocol)})"
    return [
        _row(f"latency p50 at {rate}", "ms", small, _latency(0.5)),
        _row(
            f"latency p99 at {rate}",
            "ms",
            small,
            _latency(0.99),
            "< 3 ms",
            lambda mine, _ratio: mine < 3,
        ),
        _row(
            f"latency max at {rate}",
            "ms",
            small,
            lambda s: max(s.latencies_ms, default=None),
        ),
    ]


def rows(runs: Runs, plan: Plan) -> list[Row]:
    """Return the table rows of the bridge sessions and their paired baselines.

    Grouped by figure, one row per protocol in `runs` order; the latency rows
    only for the first protocol, whose sessions alone have the paced phase.
    """
    per = [_protocol_rows(protocol, *pairs, plan) for protocol, pairs in runs.items()]
    first, (first_small, _) = next(iter(runs.items()))

    def each(kind: str) -> list[Row]:
        return [kinds[kind] for kinds in per]

    return [
        *each("sync small"),
        *each("sync large"),
        *each("start-up"),
        *each("throughput"),
        *_latency_rows(first, first_small, plan),
        *each("rss"),
    ]


def problems(runs: Runs) -> list[str]:
    """Return every hang, loss or failure, naming the repetition, protocol and subject."""
    found: list[str] = []
    for protocol, (small, large) in runs.items():
        for label, pairs in (("1k", small), ("10k", large)):
            for index, pair in enumerate(pairs, 1):
                for result in pair:
                    where = f"repetition {index}, {label}, {named(protocol)}, {result.subject}"
                    found.extend(f"{where}: {problem}" for problem in result.problems)
                    if min(result.latencies_ms, default=0) < 0:
                        # mosquitto_sub stamps CLOCK_REALTIME: a clock step breaks the pairing.
                        found.append(f"{where}: negative latency, the wall clock was stepped")
    return found
