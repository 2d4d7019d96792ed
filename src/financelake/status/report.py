"""The status report: the lake, its streams and its models at a glance, assembled from the
JVM-free read layer (`financelake.lake`), so the answer comes in about a second.

The JSON form (`StatusReport.to_json`, `collect_status`) is a stable contract for scripts.
Secrets never enter the report: only the bootstrap servers and the topic are named.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from financelake.catalog import STREAM_QUERIES
from financelake.config import TABLES, Settings
from financelake.lake.kafka_offsets import KAFKA_TIMEOUT_S, TopicOffsets, topic_offsets
from financelake.lake.read import TableSummary, quarantine_by_reason_code, table_summaries
from financelake.lake.values import json_ready, parse_time
from financelake.service_state import ServiceState, read_state
from financelake.status.market import MarketStatus, market_status
from financelake.status.results import (
    MaintenanceStatus,
    ModelsStatus,
    TraderStatus,
    maintenance_status,
    models_status,
    trader_status,
)
from financelake.status.streams import StreamStatus, stream_status

log = logging.getLogger(__name__)

STATUS_FORMAT = 2
"""Version of the JSON shape; bumped only when a key is removed or changes meaning.
2: the trader's entries are per symbol and strategy; total_return and excess_return gave way
to agent_return and excess_vs_exposure_matched with its interval; quarantine_by_reason (kinds
of prose reasons) gave way to quarantine_by_reason_code (see `collect_status`)."""


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
class ServiceInfo:
    """What the long-running service last said it was doing (its `_status/service.json`)."""

    state: ServiceState
    detail: str
    since: datetime | None
    since_age_s: float | None
    spark_ui_url: str | None = None  # while running
    metrics_url: str | None = None  # while running, unless metrics_port is 0

    @classmethod
    def read(cls, settings: Settings, now: datetime) -> ServiceInfo | None:
        """The service's state file of a local lake; None without one (no service ran here)."""
        if not settings.is_local_lake:
            return None
        state = read_state(settings.lake_root)
        if state is None:
            return None
        since = parse_time(state.since)
        age = None if since is None else round(max(0.0, (now - since).total_seconds()), 1)
        return cls(
            state=state.state,
            detail=state.detail,
            since=since,
            since_age_s=age,
            spark_ui_url=state.spark_ui_url,
            metrics_url=state.metrics_url,
        )


@dataclass(frozen=True)
class StatusReport:
    """The whole report; `to_json` gives its stable JSON shape (see `collect_status`)."""

    generated_at: datetime
    lake_root: str
    kafka: KafkaStatus
    tables: dict[str, TableSummary]
    streams: dict[str, StreamStatus]
    service: ServiceInfo | None
    market: MarketStatus
    models: ModelsStatus
    trader: TraderStatus
    maintenance: MaintenanceStatus
    quarantine_by_reason_code: dict[str, int]

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
        maintenance = maintenance_status(settings)
        market = market_status(settings)
        try:
            quarantine = quarantine_by_reason_code(settings)
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
        service=ServiceInfo.read(settings, now),
        market=market,
        models=models,
        trader=trader,
        maintenance=maintenance,
        quarantine_by_reason_code=quarantine,
    )


def collect_status(
    settings: Settings, *, kafka_timeout_s: float = KAFKA_TIMEOUT_S, now: datetime | None = None
) -> dict[str, Any]:
    """The status report as a JSON-ready dict; its keys are a stable contract for scripts.

    Shape (format 2)::

        format: 2, generated_at: ISO, lake_root: str
        kafka: {bootstrap_servers, topic, reachable, error, partitions, end_offset_total}
        tables: {<each catalog table>: {exists, rows, version, last_commit, files,
                 size_bytes, error}}   # missing table: exists=false, rows=0, nulls
        streams: {ingest|gold: {source ('progress'|'checkpoint'|null), batch_id, last_batch,
                  last_batch_age_s, last_batch_rows, last_batch_duration_s,
                  input_rows_per_s, processed_rows_per_s, lag, lag_unit ('messages'|
                  'versions'), lag_source ('kafka'|'progress'|'delta_log'), lag_note,
                  lag_by_partition: {partition: messages} | null}}
        service: {state ('waiting'|'running'|'stopped'), detail, since, since_age_s,
                  spark_ui_url, metrics_url} | null
        market: {clocks: {symbol: ISO (newest Silver event time)}, live_bars: [{symbol,
                 window_start, window_end, open, high, low, close, total_volume, tick_count,
                 last_tick_at}] (gold_live: the bars still open), error}
        models: {runs, auc, auc_ci_low, auc_ci_high, auc_p_value, auc_run_id, auc_trained_at,
                 latest: {run_id, trained_at, status, reason, auc, auc_ci_low, auc_ci_high,
                 auc_p_value, ...} | null, error}
        trader: {runs, run_id, trained_at, gold_version, initial_capital, symbols: [{symbol,
                 strategy ('q_learning'|'classifier'), status, reason, final_portfolio_value,
                 agent_return, buy_hold_return, hold_return, random_return, exposure,
                 exposure_matched_return, excess_vs_exposure_matched, excess_ci_low,
                 excess_ci_high, trades, never_traded, sharpe, sortino, calmar, ...}], error}
        maintenance: {runs, run_id, started_at, finished_at, status ('ok'|'failed'|null),
                      tables, failed_tables: {table: error}, files_vacuumed, rows_deleted,
                      folders_removed, vacuum_retention, error}
        quarantine_by_reason_code: {reason_code: count}   # codes, e.g. late, not_json

    Times are ISO-8601 UTC strings.
    """
    return status_report(settings, kafka_timeout_s=kafka_timeout_s, now=now).to_json()


def as_json(report: StatusReport | Mapping[str, Any]) -> Mapping[str, Any]:
    """The JSON form of a report, whichever form it is given in."""
    return report.to_json() if isinstance(report, StatusReport) else report
