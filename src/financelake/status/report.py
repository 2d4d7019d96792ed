"""The status report: the lake, its streams and its models at a glance, assembled from the
JVM-free read layer (`financelake.lake`), so the answer comes in about a second.

The JSON form (`StatusReport.to_json`, `collect_status`) is a stable contract for scripts.
Secrets never enter the report: only the bootstrap servers and the topic are named.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from financelake.catalog import STREAM_QUERIES
from financelake.config import TABLES, Settings
from financelake.lake.kafka_offsets import KAFKA_TIMEOUT_S, TopicOffsets, topic_offsets
from financelake.lake.read import (
    TableSummary,
    quarantine_by_reason,
    read_table,
    table_summaries,
)
from financelake.lake.values import json_ready, number, parse_time
from financelake.status.streams import StreamStatus, stream_status

log = logging.getLogger(__name__)

STATUS_FORMAT = 1
"""Version of the JSON shape; bumped only when a key is removed or changes meaning."""

MODEL_COLUMNS = (
    "run_id",
    "trained_at",
    "status",
    "reason",
    "auc",
    "gold_version",
    "train_rows",
    "test_rows",
    "test_positive_rate",
)
TRADER_METRICS = (
    "status",
    "reason",
    "final_portfolio_value",
    "total_return",
    "buy_hold_return",
    "sharpe",
    "max_drawdown",
    "trades",
    "win_rate",
    "fees_paid",
)


@dataclass(frozen=True)
class KafkaStatus:
    bootstrap_servers: str
    topic: str
    reachable: bool
    error: str | None
    partitions: int | None
    end_offset_total: int | None

    @classmethod
    def of(cls, settings: Settings, offsets: TopicOffsets) -> KafkaStatus:
        live = offsets.reachable
        return cls(
            bootstrap_servers=settings.bootstrap_servers,
            topic=settings.topic,
            reachable=live,
            error=offsets.error,
            partitions=len(offsets.partitions) if live else None,
            end_offset_total=offsets.end_offset_total if live else None,
        )


@dataclass(frozen=True)
class ModelsStatus:
    """The classifier's runs: how many, the newest, and the newest successful AUC."""

    runs: int = 0
    auc: float | None = None
    auc_run_id: str | None = None
    auc_trained_at: datetime | None = None
    latest: dict[str, Any] | None = None  # MODEL_COLUMNS of the newest run
    error: str | None = None


@dataclass(frozen=True)
class TraderStatus:
    """The trader's newest run: one entry per symbol with its backtest metrics."""

    runs: int = 0
    run_id: str | None = None
    trained_at: datetime | None = None
    gold_version: int | None = None
    initial_capital: float | None = None
    symbols: list[dict[str, Any]] = field(default_factory=list)  # symbol, TRADER_METRICS, excess
    error: str | None = None


@dataclass(frozen=True)
class StatusReport:
    """The whole report; `to_json` gives its stable JSON shape (see `collect_status`)."""

    generated_at: datetime
    lake_root: str
    kafka: KafkaStatus
    tables: dict[str, TableSummary]
    streams: dict[str, StreamStatus]
    models: ModelsStatus
    trader: TraderStatus
    quarantine_by_reason: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {"format": STATUS_FORMAT, **json_ready(self)}


def status_report(
    settings: Settings, *, kafka_timeout_s: float = KAFKA_TIMEOUT_S, now: datetime | None = None
) -> StatusReport:
    """Read everything the report shows. Kafka is asked with `kafka_timeout_s` in a side
    thread while the tables are read, so an unreachable broker costs at most that long."""
    now = now or datetime.now(tz=UTC)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="status-kafka") as pool:
        kafka_future = pool.submit(topic_offsets, settings, kafka_timeout_s)
        tables = table_summaries(settings, TABLES)
        models = models_status(settings)
        trader = trader_status(settings)
        try:
            quarantine = quarantine_by_reason(settings)
        except Exception as exc:
            log.warning("could not count the quarantine's reasons: %s", exc)
            quarantine = {}
        try:
            kafka = kafka_future.result()
        except Exception as exc:  # e.g. an invalid client setting
            kafka = TopicOffsets(settings.topic, error=f"{type(exc).__name__}: {exc}")
    streams = {
        query: stream_status(settings, query, kafka, tables, now) for query in STREAM_QUERIES
    }
    return StatusReport(
        generated_at=now,
        lake_root=settings.lake_root,
        kafka=KafkaStatus.of(settings, kafka),
        tables=tables,
        streams=streams,
        models=models,
        trader=trader,
        quarantine_by_reason=quarantine,
    )


