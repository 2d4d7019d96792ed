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
                f"  latest AUC {models['auc']:.3f} (run {models.get('auc_run_id')}, "
                f"{_when(models.get('auc_trained_at'))})"
            )
        else:
            lines.append("  no successful run with an AUC yet")

    trader = report.get("trader", {})
    if _results_section(lines, "Trader", trader, "symbols", "no trader run yet"):
        lines.append(
            f"  run {trader.get('run_id')} at {_when(trader.get('trained_at'))} "
            f"(capital {_money(trader.get('initial_capital'))} per symbol)"
        )
        lines.append(
            f"  {'symbol':<8}{'final value':>14}{'return':>10}{'buy&hold':>10}{'excess':>10}"
            f"{'trades':>8}  status"
        )
        for row in trader["symbols"]:
            trades = row.get("trades")
            lines.append(
                f"  {row.get('symbol')!s:<8}{_money(row.get('final_portfolio_value')):>14}"
                f"{_pct(row.get('total_return')):>10}{_pct(row.get('buy_hold_return')):>10}"
                f"{_pct(row.get('excess_return')):>10}{'-' if trades is None else trades:>8}  "
                f"{row.get('status') or ''}" + (f" ({row['reason']})" if row.get("reason") else "")
            )

    quarantine = report.get("quarantine_by_reason", {})
    lines += ["", "Quarantine"]
    if quarantine:
        total = sum(quarantine.values())
        lines.append(
            f"  {total:,} messages: " + ", ".join(f"{k} {v:,}" for k, v in quarantine.items())
        )
    else:
        lines.append("  empty")
    return "\n".join(lines) + "\n"
