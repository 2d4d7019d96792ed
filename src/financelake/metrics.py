"""The service's Prometheus endpoint: `/metrics`, read from the lake at each scrape.

`LakeCollector` gathers its figures when Prometheus asks, from the JVM-free read layer that
`financelake status` uses (`financelake.lake`, `financelake.status`): a scrape runs no Spark
job and never waits on the streams. Its cost is bounded, whatever the lake's size:

- rows, version, files and bytes of each table come from the table's Delta log (the add
  actions' row statistics), never from its data: the cost grows with the live files, which
  compaction keeps few, not with the rows (Silver is never scanned);
- quarantine counts read one column, `reason_code`, of the quarantine table only;
- the training figures read gold_ml's run columns (one row per training run);
- Kafka's watermarks are asked in parallel with the table reads, for at most
  `KAFKA_TIMEOUT_S`, so an unreachable broker slows a scrape by that much at most;
- the streams' figures come from their progress files and checkpoints (a few small files).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from threading import Thread
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from financelake.catalog import INGEST_QUERY, STREAM_QUERIES
from financelake.config import TABLES, Settings
from financelake.errors import ConfigError
from financelake.lake.kafka_offsets import KAFKA_TIMEOUT_S, TopicOffsets, topic_offsets
from financelake.lake.read import TableSummary, quarantine_by_reason_code, table_summaries
from financelake.lake.values import parse_time
from financelake.status.results import ModelsStatus, models_status
from financelake.status.streams import LagSource, StreamStatus, stream_status
from financelake.transforms.quality import ReasonCode

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
_PREFIX = "financelake_"


def _gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(_PREFIX + name, documentation, labels=list(labels))


class LakeCollector(Collector):
    """The lake's tables, the streams' lag and batches, the last training run and the
    quarantine by reason code, read afresh at each scrape (see the module's note on cost)."""

    def __init__(self, settings: Settings, kafka_timeout_s: float = KAFKA_TIMEOUT_S) -> None:
        self._settings = settings
        self._kafka_timeout_s = kafka_timeout_s

    def collect(self) -> Iterator[Metric]:
        settings, now = self._settings, datetime.now(UTC)
        errors = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics-kafka") as pool:
            kafka_future = pool.submit(topic_offsets, settings, self._kafka_timeout_s)
            tables = table_summaries(settings, TABLES)
            models = models_status(settings)
            try:
                quarantine: dict[str, int] | None = quarantine_by_reason_code(settings)
            except Exception as exc:
                log.warning("metrics: could not count the quarantine's reasons: %s", exc)
                quarantine, errors = None, errors + 1
            try:
                kafka = kafka_future.result()
            except Exception as exc:  # e.g. an invalid client setting
                kafka = TopicOffsets(settings.topic, error=f"{type(exc).__name__}: {exc}")
        streams = {q: stream_status(settings, q, kafka, tables, now) for q in STREAM_QUERIES}
        errors += sum(1 for summary in tables.values() if summary.error is not None)
        errors += models.error is not None
        yield from table_metrics(tables)
        yield from kafka_metrics(kafka, streams[INGEST_QUERY])
        yield from stream_metrics(streams)
        yield from training_metrics(models)
        if quarantine is not None:
            yield quarantine_metric(quarantine)
        scrape_errors = _gauge(
            "scrape_errors", "sources that could not be read for this scrape (see the log)"
        )
        scrape_errors.add_metric([], errors)
        yield scrape_errors


def table_metrics(tables: Mapping[str, TableSummary]) -> Iterator[Metric]:
    """Per catalog table: whether it exists and, when readable, its rows, version, files, size
    and last commit (all from the Delta log)."""
    exists = _gauge("table_exists", "1 once the Delta table has its first commit", ("table",))
    rows = _gauge("table_rows", "live rows, from the Delta log's file statistics", ("table",))
    version = _gauge("table_version", "the Delta table's current version", ("table",))
    files = _gauge("table_files", "live data files (compaction keeps this small)", ("table",))
    size = _gauge("table_size_bytes", "bytes of the live data files", ("table",))
    committed = _gauge(
        "table_last_commit_timestamp_seconds", "time of the newest commit (Unix)", ("table",)
    )
    for name, summary in tables.items():
        exists.add_metric([name], int(summary.exists))
        if not summary.exists or summary.error is not None:
            continue
        rows.add_metric([name], summary.rows)
        files.add_metric([name], summary.files)
        size.add_metric([name], summary.size_bytes)
        if summary.version is not None:
            version.add_metric([name], summary.version)
        if summary.last_commit is not None:
            committed.add_metric([name], summary.last_commit.timestamp())
    yield from (exists, rows, version, files, size, committed)


def kafka_metrics(kafka: TopicOffsets, ingest: StreamStatus) -> Iterator[Metric]:
    """Whether Kafka answered, each partition's end offset and the ingest stream's lag on it.

    Lag is only given from live watermarks: when Kafka does not answer it is unknown, and
    `financelake_kafka_up` says so."""
    up = _gauge("kafka_up", "1 if the broker answered this scrape in time")
    up.add_metric([], int(kafka.reachable))
    labels = ("topic", "partition")
    end = _gauge("kafka_end_offset", "the partition's high watermark", labels)
    lag = _gauge("kafka_lag_messages", "messages the ingest stream has yet to read", labels)
    for partition, (_low, high) in sorted(kafka.partitions.items()):
        end.add_metric([kafka.topic, str(partition)], high)
    if ingest.lag_source is LagSource.KAFKA and ingest.lag_by_partition is not None:
        for partition, messages in sorted(ingest.lag_by_partition.items()):
            lag.add_metric([kafka.topic, str(partition)], messages)
    yield from (up, end, lag)


def stream_metrics(streams: Mapping[str, StreamStatus]) -> Iterator[Metric]:
    """Each streaming query's last micro-batch, and its lag in its own unit (Kafka messages
    for ingest, Silver versions for Gold)."""
    query = ("query",)
    duration = _gauge(
        "stream_last_batch_duration_seconds", "wall time of the last micro-batch", query
    )
    batch_id = _gauge("stream_last_batch_id", "id of the last micro-batch", query)
    started = _gauge(
        "stream_last_batch_timestamp_seconds", "start of the last micro-batch (Unix)", query
    )
    rows = _gauge("stream_last_batch_rows", "input rows of the last micro-batch", query)
    lag = _gauge("stream_lag", "how far the query is behind its source", ("query", "unit"))
    for name, stream in streams.items():
        if stream.last_batch_duration_s is not None:
            duration.add_metric([name], stream.last_batch_duration_s)
        if stream.batch_id is not None:
            batch_id.add_metric([name], stream.batch_id)
        if stream.last_batch is not None:
            started.add_metric([name], stream.last_batch.timestamp())
        if stream.last_batch_rows is not None:
            rows.add_metric([name], stream.last_batch_rows)
        if stream.lag is not None and stream.lag_unit is not None:
            lag.add_metric([name, stream.lag_unit.value], stream.lag)
    yield from (duration, batch_id, started, rows, lag)


def training_metrics(models: ModelsStatus) -> Iterator[Metric]:
    """The classifier's runs: how many, the newest one's status and time, and the newest
    scored AUC with its 95% interval (a skipped run has no AUC, so it is kept apart)."""
    runs = _gauge("training_runs", "classifier training runs recorded in gold_ml")
    status = _gauge(
        "training_last_status", "1 for the status of the newest training run", ("status",)
    )
    trained = _gauge("training_last_run_timestamp_seconds", "when the newest run trained (Unix)")
    auc = _gauge("training_auc", "AUC of the newest run that scored its test set")
    low = _gauge("training_auc_ci_low", "lower end of that AUC's 95% DeLong interval")
    high = _gauge("training_auc_ci_high", "upper end of that AUC's 95% DeLong interval")
    scored = _gauge("training_auc_timestamp_seconds", "when that AUC's run trained (Unix)")
    runs.add_metric([], models.runs)
    if models.latest is not None:
        status.add_metric([str(models.latest.get("status"))], 1)
        trained_at = parse_time(models.latest.get("trained_at"))
        if trained_at is not None:
            trained.add_metric([], trained_at.timestamp())
    for gauge, value in ((auc, models.auc), (low, models.auc_ci_low), (high, models.auc_ci_high)):
        if value is not None:
            gauge.add_metric([], value)
    if models.auc_trained_at is not None:
        scored.add_metric([], models.auc_trained_at.timestamp())
    yield from (runs, status, trained, auc, low, high, scored)


def quarantine_metric(counts: Mapping[str, int]) -> Metric:
    """Quarantined messages per reason code; every known code is given, 0 when it has none,
    so a rate or an alert on a code works before its first rejection."""
    gauge = _gauge("quarantine_messages", "messages in Quarantine by reason", ("reason_code",))
    for code in sorted({code.value for code in ReasonCode} | set(counts)):
        gauge.add_metric([code], counts.get(code, 0))
    return gauge


@dataclass(frozen=True)
class MetricsServer:
    """The running `/metrics` endpoint; `close` stops it."""

    url: str
    server: WSGIServer
    thread: Thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_metrics(settings: Settings) -> MetricsServer | None:
    """Serve `/metrics` on `settings.metrics_port`, on every interface (a Prometheus in
    another container or host scrapes it), in a daemon thread; None when the port is 0."""
    port = settings.metrics_port
    if port == 0:
        return None
    registry = CollectorRegistry()
    registry.register(LakeCollector(settings))
    ProcessCollector(registry=registry)  # this Python process; the JVM reports on Spark's UI
    try:
        server, thread = start_http_server(port, addr="0.0.0.0", registry=registry)
    except OSError as exc:
        raise ConfigError(
            f"the metrics port {port} cannot be opened ({exc.strerror or exc}); choose another "
            "with --metrics-port PORT (FINANCELAKE_METRICS_PORT), or 0 to serve no metrics"
        ) from exc
    bound = server.server_address[1]
    return MetricsServer(f"http://127.0.0.1:{bound}{METRICS_PATH}", server, thread)
