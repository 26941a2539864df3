"""The benchmark command: `python -m benchmarks.run [--quick]` (from the repository root).

Per repetition and per MQTT version (`--protocols`, MQTT 5 and 3.1.1 by default)
it runs, each against its own fresh mosquitto, the bridge and the raw paho
baseline, both speaking that version, with 1,000 instances (initial sync, then a
burst of changes, then, under the first version only, changes at a steady rate)
and with 10,000 instances (initial sync, peak RSS); which subject goes first
alternates, and so does which version. Then the dashboard figures. Prints a
markdown table and writes it, with every figure of every run, to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import dashboard
from benchmarks.baseline import run_raw
from benchmarks.bridge_session import run_bridge
from benchmarks.phases import Plan, SessionResult
from benchmarks.report import Row, machine, markdown, percentile, ratios, spread
from bridge.mqtt.version import MQTT5, MQTT311

SMALL, LARGE = 1_000, 10_000
RESULTS = Path(__file__).resolve().parent / "results"
Pairs = list[tuple[SessionResult, SessionResult]]
Pick = Callable[[SessionResult], float | None]
Check = Callable[[float, float | None], bool]
# protocol -> (1,000-instance pairs, 10,000-instance pairs), in the order measured
Runs = dict[str, tuple[Pairs, Pairs]]


def _session(run: Callable[[], SessionResult], subject: str, plan: Plan) -> SessionResult:
    try:
        return run()
    except Exception as err:  # noqa: BLE001 - a broken run is counted and reported, never dropped
        problem = f"session failed: {err!r}"
        return SessionResult(subject, plan.instances, plan.protocol, problems=(problem,))


def _bridge(plan: Plan) -> SessionResult:
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as workdir:
        return _session(lambda: run_bridge(plan, Path(workdir)), "bridge", plan)


def _pair(plan: Plan, bridge_first: bool) -> tuple[SessionResult, SessionResult]:
    if bridge_first:
        ours = _bridge(plan)
        return ours, _session(lambda: run_raw(plan), "raw", plan)
    theirs = _session(lambda: run_raw(plan), "raw", plan)
    return _bridge(plan), theirs


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


def _named(protocol: str) -> str:
    return f"MQTT {protocol}"


def _protocol_rows(protocol: str, small: Pairs, large: Pairs, plan: Plan) -> dict[str, Row]:
    """Return the rows every protocol gets, by kind; labels end with the protocol."""
    name = _named(protocol)
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
    rate = f"{plan.rate:g} changes/s ({_named(protocol)})"
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
                    where = f"repetition {index}, {label}, {_named(protocol)}, {result.subject}"
                    found.extend(f"{where}: {problem}" for problem in result.problems)
                    if min(result.latencies_ms, default=0) < 0:
                        # mosquitto_sub stamps CLOCK_REALTIME: a clock step breaks the pairing.
                        found.append(f"{where}: negative latency, the wall clock was stepped")
    return found


def protocol_list(text: str) -> tuple[str, ...]:
    """Parse `--protocols`: MQTT versions, comma-separated, each once, e.g. `5,3.1.1`."""
    chosen = tuple(part.strip() for part in text.split(","))
    if not chosen or any(part not in (MQTT5, MQTT311) for part in chosen):
        msg = f"{text!r}: give {MQTT5} and/or {MQTT311}, comma-separated"
        raise argparse.ArgumentTypeError(msg)
    if len(set(chosen)) != len(chosen):
        msg = f"{text!r}: each version once"
        raise argparse.ArgumentTypeError(msg)
    return chosen


def _session_json(result: SessionResult) -> dict[str, object]:
    data = asdict(result)
    latencies = result.latencies_ms
    data["latencies_ms"] = {
        "count": len(latencies),
        "min": min(latencies, default=None),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=None),
    }
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, print the table and write benchmarks/results/<time>.{md,json}."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="one short repetition (about a minute)"
    )
    parser.add_argument("--repeat", type=int, help="repetitions (default 5, --quick 1)")
    parser.add_argument("--qos", type=int, choices=(0, 1), default=1, help="QoS of both subjects")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the results")
    parser.add_argument(
        "--protocols",
        type=protocol_list,
        default=(MQTT5, MQTT311),
        help=f"MQTT versions of both subjects (default {MQTT5},{MQTT311}); "
        "latencies under the first only",
    )
    args = parser.parse_args(argv)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    if repeat < 1:
        parser.error("--repeat: must be at least 1")
    burst, paced = (2_000, 300) if args.quick else (10_000, 1_000)
    protocols: tuple[str, ...] = args.protocols
    # The paced phase takes paced / rate seconds per session: under the first version only.
    plans = {
        protocol: Plan(
            SMALL,
            burst=burst,
            paced=paced if protocol == protocols[0] else 0,
            qos=args.qos,
            protocol=protocol,
        )
        for protocol in protocols
    }
    plan = plans[protocols[0]]
    started = time.monotonic()
    host = machine()
    runs: Runs = {protocol: ([], []) for protocol in protocols}
    for index in range(repeat):
        print(f"repetition {index + 1} of {repeat} ...", file=sys.stderr, flush=True)
        # Alternated like the subjects, so a drift in load favours no version.
        for protocol in protocols if index % 2 == 0 else protocols[::-1]:
            small, large = runs[protocol]
            small.append(_pair(plans[protocol], bridge_first=index % 2 == 0))
            big = Plan(LARGE, qos=args.qos, protocol=protocol)
            large.append(_pair(big, bridge_first=index % 2 == 1))
    table = rows(runs, plan)
    board = dashboard.measure(repeat, quick=args.quick)
    found = problems(runs)
    elapsed = time.monotonic() - started
    host["loadavg_at_end"] = list(machine()["loadavg_1_5_15"])  # type: ignore[call-overload]
    versions = ", ".join(_named(protocol) for protocol in protocols)
    text = "\n".join(
        [
            markdown([*table, *board.rows]),
            "",
            f"Failed, hung or lossy runs: {len(found)}" + "".join(f"\n- {p}" for p in found),
            *([f"Dashboard: {board.note}"] if board.note else []),
            f"Machine: {json.dumps(host)}",
            f"QoS {args.qos}; {versions}; {repeat} repetition(s); wall time {elapsed:.0f} s",
        ]
    )
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    (args.out / f"{stamp}.md").write_text(text + "\n")
    document = {
        "machine": host,
        "settings": {
            "repeat": repeat,
            "qos": args.qos,
            "protocols": list(protocols),
            "plans": [asdict(plans[protocol]) for protocol in protocols],
        },
        "rows": [asdict(row) for row in (*table, *board.rows)],
        "problems": found,
        "dashboard": board.details,
        "sessions": [
            _session_json(result)
            for both in runs.values()
            for pairs in both
            for pair in pairs
            for result in pair
        ],
        "wall_time_s": elapsed,
    }
    (args.out / f"{stamp}.json").write_text(json.dumps(document, indent=1) + "\n")
    print(f"written: {args.out / stamp}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
