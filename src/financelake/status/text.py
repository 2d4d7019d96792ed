"""The status report as plain text, rendered from its JSON form (so text and JSON agree)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from financelake.lake.values import number, parse_time
from financelake.status.report import StatusReport, as_json


def _ago(seconds: Any) -> str:
    value = number(seconds)
    if value is None:
        return ""
    if value < 120:
        return f" ({value:.0f} s ago)"
    if value < 7200:
        return f" ({value / 60:.0f} min ago)"
    if value < 172800:
        return f" ({value / 3600:.0f} h ago)"
    return f" ({value / 86400:.0f} days ago)"


def _when(text: Any) -> str:
    moment = parse_time(text)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def _pct(value: Any) -> str:
    figure = number(value)
    return "-" if figure is None else f"{figure:+.2%}"


def _money(value: Any) -> str:
    figure = number(value)
    return "-" if figure is None else f"{figure:,.2f}"


def _share(value: Any) -> str:
    figure = number(value)
    return "-" if figure is None else f"{figure:.0%}"


def _interval(section: Mapping[str, Any], prefix: str, spec: str, point: str = "") -> str:
    """'[low, high]' of `<prefix>_ci_low/high`; '[no interval]' when a bound is missing."""
    low, high = number(section.get(f"{prefix}_ci_low")), number(section.get(f"{prefix}_ci_high"))
    if low is None or high is None:
        return "" if number(section.get(point or prefix)) is None else "[no interval]"
    return f"[{low:{spec}}, {high:{spec}}]"


def _p_value(value: Any) -> str:
    figure = number(value)
    if figure is None:
        return ""
    return ", p < 0.001" if figure < 0.001 else f", p = {figure:.3f}"


def _market_section(lines: list[str], market: Mapping[str, Any]) -> None:
    """Each symbol's event-time clock and its bar still open (from gold_live)."""
    lines += ["", "Market (event-time clock and open bar per symbol)"]
    if market.get("error"):
        lines.append(f"  unreadable: {market['error']}")
        return
    clocks = market.get("clocks") or {}
    live: dict[str, list[Mapping[str, Any]]] = {}
    for bar in market.get("live_bars") or []:
        live.setdefault(str(bar.get("symbol")), []).append(bar)
    if not clocks and not live:
        lines.append("  no ticks in Silver yet")
        return
    for symbol in sorted(set(clocks) | set(live)):
        parts = [f"clock {_when(clocks.get(symbol))}"]
        for bar in live.get(symbol, []):
            start = parse_time(bar.get("window_start"))
            since = f" from {start:%H:%M:%S}" if start else ""
            parts.append(
                f"open bar{since}: O {_money(bar.get('open'))} H {_money(bar.get('high'))} "
                f"L {_money(bar.get('low'))} C {_money(bar.get('close'))}, "
                f"{bar.get('tick_count') or 0:,} ticks"
            )
        lines.append(f"  {symbol:<8}" + "; ".join(parts))


def _service_section(lines: list[str], service: Mapping[str, Any] | None) -> None:
    lines += ["", "Service"]
    if not service:
        lines.append("  no service has run on this lake")
        return
    state = str(service.get("state"))
    what = f"waiting for Kafka: {service.get('detail')}" if state == "waiting" else state
    if state != "waiting" and service.get("detail"):
        what += f" ({service['detail']})"
    lines.append(f"  {what} since {_when(service.get('since'))}{_ago(service.get('since_age_s'))}")
    if state == "running":
        for label, key in (("Spark UI", "spark_ui_url"), ("metrics ", "metrics_url")):
            lines.append(f"  {label}  {service.get(key) or 'off'}")


def _maintenance_section(lines: list[str], maintenance: Mapping[str, Any]) -> None:
    lines += ["", "Maintenance"]
    if maintenance.get("error"):
        lines.append(f"  unreadable: {maintenance['error']}")
        return
    if not maintenance.get("runs"):
        lines.append("  no maintenance run yet")
        return
    counts = [
        f"{number(maintenance.get(key)) or 0:,.0f} {label}"
        for key, label in (
            ("files_vacuumed", "files vacuumed"),
            ("rows_deleted", "rows expired"),
            ("folders_removed", "model folders removed"),
        )
    ]
    lines.append(
        f"  last run {maintenance.get('run_id')} at {_when(maintenance.get('finished_at'))}: "
        f"{maintenance.get('status')}, {maintenance.get('tables')} tables, "
        + ", ".join(counts)
        + f" (vacuum retention {maintenance.get('vacuum_retention')})"
    )
    for table, error in (maintenance.get("failed_tables") or {}).items():
        lines.append(f"  failed: {table}: {error or 'no error recorded'}")


def _results_section(
    lines: list[str], title: str, section: Mapping[str, Any], content: str, empty: str
) -> bool:
    """Start a section of model results; whether it has `content` to show (else it says why)."""
    lines += ["", title]
    if section.get("error"):
        lines.append(f"  unreadable: {section['error']}")
        return False
    if not section.get(content):
        lines.append(f"  {empty}")
        return False
    return True