def collect_status(
    settings: Settings, *, kafka_timeout_s: float = KAFKA_TIMEOUT_S, now: datetime | None = None
) -> dict[str, Any]:
    """The status report as a JSON-ready dict; its keys are a stable contract for scripts.

    Shape (format 1)::

        format: 1, generated_at: ISO, lake_root: str
        kafka: {bootstrap_servers, topic, reachable, error, partitions, end_offset_total}
        tables: {<each catalog table>: {exists, rows, version, last_commit, files,
                 size_bytes, error}}   # missing table: exists=false, rows=0, nulls
        streams: {ingest|gold: {source ('progress'|'checkpoint'|null), batch_id, last_batch,
                  last_batch_age_s, last_batch_rows, input_rows_per_s, processed_rows_per_s,
                  lag, lag_unit ('messages'|'versions'), lag_source ('kafka'|'progress'|
                  'delta_log'), lag_note}}
        models: {runs, auc, auc_run_id, auc_trained_at, latest: {run_id, trained_at, status,
                 reason, auc, ...} | null, error}
        trader: {runs, run_id, trained_at, gold_version, initial_capital, symbols: [{symbol,
                 status, final_portfolio_value, total_return, buy_hold_return,
                 excess_return, sharpe, max_drawdown, trades, win_rate, fees_paid, ...}], error}
        quarantine_by_reason: {reason: count}

    Times are ISO-8601 UTC strings.
    """
    return status_report(settings, kafka_timeout_s=kafka_timeout_s, now=now).to_json()


def models_status(settings: Settings) -> ModelsStatus:
    """The classifier's section, from gold_ml (an unreadable table gives its error)."""
    try:
        table = read_table(settings.table_path("gold_ml"), MODEL_COLUMNS)
    except Exception as exc:
        return ModelsStatus(error=f"{type(exc).__name__}: {exc}")
    if table is None:
        return ModelsStatus()
    runs = _newest_first(table.to_pylist())
    if not runs:
        return ModelsStatus()
    latest = {key: json_ready(runs[0].get(key)) for key in MODEL_COLUMNS}
    scored = next(
        (
            run
            for run in runs
            if run.get("status", "ok") == "ok" and number(run.get("auc")) is not None
        ),
        None,
    )
    if scored is None:
        return ModelsStatus(runs=len(runs), latest=latest)
    return ModelsStatus(
        runs=len(runs),
        auc=number(scored.get("auc")),
        auc_run_id=json_ready(scored.get("run_id")),
        auc_trained_at=parse_time(scored.get("trained_at")),
        latest=latest,
    )


def trader_status(settings: Settings) -> TraderStatus:
    """The trader's section, from gold_rl's newest run (an unreadable table gives its error)."""
    try:
        table = read_table(settings.table_path("gold_rl"))
    except Exception as exc:
        return TraderStatus(error=f"{type(exc).__name__}: {exc}")
    if table is None or table.num_rows == 0:
        return TraderStatus()
    rows = _newest_first(table.to_pylist())
    newest = rows[0]
    symbols = []
    for row in sorted(
        (row for row in rows if row.get("run_id") == newest.get("run_id")),
        key=lambda r: str(r.get("symbol")),
    ):
        entry = {"symbol": json_ready(row.get("symbol"))}
        entry.update({key: json_ready(row.get(key)) for key in TRADER_METRICS})
        total, hold = number(row.get("total_return")), number(row.get("buy_hold_return"))
        entry["excess_return"] = None if total is None or hold is None else total - hold
        symbols.append(entry)
    return TraderStatus(
        runs=len({row.get("run_id") for row in rows}),
        run_id=json_ready(newest.get("run_id")),
        trained_at=parse_time(newest.get("trained_at")),
        gold_version=json_ready(newest.get("gold_version")),
        initial_capital=number(newest.get("initial_capital")),
        symbols=symbols,
    )


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by trained_at, newest first (rows without a time last), then by run_id."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(
        rows,
        key=lambda row: (parse_time(row.get("trained_at")) or epoch, str(row.get("run_id"))),
        reverse=True,
    )


def as_json(report: StatusReport | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON form of a report, whichever form it is given in."""
    return report.to_json() if isinstance(report, StatusReport) else report
