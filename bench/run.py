"""`python -m bench.run`: the selected benchmarks on the bench's own broker. Writes every figure
under its stable key (see the README) to bench/results/<stamp>.json and latest.json, the chart
to latest.png, and prints the markdown table. A slow figure is a finding, not a failure."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from bench import latency, report, throughput
from bench.harness import RESULTS_DIR, Sizes, Workspace, new_stamp, setup_process
from bench.memory import demo_memory

log = logging.getLogger("bench")

BENCHMARKS = {
    "B1": "raw consume of the pre-filled topic (confluent-kafka; Kafka's ConsumerPerformance)",
    "B2": "`financelake produce --rate 0` (fills the topic the readers use)",
    "B3": "Spark floor: Kafka source -> from_json -> noop sink, availableNow",
    "P": "`financelake run --available-now` through every layer",
    "S": "P at two topic sizes: fixed and marginal cost",
    "L": "continuous mode latency at fixed loads, Gold closed-bar lag",
    "T": "training cycle time; ingest latency during cycles",
    "M": "peak RSS during P and during the demo",
    "F": "commits, files per commit and live files per table",
}


DEFAULT = Sizes(1_000_000, (100_000,), 45.0, 5.0, 40_000, 10.0, (10_000, 100_000), 60.0)
QUICK = Sizes(50_000, (10_000,), 15.0, 3.0, 10_000, 5.0, (2_000, 10_000), 25.0)
WARM_UP_BARS = 1_000  # T's first cycle, not reported


class Bench:
    """Runs the selected benchmarks: figures under their keys, a failure's error under its
    benchmark, so one failure never hides the others' figures."""

    def __init__(self, ws: Workspace, sizes: Sizes, only: set[str], loads: list[float]) -> None:
        self.ws, self.sizes, self.only, self.loads = ws, sizes, only, loads
        self.figures: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.series: dict[str, list[dict[str, float]]] = {}
        self.topics: dict[int, str] = {}

    def wants(self, *ids: str) -> bool:
        return bool(self.only.intersection(ids))

    def measure(
        self, bench: str, label: str, action: Callable[..., dict[str, Any]], *args: Any, **kw: Any
    ) -> Any:
        """`action(*args, **kw)` with progress lines: its figures, or None after an error."""
        log.info("%s ...", label)
        started = time.monotonic()
        try:
            result = action(*args, **kw)
        except Exception as error:
            log.error("%s failed: %s", label, error)
            self.errors.setdefault(bench, f"{label}: {type(error).__name__}: {error}")
            return None
        log.info("%s done in %.0f s", label, time.monotonic() - started)
        return result

    def keep(self, prefix: str, figures: dict[str, Any] | None) -> None:
        """File `figures` under `prefix.`: memory peaks under m., files under f., series aside."""
        figures = dict(figures or {})
        if series := figures.pop("series", None):
            self.series[prefix] = series
        memory = figures.pop("memory", None) or {}
        if memory.get("series"):
            self.series[f"m.{prefix}"] = memory.pop("series")
            self.figures |= {f"m.{prefix}.{k}": v for k, v in memory.items()}
        self.figures |= {
            f"f.{prefix}.{k}": v for k, v in (figures.pop("files", None) or {}).items()
        }
        self.figures |= {f"{prefix}.{k}": v for k, v in figures.items()}

    def topic(self, ticks: int) -> str | None:
        """The pre-filled topic of `ticks` ticks (filled on first use; each fill is a B2 run)."""
        if ticks not in self.topics:
            name = f"bench-{ticks}-{self.ws.stamp}"
            fill = self.measure(
                "B2", f"B2 fill {ticks:,}", throughput.fill_topic, self.ws, name, ticks
            )
            if fill is None:
                return None
            if ticks == self.sizes.ticks:
                self.keep("b2", fill)
            self.topics[ticks] = name
        return self.topics[ticks]

    def run(self) -> None:
        n, ws = self.sizes.ticks, self.ws
        topic = self.topic(n) if self.wants("B1", "B2", "B3", "P", "S", "M", "F") else None
        if topic and self.wants("B1"):
            for label, action in (
                ("confluent-kafka", throughput.raw_consume),
                ("ConsumerPerformance", throughput.kafka_consumer_perf),
            ):
                self.keep("b1", self.measure("B1", f"B1 {label}", action, ws, topic, n))
        if topic and self.wants("B3"):
            floor = self.measure("B3", "B3 Spark floor", throughput.spark_floor, ws, topic, n)
            self.keep("b3", floor)
        if topic and self.wants("P", "S", "M", "F"):
            self.drains()
        if self.wants("L", "T", "F"):
            self.latency()
        if self.wants("T"):
            self.training()
        if self.wants("M"):
            self.keep("demo", self.measure("M", "M demo", demo_memory, ws, self.sizes.demo_s))

    def drains(self) -> None:
        sizes = {self.sizes.ticks, *(self.sizes.scaling if self.wants("S") else ())}
        points = []
        for ticks in sorted(sizes):
            main = ticks == self.sizes.ticks
            topic = self.topic(ticks)
            run = topic and self.measure(
                "P" if main else "S",
                f"P drain of {ticks:,} ticks",
                throughput.pipeline_drain,
                self.ws,
                topic,
                ticks,
                with_files=main,
            )
            if not run:
                continue
            points.append((ticks, run["drain_s"]))
            if main:
                self.keep("p", run)
            if self.wants("S"):
                self.figures |= {
                    f"s.{ticks}.{k}": run[k] for k in ("drain_s", "steady_s", "steady_ticks_per_s")
                }
        if self.wants("S"):
            self.keep("s", throughput.scaling_fit(points))

    def latency(self) -> None:
        rates = sorted(
            set(self.loads if self.wants("L") else [])
            | ({1000.0} if self.wants("T", "F") else set())
        )
        for rate in rates:
            label, run = f"L at {rate:,.0f}/s", latency.continuous_run
            self.keep(f"l.{rate:.0f}", self.measure("L", label, run, self.ws, rate, self.sizes))

    def cycles(self) -> dict[str, Any]:
        """One cycle per size of `training_bars`, in one warm session after a warm-up cycle."""
        sizes = (WARM_UP_BARS, *self.sizes.training_bars)
        config = self.ws.settings("unused", self.ws.path("training"))
        done, _ = self.ws.run_worker("training", config, "train", ",".join(map(str, sizes)))
        return {
            f"cycle_{size}_{key}": cycle[key]
            for size, cycle in zip(sizes[1:], done["cycles"][1:], strict=True)
            for key in ("s", "status")
        }

    def training(self) -> None:
        self.keep("t", self.measure("T", "T training cycles", self.cycles))
        run = self.measure(
            "T", "T latency while training", latency.continuous_run, self.ws, 1000.0, self.sizes,
            train=True,
        )  # fmt: skip
        if run:
            keys = ("training_cycles", "silver_during_cycles_p95_s", "silver_outside_cycles_p95_s")
            self.figures |= {f"t.{k}": run.get(k) for k in keys}
            self.figures["t.silver_p95_no_train_s"] = self.figures.get("l.1000.silver_p95_s")
            self.series["l.1000.train"] = run.get("series", [])

    def ratios(self) -> None:
        """P against the ceilings, at steady state (the ratio issue 15 steers by) and whole."""
        f = self.figures
        for name, p_key, floor_key in (
            ("p_over_b3_steady", "p.steady_ticks_per_s", "b3.steady_ticks_per_s"),
            ("p_over_b3_drain", "p.drain_ticks_per_s", "b3.drain_ticks_per_s"),
            ("p_over_b1_steady", "p.steady_ticks_per_s", "b1.confluent_ticks_per_s"),
        ):
            if f.get(p_key) and f.get(floor_key):
                f[name] = f[p_key] / f[floor_key]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="FinanceLake benchmarks on an embedded broker: "
        + "; ".join(f"{k}: {v}" for k, v in BENCHMARKS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, short windows")
    parser.add_argument("--full", action="store_true", help="S at 5x --ticks as well")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="ids, e.g. B1,B3,P")
    parser.add_argument("--ticks", type=int, help="size of the pre-filled topic (default 1M)")
    parser.add_argument("--loads", default="1000,10000", help="ticks/s of the latency runs")
    parser.add_argument("--window", type=float, help="seconds of paced producing per load")
    parser.add_argument("--keep", action="store_true", help="keep lakes and broker data")
    parser.add_argument("--render", type=Path, metavar="JSON", help="print a results file's table")
    args = parser.parse_args(argv)
    if args.render:
        print(report.markdown(json.loads(args.render.read_text())))
        return 0
    only = {i.strip().upper() for i in args.only.split(",") if i.strip()}
    if unknown := only - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {', '.join(BENCHMARKS)}")
    sizes = QUICK if args.quick else DEFAULT
    if args.ticks:
        sizes = replace(sizes, ticks=args.ticks, scaling=(max(args.ticks // 10, 5_000),))
    if args.full:
        sizes = replace(sizes, scaling=(*sizes.scaling, sizes.ticks * 5))
    if args.window:
        sizes = replace(sizes, window_s=args.window)
    setup_process()
    stamp = new_stamp()
    mode = "quick" if args.quick else "full" if args.full else "default"
    meta: dict[str, Any] = {
        "stamp": stamp,
        "mode": mode,
        "only": sorted(only),
        "sizes": asdict(sizes),
        "argv": sys.argv[1:] if argv is None else argv,
        "machine": report.machine(),
    }
    ws = Workspace(stamp, keep=args.keep)
    bench = Bench(ws, sizes, only, [float(x) for x in args.loads.split(",")])
    started = time.monotonic()
    try:
        ws.start_broker()
        bench.run()
    except KeyboardInterrupt:
        meta["interrupted"] = True
        log.warning("interrupted: stopping what the bench started")
    finally:
        ws.close()
    bench.ratios()  # also of an interrupted run's figures
    meta["duration_s"] = round(time.monotonic() - started)
    meta["load_average_end"] = report.machine()["load_average"]
    results = dict(meta=meta, figures=bench.figures, errors=bench.errors, series=bench.series)
    path = report.save_json(results, RESULTS_DIR / f"{stamp}.json", RESULTS_DIR / "latest.json")
    report.write_chart(results, RESULTS_DIR / "latest.png")
    print(f"\nFinanceLake bench, {mode} mode, {meta['duration_s']} s\n")
    print(report.markdown(results))
    print(f"\nresults: {path} (and latest.json; chart latest.png)")
    return 130 if meta.get("interrupted") else 0


if __name__ == "__main__":
    raise SystemExit(main())
