"""The results: the summary table (each figure beside its target and the distance), the JSON
files and the HTML page with the charts."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.charts import figures
from bench.machine import caveats
from bench.targets import (
    GB,
    TARGET_CYCLE_BARS,
    TARGET_CYCLE_S,
    TARGET_P,
    TARGET_P_B3,
    TARGET_RSS_MB,
    TARGET_SILVER_P95_S,
)
from financelake.service import SHUTDOWN_BUDGET_S


# Summary rows --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the table: a figure, its value, and (when the issue sets one) its target."""

    bench: str
    figure: str
    measured: str
    target: str = ""
    distance: str = ""


def _ticks(value: float) -> str:
    return f"{value:,.0f} ticks/s"


def _s(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _mb(value: float) -> str:
    return f"{value / GB:.2f} GB" if value >= GB else f"{value:,.0f} MB"


def _distance(value: float, op: str, target: float, fmt: Any) -> str:
    ratio = value / target if target else float("nan")
    if op == ">=":
        if value >= target:
            return f"met ({ratio:.2f}x target)"
        return f"{fmt(target - value)} short ({ratio:.2f}x target)"
    if value <= target:
        return f"met ({ratio:.2f}x target)"
    return f"{fmt(value - target)} over ({ratio:.2f}x target)"


def _targeted(bench: str, figure: str, value: float, op: str, target: float, fmt: Any) -> Row:
    symbol = "≥" if op == ">=" else "≤"
    return Row(
        bench, figure, fmt(value), f"{symbol} {fmt(target)}", _distance(value, op, target, fmt)
    )


def _problem(result: dict[str, Any] | None) -> str | None:
    if result is None:
        return "not run"
    if "error" in result:
        return f"failed: {result['error'].splitlines()[0][:140]}"
    if "skipped" in result:
        return f"skipped: {result['skipped']}"
    return None


def summary_rows(results: dict[str, Any], selected: tuple[str, ...]) -> list[Row]:
    """The table's rows, in the order of the issue, for the benchmarks that were selected."""
    return [row for row in _all_rows(results) if row.bench in selected]


def _all_rows(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    b1, b2, b3, p = (results.get(k) for k in ("B1", "B2", "B3", "P"))

    if (why := _problem(b1)) is not None:
        rows.append(Row("B1", "raw consume", why))
    else:
        assert b1 is not None
        for key, label in (
            ("confluent", "confluent-kafka"),
            ("kafka_tool", "Kafka ConsumerPerformance"),
        ):
            part = b1.get(key, {})
            if "ticks_per_s" in part:
                rows.append(
                    Row(
                        "B1",
                        f"raw consume, {label} ({part['ticks']:,} ticks)",
                        _ticks(part["ticks_per_s"]),
                    )
                )
            elif part:
                rows.append(Row("B1", f"raw consume, {label}", _problem(part) or "?"))

    if (why := _problem(b2)) is not None:
        rows.append(Row("B2", "produce --rate 0", why))
    else:
        assert b2 is not None
        rows.append(
            Row(
                "B2",
                f"`financelake produce --rate 0` "
                f"({b2['ticks']:,} ticks, {b2['partitions']} partitions)",
                _ticks(b2["ticks_per_s"]),
            )
        )

    if (why := _problem(b3)) is not None:
        rows.append(Row("B3", "Spark floor", why))
    else:
        assert b3 is not None
        rows.append(
            Row(
                "B3",
                "Spark floor: Kafka → from_json → noop, availableNow",
                _ticks(b3["ticks_per_s"]),
            )
        )

    if (why := _problem(p)) is not None:
        rows.append(Row("P", "drain through every layer", why))
    else:
        assert p is not None
        rows.append(
            _targeted(
                "P",
                f"`run --available-now` drain ({p['ticks']:,} ticks, {_s(p['drain_s'])})",
                p["ticks_per_s"],
                ">=",
                TARGET_P,
                _ticks,
            )
        )
        rows.append(
            Row(
                "P",
                f"whole command incl. interpreter + JVM start ({_s(p['command_s'])})",
                _ticks(p["command_ticks_per_s"]),
            )
        )
        if _problem(b3) is None and b3 is not None:
            ratio = p["ticks_per_s"] / b3["ticks_per_s"]
            rows.append(_targeted("P", "P / B3", ratio, ">=", TARGET_P_B3, lambda v: f"{v:.2f}"))
        if _problem(b1) is None and b1 is not None and "ticks_per_s" in b1.get("confluent", {}):
            ratio = p["ticks_per_s"] / b1["confluent"]["ticks_per_s"]
            rows.append(Row("P", "P / B1 (confluent-kafka)", f"{ratio:.3f}"))

    rows.extend(_scaling_rows(results.get("S")))
    rows.extend(_latency_rows(results.get("L")))
    rows.extend(_training_rows(results.get("T")))
    rows.extend(_memory_rows(results.get("M")))
    rows.extend(_file_rows(results.get("F")))
    return rows


def _scaling_rows(s: dict[str, Any] | None) -> list[Row]:
    if (why := _problem(s)) is not None:
        return [Row("S", "scaling", why)]
    assert s is not None
    rows = []
    for run in s["runs"]:
        if "error" in run:
            rows.append(Row("S", f"drain at {run['ticks']:,} ticks", _problem(run) or ""))
            continue
        rows.append(
            Row(
                "S",
                f"drain at {run['ticks']:,} ticks ({_s(run['drain_s'])})",
                _ticks(run["ticks_per_s"]),
            )
        )
    fit = s.get("fit")
    if fit:
        rows.append(
            Row(
                "S",
                "linear fit of drain time: seconds per million ticks + fixed seconds",
                f"{fit['s_per_million']:.1f} s/M + {fit['intercept_s']:.1f} s",
                "",
                f"largest/smallest per-tick time {fit['per_tick_ratio']:.2f}x",
            )
        )
    return rows


def _latency_rows(lat: dict[str, Any] | None) -> list[Row]:
    if (why := _problem(lat)) is not None:
        return [Row("L", "latency", why)]
    assert lat is not None
    rows = []
    for run in lat.get("runs", []):
        rate = f"{run['rate']:,.0f}/s"
        if "error" in run:
            rows.append(Row("L", f"{rate}", _problem(run) or ""))
            continue
        for layer, label in (("bronze", "produce → Bronze"), ("silver", "produce → Silver")):
            q = run[layer]
            if not q.get("count"):
                rows.append(Row("L", f"{rate} {label}", "no rows"))
                continue
            rows.append(
                Row(
                    "L",
                    f"{rate} {label} p50 / p95 / p99 ({q['count']:,} ticks)",
                    f"{q['p50_s']:.2f} / {q['p95_s']:.2f} / {q['p99_s']:.2f} s",
                )
            )
        silver = run["silver"]
        if run["rate"] == 1000 and silver.get("count"):
            rows.append(
                _targeted(
                    "L",
                    f"{rate} produce → Silver p95",
                    silver["p95_s"],
                    "<=",
                    TARGET_SILVER_P95_S,
                    _s,
                )
            )
        gold = run["gold_lag"]
        if gold.get("count"):
            own = gold["last_tick_to_final"]
            rows.append(
                Row(
                    "L",
                    f"{rate} Gold bar finalisation lag p50 / p95 ({gold['count']} bars)",
                    f"{gold['p50_s']:.2f} / {gold['p95_s']:.2f} s",
                    "",
                    f"bar's last tick → final: p95 {own.get('p95_s', float('nan')):.2f} s",
                )
            )
        else:
            rows.append(
                Row("L", f"{rate} Gold bar finalisation lag", "no bar closed in the window")
            )
        producer = run["producer"]
        rows.append(
            Row("L", f"{rate} producer achieved", _ticks(producer["report"]["ticks_per_s"]))
        )
        rows.append(
            Row(
                "L",
                f"{rate} service stop after SIGTERM (its budget: {SHUTDOWN_BUDGET_S:.0f} s)",
                _s(run["shutdown_s"]),
                "",
                run.get("shutdown_kind") or f"exit code {run.get('service_exit_code')}",
            )
        )
    return rows


def _training_rows(t: dict[str, Any] | None) -> list[Row]:
    if (why := _problem(t)) is not None:
        return [Row("T", "training", why)]
    assert t is not None
    rows = []
    cycles = t.get("cycles", {})
    if (why := _problem(cycles)) is not None:
        rows.append(Row("T", "training cycle", why))
    else:
        for cycle in cycles["cycles"]:
            figure = f"one cycle at {cycle['bars']:,} Gold bars ({cycle['status']})"
            if cycle["bars"] == TARGET_CYCLE_BARS:
                rows.append(_targeted("T", figure, cycle["seconds"], "<=", TARGET_CYCLE_S, _s))
            else:
                rows.append(Row("T", figure, _s(cycle["seconds"])))
    during = t.get("latency", {})
    if (why := _problem(during)) is not None:
        rows.append(Row("T", "ingest p95 during cycles", why))
    else:
        inside = during["during_cycles"]
        base = during["no_train"]
        if inside.get("count") and base.get("count"):
            rows.append(
                Row(
                    "T",
                    f"produce → Silver p95 during cycles ({during['cycles']} cycles, "
                    f"{inside['count']:,} ticks) vs --no-train",
                    f"{inside['p95_s']:.2f} s vs {base['p95_s']:.2f} s",
                    "",
                    f"{inside['p95_s'] / base['p95_s']:.2f}x",
                )
            )
        else:
            rows.append(
                Row("T", "produce → Silver p95 during cycles", "no tick produced during a cycle")
            )
    return rows


def _memory_rows(m: dict[str, Any] | None) -> list[Row]:
    if (why := _problem(m)) is not None:
        return [Row("M", "memory", why)]
    assert m is not None
    rows = []
    for key, label in (("P", "during P"), ("demo", "during the demo")):
        part = m.get(key)
        if part is None:
            continue
        if (why := _problem(part)) is not None:
            rows.append(Row("M", f"peak RSS {label}", why))
            continue
        at = part["at_total_peak_mb"]
        peak = part["peak_mb"]
        rows.append(
            _targeted("M", f"peak total RSS {label}", peak["total"], "<=", TARGET_RSS_MB, _mb)
        )
        rows.append(
            Row(
                "M",
                f"  at that peak: broker / Spark JVM / Python {label}",
                f"{_mb(at['broker'])} / {_mb(at['spark_jvm'])} / {_mb(at['python'])}",
                "",
                "own peaks "
                f"{_mb(peak['broker'])} / {_mb(peak['spark_jvm'])} / {_mb(peak['python'])}",
            )
        )
    return rows


def _file_rows(f: dict[str, Any] | None) -> list[Row]:
    if (why := _problem(f)) is not None:
        return [Row("F", "files", why)]
    assert f is not None
    rows = []
    for key, label in (("after_P", "after P"), ("after_L", "after L 1,000/s")):
        tables = f.get(key)
        if not tables:
            continue
        for table, stats in tables.items():
            rows.append(
                Row(
                    "F",
                    f"{label}: {table}",
                    f"{stats['live_files']} live files, mean {stats['mean_file_mb'] or 0:.2f} MB",
                    "",
                    f"{stats['data_commits']} data commits x "
                    f"{stats['files_per_data_commit_mean'] or 0} "
                    f"files (max {stats['files_per_data_commit_max'] or 0}); "
                    f"{stats['commits']} commits in all",
                )
            )
    return rows


def markdown(rows: list[Row]) -> str:
    """The table, in GitHub markdown (pastes into the README)."""
    lines = ["| | Figure | Measured | Target | Distance |", "|---|---|---|---|---|"]
    for row in rows:
        cells = (row.bench, row.figure, row.measured, row.target, row.distance)
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


# Files -----------------------------------------------------------------------------------------
def write_json(results: dict[str, Any], folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=str)
    path = folder / f"{stamp}.json"
    path.write_text(text)
    (folder / "latest.json").write_text(text)
    return path


def write_html(results: dict[str, Any], rows: list[Row], path: Path) -> None:
    """One self-contained page (plotly.js inlined): the table and the charts."""
    parts = []
    for i, figure in enumerate(figures(results)):
        parts.append(figure.to_html(full_html=False, include_plotlyjs=(i == 0)))
    meta = results["meta"]
    table = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (r.bench, r.figure, r.measured, r.target, r.distance)
        )
        + "</tr>"
        for r in rows
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>FinanceLake bench {html.escape(meta["stamp"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;font-size:13px}}</style></head><body>
<h1>FinanceLake bench</h1>
<p>{html.escape(meta["mode"])} run of {html.escape(meta["stamp"])}, {meta["duration_s"]:.0f} s;
{meta["machine"]["cores_logical"]} cores, {meta["machine"]["memory_gb"]} GB;
load average at start {meta["load_average_start"]}, at end {meta.get("load_average_end")}.</p>
{"".join(f"<p><b>Note:</b> {html.escape(n)}</p>" for n in caveats(meta))}
<table><tr><th></th><th>Figure</th><th>Measured</th><th>Target</th><th>Distance</th></tr>
{table}</table>
{"".join(parts)}
</body></html>
"""
    path.write_text(page)
