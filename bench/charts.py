"""Plotly figures of one results dictionary (throughput, scaling, latency, memory, training).

Each figure is built only from what was measured; a benchmark that did not run has no figure.
"""

from __future__ import annotations

from typing import Any, TypeGuard

import plotly.graph_objects as go

from bench.targets import TARGET_P, TARGET_RSS_MB, TARGET_SILVER_P95_S


def _ok(part: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(part, dict) and "error" not in part and "skipped" not in part


def figures(results: dict[str, Any]) -> list[go.Figure]:
    out = []
    for build in (_throughput, _scaling, _latency, _latency_series, _memory, _training):
        figure = build(results)
        if figure is not None:
            figure.update_layout(height=420, margin={"t": 60})
            out.append(figure)
    return out


def _throughput(results: dict[str, Any]) -> go.Figure | None:
    bars: list[tuple[str, float]] = []
    b1 = results.get("B1")
    if _ok(b1):
        for key, label in (("confluent", "B1 confluent-kafka"), ("kafka_tool", "B1 Kafka tool")):
            if "ticks_per_s" in b1.get(key, {}):
                bars.append((label, b1[key]["ticks_per_s"]))
    for key, label, field in (
        ("B2", "B2 produce", "ticks_per_s"),
        ("B3", "B3 Spark floor", "ticks_per_s"),
        ("P", "P drain", "ticks_per_s"),
        ("P", "P whole command", "command_ticks_per_s"),
    ):
        part = results.get(key)
        if _ok(part):
            bars.append((label, part[field]))
    if not bars:
        return None
    figure = go.Figure(go.Bar(x=[b[0] for b in bars], y=[b[1] for b in bars]))
    figure.add_hline(y=TARGET_P, line_dash="dash", annotation_text="P target 100,000/s")
    figure.update_layout(title="Throughput (ticks/s)", yaxis_title="ticks/s")
    return figure


def _scaling(results: dict[str, Any]) -> go.Figure | None:
    s = results.get("S")
    if not _ok(s):
        return None
    runs = [r for r in s["runs"] if "drain_s" in r]
    if not runs:
        return None
    figure = go.Figure()
    figure.add_scatter(
        x=[r["ticks"] for r in runs],
        y=[r["drain_s"] for r in runs],
        mode="markers+lines",
        name="drain (s)",
        text=[f"{r['ticks_per_s']:,.0f} ticks/s" for r in runs],
    )
    figure.add_scatter(
        x=[r["ticks"] for r in runs],
        y=[r["command_s"] for r in runs],
        mode="markers+lines",
        name="whole command (s)",
    )
    fit = s.get("fit")
    if fit:
        xs = [0, max(r["ticks"] for r in runs)]
        figure.add_scatter(
            x=xs,
            y=[fit["intercept_s"] + fit["s_per_million"] * x / 1e6 for x in xs],
            mode="lines",
            line_dash="dot",
            name="linear fit of drain",
        )
    figure.update_layout(title="Scaling: P drain time by topic size", xaxis_title="ticks")
    figure.update_yaxes(title="seconds")
    return figure


def _latency(results: dict[str, Any]) -> go.Figure | None:
    lat = results.get("L")
    if not _ok(lat):
        return None
    runs = [r for r in lat.get("runs", []) if "silver" in r]
    if not runs:
        return None
    labels: list[str] = []
    values: dict[str, list[float]] = {"p50": [], "p95": [], "p99": []}
    for run in runs:
        for layer in ("bronze", "silver"):
            if not run[layer].get("count"):
                continue
            labels.append(f"{run['rate']:,.0f}/s {layer}")
            for q in values:
                values[q].append(run[layer][f"{q}_s"])
        gold = run["gold_lag"]
        if gold.get("count"):
            labels.append(f"{run['rate']:,.0f}/s gold lag")
            for q in values:
                values[q].append(gold[f"{q}_s"])
    figure = go.Figure([go.Bar(name=q, x=labels, y=v) for q, v in values.items()])
    figure.add_hline(
        y=TARGET_SILVER_P95_S, line_dash="dash", annotation_text="Silver p95 target at 1,000/s"
    )
    figure.update_layout(
        title="Latency: produce → visible in the table, and Gold bar finalisation lag",
        yaxis_title="seconds",
        barmode="group",
    )
    return figure


def _latency_series(results: dict[str, Any]) -> go.Figure | None:
    lat = results.get("L")
    if not _ok(lat):
        return None
    runs = [r for r in lat.get("runs", []) if r.get("series")]
    t = results.get("T", {}).get("latency", {}).get("run")
    if _ok(t) and t.get("series"):
        runs = [*runs, {**t, "label": "training"}]
    if not runs:
        return None
    figure = go.Figure()
    for run in runs:
        label = f"{run['rate']:,.0f}/s" + (" with training" if run.get("label") else "")
        series = run["series"]
        figure.add_scatter(
            x=[p["t"] for p in series], y=[p["p95"] for p in series], name=f"{label} p95"
        )
        figure.add_scatter(
            x=[p["t"] for p in series],
            y=[p["p50"] for p in series],
            name=f"{label} p50",
            line_dash="dot",
        )
    figure.update_layout(
        title="produce → Silver latency by second of the window (a rising line is a backlog)",
        xaxis_title="seconds since the first live tick",
        yaxis_title="seconds",
    )
    return figure


def _memory(results: dict[str, Any]) -> go.Figure | None:
    m = results.get("M")
    if not _ok(m):
        return None
    figure = go.Figure()
    for key, label in (("P", "P"), ("demo", "demo")):
        part = m.get(key)
        if not _ok(part) or not part.get("series"):
            continue
        series = part["series"]
        for role in ("broker", "spark_jvm", "python"):
            figure.add_scatter(
                x=[p["t"] for p in series],
                y=[p[role] for p in series],
                name=f"{label}: {role}",
                stackgroup=label,
            )
    if not figure.data:
        return None
    figure.add_hline(y=TARGET_RSS_MB, line_dash="dash", annotation_text="target 4 GB")
    figure.update_layout(
        title="Resident memory (MB), stacked by role", xaxis_title="seconds", yaxis_title="MB"
    )
    return figure


def _training(results: dict[str, Any]) -> go.Figure | None:
    t = results.get("T")
    if not _ok(t) or not _ok(t.get("cycles")):
        return None
    cycles = t["cycles"]["cycles"]
    if not cycles:
        return None
    steps: list[str] = []  # the cycle's own step names, in its order
    for cycle in cycles:
        steps.extend(step for step in cycle["timings"] if step not in steps)
    figure = go.Figure(
        [
            go.Bar(
                name=step,
                x=[f"{c['bars']:,} bars" for c in cycles],
                y=[c["timings"].get(step, 0.0) for c in cycles],
            )
            for step in steps
        ]
    )
    figure.update_layout(
        title="One training cycle by Gold size (seconds per step)",
        barmode="stack",
        yaxis_title="seconds",
    )
    return figure