def render_status(report: StatusReport | Mapping[str, Any]) -> str:
    """A readable plain-text version of the report (typed, or its JSON form)."""
    report = as_json(report)
    now = parse_time(report.get("generated_at"))
    lines = [
        f"FinanceLake status - lake {report.get('lake_root')} - {_when(report.get('generated_at'))}"
    ]

    lines += ["", "Tables"]
    lines.append(f"  {'table':<18}{'rows':>14}{'version':>9}  last commit")
    for name, table in report.get("tables", {}).items():
        if table.get("error"):
            lines.append(f"  {name:<18}{'?':>14}{'?':>9}  unreadable: {table['error']}")
        elif not table.get("exists"):
            lines.append(f"  {name:<18}{'-':>14}{'-':>9}  missing")
        else:
            commit = parse_time(table.get("last_commit"))
            age = (now - commit).total_seconds() if now and commit else None
            lines.append(
                f"  {name:<18}{table.get('rows', 0):>14,}{table.get('version'):>9}  "
                f"{_when(table.get('last_commit'))}{_ago(age)}"
            )

    kafka = report.get("kafka", {})
    lines += ["", f"Kafka  {kafka.get('bootstrap_servers')}  topic {kafka.get('topic')}"]
    if kafka.get("reachable"):
        lines.append(
            f"  {kafka.get('partitions')} partitions, end offsets total "
            f"{kafka.get('end_offset_total', 0):,}"
        )
    else:
        lines.append(f"  not reachable: {kafka.get('error')}")

    lines += ["", "Streams"]
    for query, stream in report.get("streams", {}).items():
        if stream.get("source") is None:
            lines.append(
                f"  {query:<7} not started ({stream.get('lag_note') or 'no progress yet'})"
            )
            continue
        rate = number(stream.get("input_rows_per_s"))
        processed = number(stream.get("processed_rows_per_s"))
        parts = [
            f"last batch {stream.get('batch_id')} at {_when(stream.get('last_batch'))}"
            f"{_ago(stream.get('last_batch_age_s'))}",
            f"{rate:,.0f} rows/s in" if rate is not None else "input rate unknown",
        ]
        if processed is not None:
            parts.append(f"{processed:,.0f} rows/s processed")
        if stream.get("lag") is not None:
            unit = "Silver versions" if stream.get("lag_unit") == "versions" else "messages"
            lag = f"lag {stream['lag']:,} {unit} ({stream.get('lag_source')})"
            parts.append(lag)
        if stream.get("lag_note"):
            parts.append(str(stream["lag_note"]))
        lines.append(f"  {query:<7} " + "; ".join(parts) + f"  [from {stream['source']}]")

    models = report.get("models", {})
    if _results_section(lines, "Classifier", models, "runs", "no training run yet"):
        latest = models.get("latest") or {}
        lines.append(
            f"  runs: {models['runs']}; latest {latest.get('run_id')} at "
            f"{_when(latest.get('trained_at'))}: {latest.get('status')}"
            + (f" ({latest['reason']})" if latest.get("reason") else "")
        )
        if models.get("auc") is not None:
            lines.append(
                f"  latest AUC {models['auc']:.3f} {_interval(models, 'auc', '.3f')}"
                f"{_p_value(models.get('auc_p_value'))} (run {models.get('auc_run_id')}, "
                f"{_when(models.get('auc_trained_at'))})"
            )
        else:
            lines.append("  no successful run with an AUC yet")

    trader = report.get("trader", {})
    if _results_section(lines, "Trader", trader, "symbols", "no trader run yet"):
        lines.append(
            f"  run {trader.get('run_id')} at {_when(trader.get('trained_at'))} "
            f"(capital {_money(trader.get('initial_capital'))} per symbol and strategy)"
        )
        lines.append(
            f"  {'symbol':<8}{'strategy':<12}{'return':>9}{'buy&hold':>10}{'exposure':>10}"
            f"  {'excess vs exposure-matched [95% CI]':<38}{'trades':>7}  status"
        )
        for row in trader["symbols"]:
            trades = row.get("trades")
            excess = f"{_pct(row.get('excess_vs_exposure_matched'))} " + _interval(
                row, "excess", "+.2%", point="excess_vs_exposure_matched"
            )
            note = row.get("status") or ""
            if row.get("never_traded"):
                note += ", never traded"
            lines.append(
                f"  {row.get('symbol')!s:<8}{row.get('strategy') or '-'!s:<12}"
                f"{_pct(row.get('agent_return')):>9}{_pct(row.get('buy_hold_return')):>10}"
                f"{_share(row.get('exposure')):>10}  {excess:<38}"
                f"{'-' if trades is None else trades:>7}  {note}"
                + (f" ({row['reason']})" if row.get("reason") else "")
            )

    _market_section(lines, report.get("market") or {})
    _service_section(lines, report.get("service"))
    _maintenance_section(lines, report.get("maintenance") or {})

    quarantine = report.get("quarantine_by_reason_code", {})
    lines += ["", "Quarantine (by reason code)"]
    if quarantine:
        total = sum(quarantine.values())
        lines.append(
            f"  {total:,} messages: " + ", ".join(f"{k} {v:,}" for k, v in quarantine.items())
        )
    else:
        lines.append("  empty")
    return "\n".join(lines) + "\n"
