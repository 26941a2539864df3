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
from benchmarks.report import machine, markdown, percentile
from benchmarks.rows import LARGE, SMALL, Runs, named, problems, rows
from bridge.mqtt.version import MQTT5, MQTT311

RESULTS = Path(__file__).resolve().parent / "results"


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
    versions = ", ".join(named(protocol) for protocol in protocols)
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
