"""`python -m bench.run [--quick] [--full] [--only B1,B2,...] [--ticks N]`: the FinanceLake bench.

Starts its own embedded broker on free ports, runs the selected benchmarks in order, prints a
markdown table (each figure beside its target and the distance) and writes
bench/results/<stamp>.json, bench/results/latest.json and bench/results/latest.html.
Benchmarks never assert on time: a slow figure is a finding, not a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from bench import cycles, demo, latency, machine, report, throughput
from bench.harness import RESULTS_DIR, Broker, Workspace

log = logging.getLogger("bench")

BENCHMARKS = ("B1", "B2", "B3", "P", "S", "L", "T", "M", "F")
DESCRIPTIONS = {
    "B1": "raw consume of the pre-filled topic (confluent-kafka; Kafka's ConsumerPerformance)",
    "B2": "`financelake produce --rate 0` (fills the topic the readers use)",
    "B3": "Spark floor: Kafka source -> from_json -> noop sink, availableNow",
    "P": "`financelake run --available-now` through every layer",
    "S": "P at several topic sizes",
    "L": "continuous mode latency at fixed loads",
    "T": "training cycle time; ingest latency during cycles",
    "M": "peak RSS during P and during the demo",
    "F": "files per commit and live files per table",
}


# Sizes of a default run, and of --quick (a smoke run of every benchmark).
_DEFAULT: dict[str, Any] = {
    "ticks": 1_000_000,
    "smallest_divisor": 10,  # S: the small topic is ticks / this, at least `smallest`
    "smallest": 10_000,
    "window_s": 45.0,
    "warmup_s": 5.0,
    "history_ticks": 40_000,
    "train_interval_s": 10.0,
    "training_bars": (10_000, 100_000),
    "demo_s": 60.0,
}
_QUICK: dict[str, Any] = {
    "ticks": 50_000,
    "smallest_divisor": 5,
    "smallest": 5_000,
    "window_s": 15.0,
    "warmup_s": 3.0,
    "history_ticks": 10_000,
    "train_interval_s": 5.0,
    "training_bars": (2_000, 10_000),
    "demo_s": 25.0,
}


@dataclass(frozen=True)
class Plan:
    """What to run, and how big: the defaults, or --quick for a smoke run of every benchmark."""

    mode: str
    only: tuple[str, ...]
    ticks: int
    scaling: tuple[int, ...]
    loads: tuple[float, ...]
    window_s: float
    warmup_s: float
    history_ticks: int
    train_interval_s: float
    training_bars: tuple[int, ...]
    demo_s: float
    keep: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Plan:
        size = _QUICK if args.quick else _DEFAULT
        ticks = args.ticks or size["ticks"]
        sizes = {max(ticks // size["smallest_divisor"], size["smallest"]), ticks}
        if args.full and not args.quick:
            sizes.add(ticks * 5)
        return cls(
            mode="quick" if args.quick else "full" if args.full else "default",
            only=tuple(BENCHMARKS if not args.only else _ids(args.only)),
            ticks=ticks,
            scaling=tuple(sorted(sizes)),
            loads=args.loads or (1_000.0, 10_000.0),
            window_s=args.window or size["window_s"],
            warmup_s=size["warmup_s"],
            history_ticks=size["history_ticks"],
            train_interval_s=size["train_interval_s"],
            training_bars=size["training_bars"],
            demo_s=size["demo_s"],
            keep=args.keep,
        )

    def wants(self, *ids: str) -> bool:
        return any(i in self.only for i in ids)


def _ids(text: str) -> list[str]:
    ids = [i.strip().upper() for i in text.split(",") if i.strip()]
    unknown = [i for i in ids if i not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose from {', '.join(BENCHMARKS)}")
    return ids


class Bench:
    """Runs the plan; every benchmark's outcome (figures, error or skip reason) lands in
    `results`, so one failure never hides the others' figures."""

    def __init__(self, plan: Plan, workspace: Workspace, broker: Broker) -> None:
        self.plan = plan
        self.ws = workspace
        self.broker = broker
        self.results: dict[str, Any] = {}
        self.topics: dict[int, str] = {}

    def step(self, label: str, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run one measurement with progress lines; an exception becomes {"error": ...}."""
        log.info("%s ...", label)
        started = time.monotonic()
        try:
            result = action()
        except KeyboardInterrupt:
            raise
        except Exception as error:
            log.error("%s failed after %.0f s: %s", label, time.monotonic() - started, error)
            log.debug("%s", traceback.format_exc())
            return {"error": f"{type(error).__name__}: {error}"}
        log.info("%s done in %.0f s", label, time.monotonic() - started)
        return result

    def topic(self, ticks: int) -> str:
        """The pre-filled topic of `ticks` ticks (filled on first use; each fill is a B2 run)."""
        if ticks not in self.topics:
            name = f"bench-{ticks}-{self.ws.stamp}"
            fill = self.step(
                f"B2 produce {ticks:,} ticks",
                lambda: throughput.fill_topic(self.ws, self.broker, name, ticks),
            )
            self.results.setdefault("fills", []).append(fill)
            if "error" in fill:
                raise RuntimeError(f"could not fill a topic of {ticks:,} ticks: {fill['error']}")
            log.info("  B2: %s ticks/s", f"{fill['ticks_per_s']:,.0f}")
            self.topics[ticks] = name
        return self.topics[ticks]

    def run(self) -> None:
        plan = self.plan
        n = plan.ticks
        needs_topic = plan.wants("B1", "B2", "B3", "P", "S", "M", "F")
        if needs_topic:
            try:
                self.topic(n)
                self.results["B2"] = self.results["fills"][-1]
            except RuntimeError as error:
                self.results["B2"] = {"error": str(error)}
                needs_topic = False
        if needs_topic and plan.wants("B1"):
            self.results["B1"] = {
                "confluent": self.step(
                    "B1 raw consume (confluent-kafka)",
                    lambda: throughput.raw_consume(self.broker, self.topics[n], n),
                ),
                "kafka_tool": self.step(
                    "B1 raw consume (Kafka ConsumerPerformance)",
                    lambda: throughput.kafka_consumer_perf(self.ws, self.broker, self.topics[n], n),
                ),
            }
            self._say("B1", self.results["B1"]["confluent"], "ticks_per_s", "ticks/s")
        if needs_topic and plan.wants("B3"):
            self.results["B3"] = self.step(
                "B3 Spark floor",
                lambda: throughput.spark_floor(self.ws, self.broker, self.topics[n], n),
            )
            self._say("B3", self.results["B3"], "ticks_per_s", "ticks/s")
        if needs_topic and plan.wants("P", "S", "M", "F"):
            self._drains()
        if plan.wants("L", "T", "F"):
            self._latency()
        if plan.wants("T"):
            self._training()
        if plan.wants("M"):
            self._demo()

    def _drains(self) -> None:
        plan = self.plan
        sizes = plan.scaling if plan.wants("S") else (plan.ticks,)
        runs = []
        for ticks in sizes:
            main = ticks == plan.ticks
            try:
                topic = self.topic(ticks)
            except RuntimeError as error:
                runs.append({"ticks": ticks, "error": str(error)})
                continue
            run = self.step(
                f"P drain of {ticks:,} ticks",
                partial(
                    throughput.pipeline_drain,
                    self.ws,
                    self.broker,
                    topic,
                    ticks,
                    name=f"drain-{ticks}",
                    with_files=main,
                ),
            )
            run.setdefault("ticks", ticks)
            if not main and "memory" in run:
                run["memory"] = _peaks(run["memory"])
            self._say("P", run, "ticks_per_s", "ticks/s")
            runs.append(run)
            if main:
                self.results["P"] = run
        if plan.wants("S"):
            self.results["S"] = {"runs": runs, "fit": _fit([r for r in runs if "drain_s" in r])}
        drain = self.results.get("P", {})
        if "error" not in drain and drain:
            self.results.setdefault("M", {})["P"] = drain.pop("memory")
            self.results.setdefault("F", {})["after_P"] = drain.pop("files", None)
        elif drain:
            self.results.setdefault("M", {})["P"] = {"error": drain["error"]}

    def _latency(self) -> None:
        plan = self.plan
        runs = []
        # 1,000 ticks/s is also T's baseline and F's continuous-mode lake.
        always: set[float] = {1_000.0} if plan.wants("T", "F") else set()
        loads = tuple(sorted(set(plan.loads) | always)) if plan.wants("L") else (1_000.0,)
        for rate in loads:
            spec = latency.LoadSpec(
                name=f"latency-{rate:.0f}",
                rate=rate,
                window_s=plan.window_s,
                warmup_s=plan.warmup_s,
                history_ticks=plan.history_ticks,
            )
            run = self.step(
                f"L continuous at {rate:,.0f} ticks/s (--no-train)",
                partial(latency.continuous_run, self.ws, self.broker, spec),
            )
            run.setdefault("rate", rate)
            if "memory" in run:
                run["memory"] = _peaks(run["memory"])
            if "silver" in run:
                log.info(
                    "  L %s/s: produce -> Silver p50 %.2f s, p95 %.2f s; Gold lag p95 %s s",
                    f"{rate:,.0f}",
                    run["silver"].get("p50_s", float("nan")),
                    run["silver"].get("p95_s", float("nan")),
                    run["gold_lag"].get("p95_s", "n/a"),
                )
            runs.append(run)
        self.results["L"] = {"runs": runs}
        baseline = next((r for r in runs if r.get("rate") == 1000 and "files" in r), None)
        if baseline is not None:
            self.results.setdefault("F", {})["after_L"] = baseline["files"]

    def _training(self) -> None:
        plan = self.plan
        why = cycles.training_available()
        t: dict[str, Any] = {}
        if why is not None:
            log.warning("T skipped: %s", why)
            self.results["T"] = {"skipped": why}
            return
        t["cycles"] = self.step(
            f"T training cycles at {', '.join(f'{b:,}' for b in plan.training_bars)} bars",
            lambda: cycles.training_cycles(self.ws, self.broker, list(plan.training_bars)),
        )
        for cycle in t["cycles"].get("cycles", []):
            log.info(
                "  T: %s bars: %.1f s (%s)", f"{cycle['bars']:,}", cycle["seconds"], cycle["status"]
            )
        spec = latency.LoadSpec(
            name="latency-1000-train",
            rate=1_000.0,
            window_s=plan.window_s,
            warmup_s=plan.warmup_s,
            history_ticks=plan.history_ticks,
            train_interval_s=plan.train_interval_s,
        )
        run = self.step(
            f"T continuous at 1,000 ticks/s, training every {plan.train_interval_s:.0f} s",
            lambda: latency.continuous_run(self.ws, self.broker, spec),
        )
        baseline = next(
            (r for r in self.results.get("L", {}).get("runs", []) if r.get("rate") == 1000), None
        )
        if "error" in run:
            t["latency"] = {"error": run["error"]}
        elif baseline is None or "silver" not in baseline:
            t["latency"] = {"error": "the --no-train run at 1,000 ticks/s has no figures"}
        else:
            training = run.get("training", {})
            t["latency"] = {
                "cycles": len(training.get("cycles", [])),
                "during_cycles": training.get("silver_during_cycles", {"count": 0}),
                "outside_cycles": training.get("silver_outside_cycles", {"count": 0}),
                "no_train": {k: v for k, v in baseline["silver"].items() if k != "all_rows"},
                "run": run,
            }
        self.results["T"] = t

    def _demo(self) -> None:
        result = self.step(
            f"M demo memory for {self.plan.demo_s:.0f} s",
            lambda: demo.demo_memory(self.ws, self.broker, self.plan.demo_s),
        )
        m = self.results.setdefault("M", {})
        if "error" in result:
            m["demo"] = result
        else:
            m["demo"] = {**result.pop("memory"), "run": result}
            self._say("M", m["demo"]["peak_mb"], "total", "MB peak total RSS in the demo")

    @staticmethod
    def _say(name: str, result: dict[str, Any], key: str, unit: str) -> None:
        if key in result:
            log.info("  %s: %s %s", name, f"{result[key]:,.0f}", unit)


def _peaks(memory: dict[str, Any]) -> dict[str, Any]:
    """A memory report without its series (kept only for the runs the charts show)."""
    return {k: v for k, v in memory.items() if k != "series"}


def _fit(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """Least squares drain_s = a + b * ticks; per-tick time of the largest vs the smallest run."""
    if len(runs) < 2:
        return None
    x = np.array([r["ticks"] for r in runs], dtype=float)
    y = np.array([r["drain_s"] for r in runs], dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    fitted = intercept + slope * x
    residual = float(((y - fitted) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    per_tick = y / x
    return {
        "s_per_million": float(slope * 1e6),
        "intercept_s": float(intercept),
        "r2": 1 - residual / total if total else 1.0,
        "points": len(runs),
        "per_tick_ratio": float(per_tick[np.argmax(x)] / per_tick[np.argmin(x)]),
    }


class _Elapsed(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.started = time.monotonic()

    def format(self, record: logging.LogRecord) -> str:
        return f"[{time.monotonic() - self.started:7.1f}s] {record.getMessage()}"


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def render(path: Path) -> int:
    """The table and the HTML page of an earlier run's JSON."""
    results = json.loads(path.read_text())
    rows = report.summary_rows(results, tuple(results["meta"]["plan"]["only"]))
    report.write_html(results, rows, RESULTS_DIR / "latest.html")
    for note in machine.caveats(results["meta"]):
        print(f"Note: {note}")
    print(report.markdown(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="FinanceLake benchmarks on an embedded broker. Benchmarks: "
        + "; ".join(f"{k}: {v}" for k, v in DESCRIPTIONS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, short windows")
    parser.add_argument("--full", action="store_true", help="add the 5x-size scaling point")
    parser.add_argument("--only", help="comma-separated ids, e.g. B1,B3,P")
    parser.add_argument("--ticks", type=int, help="size of the pre-filled topic (default 1M)")
    parser.add_argument(
        "--loads",
        type=lambda text: tuple(float(x) for x in text.split(",")),
        help="ticks/s of the latency runs (default 1000,10000; 1000 is the T baseline)",
    )
    parser.add_argument("--window", type=float, help="seconds of paced producing per load")
    parser.add_argument("--keep", action="store_true", help="keep lakes and broker data")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="print the table and rewrite latest.html "
        "from a results file, without running anything",
    )
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Elapsed())
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    log.setLevel(logging.INFO)

    # SIGTERM (and SIGINT, even when a non-interactive shell ignored it) end the run like Ctrl+C:
    # what was started is stopped, what was measured is written.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)
    plan = Plan.from_args(args)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    workspace = Workspace.create(stamp, keep=plan.keep)
    meta: dict[str, Any] = {
        "stamp": stamp,
        "mode": plan.mode,
        "plan": asdict(plan),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": machine.machine(),
        "load_average_start": machine.load_average(),
        "workspace": str(workspace.root),
    }
    log.info(
        "bench %s (%s): %s; %d cores, load average %s",
        stamp,
        plan.mode,
        ",".join(plan.only),
        meta["machine"]["cores_logical"],
        meta["load_average_start"],
    )
    started = time.monotonic()
    bench: Bench | None = None
    broker: Broker | None = None
    interrupted = False
    try:
        log.info("starting the embedded broker ...")
        broker = Broker.start(workspace)
        log.info("broker up at %s", broker.address)
        bench = Bench(plan, workspace, broker)
        bench.run()
    except KeyboardInterrupt:
        interrupted = True
        log.warning("interrupted: stopping what the bench started")
    finally:
        workspace.stop_all()
        if broker is not None:
            broker.close()
        workspace.cleanup()
    results: dict[str, Any] = bench.results if bench else {}
    meta |= {
        "duration_s": time.monotonic() - started,
        "load_average_end": machine.load_average(),
        "interrupted": interrupted,
    }
    ordered = {"meta": meta, **{k: results[k] for k in (*BENCHMARKS, "fills") if k in results}}
    rows = report.summary_rows(ordered, plan.only)
    ordered["summary"] = [asdict(r) for r in rows]
    path = report.write_json(ordered, RESULTS_DIR, stamp)
    report.write_html(ordered, rows, RESULTS_DIR / "latest.html")
    table = report.markdown(rows)
    print(f"\nFinanceLake bench, {plan.mode} mode, {meta['duration_s']:.0f} s", flush=True)
    print(
        f"{meta['machine']['cores_logical']} cores, {meta['machine']['memory_gb']} GB; "
        f"load average {meta['load_average_start']} at start, {meta['load_average_end']} at end"
    )
    for note in machine.caveats(meta):
        print(f"Note: {note}")
    print()
    print(table)
    print(f"\nresults: {path} (and latest.json, latest.html)")
    return 130 if interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
