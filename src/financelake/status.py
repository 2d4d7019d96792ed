"""`financelake status`: the lake, its streams and its models at a glance, without a JVM.

Everything is read with delta-rs and plain files, so the answer comes in about a second:
row counts are summed from the Delta log's per-file statistics (no data is scanned), the last
commit time comes from the newest log entry, and stream progress from the JSON files the
running service writes (or, failing those, from the queries' checkpoints). The lag of the
Kafka stream is measured against the topic's live high-watermarks, asked for with a short
timeout; if Kafka does not answer, the report says so and falls back to the lag Spark saw.

The JSON form (`collect_status`) is a stable contract for scripts; see `collect_status`.
Secrets never enter the report: only the bootstrap servers and the topic are named.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable

from financelake.config import TABLES, Settings

log = logging.getLogger(__name__)

STATUS_FORMAT = 1
"""Version of the JSON shape; bumped only when a key is removed or changes meaning."""

STREAM_QUERIES = ("ingest", "gold")
KAFKA_TIMEOUT_S = 2.0
# A checkpoint commit this much later than the progress file's batch means the file is stale.
STALE_PROGRESS_S = 30.0
# Delta's streaming source marks "every file of this version was read" with this index.
_DELTA_END_INDEX = 2**62


# Small helpers ---------------------------------------------------------------------------
def local_path(uri: str) -> Path | None:
    """The local file-system path of a lake URI, or None for a remote store (s3a://, ...)."""
    if uri.startswith("file://"):
        return Path(uri[len("file://") :])
    if uri.startswith("file:"):
        return Path(uri[len("file:") :])
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:/", uri):
        return None
    return Path(uri)


def iso(moment: datetime | None) -> str | None:
    """ISO-8601 text in UTC (naive datetimes are taken as UTC), or None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def parse_time(value: Any) -> datetime | None:
    """A UTC datetime from an ISO string (Spark's 'Z' suffix included), datetime or epoch ms."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _number(value: Any) -> float | None:
    """A finite float, or None (NaN and infinities are not valid JSON)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _json_value(value: Any) -> Any:
    """JSON-safe form of a value read from a table (datetimes as ISO text, NaN as None)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, bool | int | str) or value is None:
        return value
    return str(value)


# Delta tables ----------------------------------------------------------------------------
def open_table(path: str) -> DeltaTable | None:
    """The Delta table at `path`, or None if there is none (yet)."""
    local = local_path(path)
    if local is not None:
        log_dir = local / "_delta_log"
        # A log folder without a commit is a table still being created by another process.
        if not log_dir.is_dir() or next(log_dir.glob("*.json"), None) is None:
            return None
    try:
        return DeltaTable(path)
    except Exception as exc:  # delta-rs raises several types for "no table here"
        if local is None and "not a delta table" in str(exc).lower():
            return None
        raise


def table_summary(path: str) -> dict[str, Any]:
    """Rows, version and last commit of one table, from its log only (no data is read).

    Rows are the sum of the files' `num_records` statistics, less the rows their deletion
    vectors remove. A missing table gives exists=False, rows=0 and null version/commit.
    """
    summary: dict[str, Any] = {
        "exists": False,
        "rows": 0,
        "version": None,
        "last_commit": None,
        "files": 0,
        "size_bytes": 0,
        "error": None,
    }
    try:
        table = open_table(path)
        if table is None:
            return summary
        summary["exists"] = True
        summary["version"] = table.version()
        history = table.history(1)
        if history:
            summary["last_commit"] = iso(parse_time(history[0].get("timestamp")))
        actions = pa.table(table.get_add_actions(flatten=True))
        summary["files"] = actions.num_rows
        summary["rows"] = _rows_from_actions(actions, path)
        if "size_bytes" in actions.column_names:
            summary["size_bytes"] = int(pc.sum(actions["size_bytes"]).as_py() or 0)
    except Exception as exc:
        log.warning("could not read the Delta table at %s: %s", path, exc)
        summary["error"] = f"{type(exc).__name__}: {exc}"
    return summary


def _rows_from_actions(actions: pa.Table, table_path: str) -> int:
    if actions.num_rows == 0:
        return 0
    records = actions["num_records"] if "num_records" in actions.column_names else None
    rows = int(pc.sum(records).as_py() or 0) if records is not None else 0
    missing = actions.num_rows if records is None else records.null_count
    if missing:  # files written without statistics: ask their Parquet footers instead
        rows += _rows_from_footers(actions, table_path, records)
    for name in ("deletionVector.cardinality", "deletion_vector.cardinality"):
        if name in actions.column_names:
            rows -= int(pc.sum(actions[name]).as_py() or 0)
    return rows


def _rows_from_footers(actions: pa.Table, table_path: str, records: pa.ChunkedArray | None) -> int:
    import pyarrow.parquet as pq

    root = local_path(table_path)
    if root is None:
        log.warning("%s: some files lack row statistics; their rows are not counted", table_path)
        return 0
    paths = actions["path"].to_pylist()
    counts = records.to_pylist() if records is not None else [None] * len(paths)
    total = 0
    for relative, count in zip(paths, counts, strict=True):
        if count is None:
            file = local_path(relative) if "://" in relative else root / relative
            if file is not None:
                total += pq.ParquetFile(file).metadata.num_rows
    return total


def read_table(path: str, columns: Iterable[str] | None = None) -> pa.Table | None:
    """A (small) table's columns that exist among `columns` (all if None); None if absent.

    Tolerant on purpose: tables written by other components may gain or lack columns.
    """
    table = open_table(path)
    if table is None:
        return None
    names = [f.name for f in table.schema().fields]
    wanted = names if columns is None else [name for name in columns if name in names]
    return pa.table(table.to_pyarrow_table(columns=wanted))


# Stream progress -------------------------------------------------------------------------
def status_dir(settings: Settings) -> Path | None:
    """Where the running service writes stream progress files (None for a remote lake)."""
    root = local_path(settings.lake_root)
    return None if root is None else root / "_status" / "streams"


def read_progress(settings: Settings, query: str) -> dict[str, Any] | None:
    """The latest StreamingQueryProgress the service saved for `query`, or None."""
    folder = status_dir(settings)
    if folder is None:
        return None
    try:
        progress = json.loads((folder / f"{query}.json").read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # e.g. caught half-written: report, do not crash
        log.warning("unreadable progress file for stream %s: %s", query, exc)
        return None
    return progress if isinstance(progress, dict) else None


def read_progress_history(
    settings: Settings, query: str, limit: int = 2000
) -> list[dict[str, Any]]:
    """The per-batch lines of `{query}.jsonl`, oldest first (at most `limit`, malformed skipped)."""
    folder = status_dir(settings)
    if folder is None:
        return []
    try:
        lines = (folder / f"{query}.jsonl").read_text().splitlines()[-limit:]
    except FileNotFoundError:
        return []
    rows = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the writer may be mid-line
        if isinstance(row, dict):
            rows.append(row)
    return rows


@dataclass(frozen=True)
class CheckpointState:
    """The last committed micro-batch of a query, from its checkpoint folder."""

    batch_id: int
    committed_at: datetime
    offsets: list[Any]  # one parsed offset per source, None where the source had none


def read_checkpoint(settings: Settings, query: str) -> CheckpointState | None:
    """The newest committed batch of `query`'s checkpoint (local lakes only), or None."""
    root = local_path(settings.checkpoint_path(query))
    if root is None:
        return None
    batches = _numbered(root / "commits")
    if not batches:
        return None
    batch_id, commit = batches[-1]
    offsets: list[Any] = []
    try:
        committed_at = datetime.fromtimestamp(commit.stat().st_mtime, tz=UTC)
        # offsets/N: a version line, the batch metadata, then one line per source
        for line in (root / "offsets" / str(batch_id)).read_text().splitlines()[2:]:
            offsets.append(_parse_offset(line) if line.strip() not in ("", "-") else None)
    except FileNotFoundError:
        return None
    return CheckpointState(batch_id=batch_id, committed_at=committed_at, offsets=offsets)


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return sorted((int(path.name), path) for path in folder.iterdir() if path.name.isdigit())


def _parse_offset(value: Any) -> Any:
    """An offset as Spark reports it: a JSON object, or a string holding one."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _kafka_offsets(offset: Any) -> dict[str, dict[int, int]] | None:
    """{topic: {partition: offset}} if `offset` is a Kafka source offset, else None."""
    if not isinstance(offset, Mapping) or not offset:
        return None
    parsed: dict[str, dict[int, int]] = {}
    for topic, partitions in offset.items():
        if not isinstance(partitions, Mapping):
            return None
        try:
            parsed[str(topic)] = {int(p): int(o) for p, o in partitions.items()}
        except (TypeError, ValueError):
            return None
    return parsed


def _delta_first_unread(offset: Any) -> int | None:
    """First Delta version a Delta source has not fully read, from its offset; else None."""
    if not isinstance(offset, Mapping) or "reservoirVersion" not in offset:
        return None
    version = _integer(offset.get("reservoirVersion"))
    index = _integer(offset.get("index"))
    if version is None:
        return None
    return version + 1 if index is not None and index >= _DELTA_END_INDEX else version


# Kafka -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TopicOffsets:
    """Live (low, high) watermarks of each partition of a topic, or why there are none."""

    topic: str
    partitions: dict[int, tuple[int, int]] = field(default_factory=dict)
    error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.error is None


def topic_offsets(settings: Settings, timeout_s: float = KAFKA_TIMEOUT_S) -> TopicOffsets:
    """Ask Kafka for the watermarks of `settings.topic`, giving up after about `timeout_s`."""
    import time

    from confluent_kafka import Consumer, KafkaException, TopicPartition

    from financelake.kafka.client import confluent_config

    errors: list[str] = []
    config: dict[str, Any] = {
        **confluent_config(settings),
        "group.id": "financelake-status",
        "enable.auto.commit": False,
        "socket.timeout.ms": max(100, int(timeout_s * 1000)),
        "error_cb": lambda error: errors.append(str(error)),
        "logger": log,
        "log_level": 2,  # connection failures come back through error_cb, not stderr spam
    }
    topic = settings.topic
    deadline = time.monotonic() + timeout_s
    consumer = Consumer(config)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            why = described.error if described is not None else "no metadata"
            return TopicOffsets(topic, error=f"topic {topic!r} not found ({why})")
        partitions: dict[int, tuple[int, int]] = {}
        for partition in sorted(described.partitions):
            remaining = max(0.1, deadline - time.monotonic())
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=remaining
            )
            partitions[partition] = (int(low), int(high))
        return TopicOffsets(topic, partitions)
    except KafkaException as exc:
        detail = "; ".join(dict.fromkeys(errors)) or str(exc)
        return TopicOffsets(
            topic,
            error=f"Kafka at {settings.bootstrap_servers} did not answer in {timeout_s:g} s "
            f"({detail})",
        )
    finally:
        consumer.close()


# Sections --------------------------------------------------------------------------------
def stream_status(
    settings: Settings,
    query: str,
    kafka: TopicOffsets,
    tables: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """Last batch, rate and lag of one streaming query (see `collect_status` for the keys).

    Figures come from the service's progress file, else from the checkpoint's newest commit;
    `kafka` holds the live watermarks and `tables` the table summaries (for Silver's version).
    """
    status: dict[str, Any] = {
        "source": None,
        "batch_id": None,
        "last_batch": None,
        "last_batch_age_s": None,
        "last_batch_rows": None,
        "input_rows_per_s": None,
        "processed_rows_per_s": None,
        "lag": None,
        "lag_unit": None,
        "lag_source": None,
        "lag_note": None,
    }
    progress = read_progress(settings, query)
    checkpoint = read_checkpoint(settings, query)
    if progress is not None and checkpoint is not None and _stale(progress, checkpoint):
        progress = None  # e.g. a later `run --available-now` without the progress listener
    end_offset: Any = None
    latest_offset: Any = None
    last: datetime | None = None
    if progress is not None:
        status["source"] = "progress"
        status["batch_id"] = _integer(progress.get("batchId"))
        last = parse_time(progress.get("timestamp"))
        status["last_batch_rows"] = _integer(progress.get("numInputRows"))
        status["input_rows_per_s"] = _number(progress.get("inputRowsPerSecond"))
        status["processed_rows_per_s"] = _number(progress.get("processedRowsPerSecond"))
        sources = progress.get("sources") or []
        if sources and isinstance(sources[0], Mapping):
            end_offset = _parse_offset(sources[0].get("endOffset"))
            latest_offset = _parse_offset(sources[0].get("latestOffset"))
    elif checkpoint is not None:
        status["source"] = "checkpoint"
        status["batch_id"] = checkpoint.batch_id
        last = checkpoint.committed_at
        end_offset = checkpoint.offsets[0] if checkpoint.offsets else None
    if last is not None:
        status["last_batch"] = iso(last)
        status["last_batch_age_s"] = round(max(0.0, (now - last).total_seconds()), 1)
    status.update(_lag(end_offset, latest_offset, kafka, tables, query))
    return status


def _stale(progress: Mapping[str, Any], checkpoint: CheckpointState) -> bool:
    """Whether the checkpoint committed a batch well after the progress file's batch ended."""
    started = parse_time(progress.get("timestamp"))
    if started is None:
        return True
    durations = progress.get("durationMs")
    took = _number(durations.get("triggerExecution")) if isinstance(durations, Mapping) else None
    ended = started.timestamp() + (took or 0.0) / 1000
    return checkpoint.committed_at.timestamp() > ended + STALE_PROGRESS_S


def _lag(
    end_offset: Any,
    latest_offset: Any,
    kafka: TopicOffsets,
    tables: Mapping[str, Mapping[str, Any]],
    query: str,
) -> dict[str, Any]:
    """How far a stream is behind its source: Kafka messages, or Silver versions for Gold."""
    read = _kafka_offsets(end_offset)
    if read is not None:
        if kafka.reachable:
            done = read.get(kafka.topic, {})
            lag = sum(
                max(0, high - max(done.get(p, low), low))
                for p, (low, high) in kafka.partitions.items()
            )
            note = (
                None if kafka.topic in read else f"the checkpoint has no offsets of {kafka.topic!r}"
            )
            return {"lag": lag, "lag_unit": "messages", "lag_source": "kafka", "lag_note": note}
        latest = _kafka_offsets(latest_offset)
        if latest is not None:
            lag = sum(
                max(0, offset - read.get(topic, {}).get(p, offset))
                for topic, partitions in latest.items()
                for p, offset in partitions.items()
            )
            return {
                "lag": lag,
                "lag_unit": "messages",
                "lag_source": "progress",
                "lag_note": "Kafka did not answer; lag as of the last batch",
            }
        return {"lag_unit": "messages", "lag_note": "Kafka did not answer; lag unknown"}
    first_unread = _delta_first_unread(end_offset)
    if first_unread is not None:
        silver_version = tables.get("silver", {}).get("version")
        if silver_version is not None:
            return {
                "lag": max(0, int(silver_version) - first_unread + 1),
                "lag_unit": "versions",
                "lag_source": "delta_log",
            }
        latest_unread = _delta_first_unread(latest_offset)
        if latest_unread is not None:
            return {
                "lag": max(0, latest_unread - first_unread),
                "lag_unit": "versions",
                "lag_source": "progress",
                "lag_note": "Silver not readable; lag as of the last batch",
            }
    if end_offset is None:
        return {"lag_note": f"no progress file or checkpoint for stream {query!r} yet"}
    return {"lag_note": "unrecognised source offset"}


def _models_section(settings: Settings) -> dict[str, Any]:
    section: dict[str, Any] = {
        "runs": 0,
        "auc": None,
        "auc_run_id": None,
        "auc_trained_at": None,
        "latest": None,
        "error": None,
    }
    columns = (
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
    try:
        table = read_table(settings.table_path("gold_ml"), columns)
    except Exception as exc:
        section["error"] = f"{type(exc).__name__}: {exc}"
        return section
    if table is None:
        return section
    runs = _newest_first(table.to_pylist())
    section["runs"] = len(runs)
    if runs:
        section["latest"] = {key: _json_value(runs[0].get(key)) for key in columns}
    for run in runs:
        auc = _number(run.get("auc"))
        if run.get("status", "ok") == "ok" and auc is not None:
            section["auc"] = auc
            section["auc_run_id"] = _json_value(run.get("run_id"))
            section["auc_trained_at"] = _json_value(run.get("trained_at"))
            break
    return section


_TRADER_METRICS = (
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


def _trader_section(settings: Settings) -> dict[str, Any]:
    section: dict[str, Any] = {
        "runs": 0,
        "run_id": None,
        "trained_at": None,
        "gold_version": None,
        "initial_capital": None,
        "symbols": [],
        "error": None,
    }
    try:
        table = read_table(settings.table_path("gold_rl"))
    except Exception as exc:
        section["error"] = f"{type(exc).__name__}: {exc}"
        return section
    if table is None or table.num_rows == 0:
        return section
    rows = _newest_first(table.to_pylist())
    latest = rows[0].get("run_id")
    section["runs"] = len({row.get("run_id") for row in rows})
    section["run_id"] = _json_value(latest)
    section["trained_at"] = _json_value(rows[0].get("trained_at"))
    section["gold_version"] = _json_value(rows[0].get("gold_version"))
    section["initial_capital"] = _number(rows[0].get("initial_capital"))
    symbols = []
    for row in sorted(
        (row for row in rows if row.get("run_id") == latest), key=lambda r: str(r.get("symbol"))
    ):
        entry = {"symbol": _json_value(row.get("symbol"))}
        entry.update({key: _json_value(row.get(key)) for key in _TRADER_METRICS})
        total, hold = _number(row.get("total_return")), _number(row.get("buy_hold_return"))
        entry["excess_return"] = None if total is None or hold is None else total - hold
        symbols.append(entry)
    section["symbols"] = symbols
    return section


def _newest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted by trained_at, newest first (rows without a time last), then by run_id."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(
        rows,
        key=lambda row: (parse_time(row.get("trained_at")) or epoch, str(row.get("run_id"))),
        reverse=True,
    )


# Reasons carry the offending value ("price must be a positive finite number, got -1.0",
# "late: event time ... is behind the watermark ..."); counting them raw would give one
# bucket per message. These rewrites keep the kind of problem and drop the details.
_REASON_DETAILS = (
    (r"^([^:]*):\s.*$", r"\1"),  # "late: ...", "duplicate: ..."
    (r"^(.*), got .*$", r"\1"),  # "... must be a positive ..., got <value>"
    (r"^(unparseable timestamp) '.*'$", r"\1"),
)


def reason_kind(reasons: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The kind of each quarantine reason: its text without the offending value."""
    for pattern, replacement in _REASON_DETAILS:
        reasons = pc.replace_substring_regex(reasons, pattern=pattern, replacement=replacement)
    return reasons


def quarantine_by_reason(settings: Settings) -> dict[str, int]:
    """Quarantined messages per kind of reason, largest first (reads the `reason` column only)."""
    table = read_table(settings.table_path("quarantine"), ["reason"])
    if table is None or table.num_rows == 0 or "reason" not in table.column_names:
        return {}
    kinds = pa.table({"kind": reason_kind(table["reason"])})
    counts = kinds.group_by("kind").aggregate([("kind", "count")]).to_pylist()
    pairs = [(str(row["kind"]), int(row["kind_count"])) for row in counts]
    return dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


# The report ------------------------------------------------------------------------------
def collect_status(
    settings: Settings, *, kafka_timeout_s: float = KAFKA_TIMEOUT_S, now: datetime | None = None
) -> dict[str, Any]:
    """The status report as a JSON-ready dict; its keys are a stable contract for scripts.

    Shape (format 1)::

        format: 1, generated_at: ISO, lake_root: str
        kafka: {bootstrap_servers, topic, reachable, error, partitions, end_offset_total}
        tables: {<each of config.TABLES>: {exists, rows, version, last_commit, files,
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

    Times are ISO-8601 UTC strings. Kafka is asked with `kafka_timeout_s` in a side thread
    while the tables are read, so an unreachable broker costs at most that long.
    """
    now = now or datetime.now(tz=UTC)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="status-kafka") as pool:
        kafka_future = pool.submit(topic_offsets, settings, kafka_timeout_s)
        tables = {name: table_summary(settings.table_path(name)) for name in TABLES}
        models = _models_section(settings)
        trader = _trader_section(settings)
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
    return {
        "format": STATUS_FORMAT,
        "generated_at": iso(now),
        "lake_root": settings.lake_root,
        "kafka": {
            "bootstrap_servers": settings.bootstrap_servers,
            "topic": settings.topic,
            "reachable": kafka.reachable,
            "error": kafka.error,
            "partitions": len(kafka.partitions) if kafka.reachable else None,
            "end_offset_total": sum(high for _, high in kafka.partitions.values())
            if kafka.reachable
            else None,
        },
        "tables": tables,
        "streams": streams,
        "models": models,
        "trader": trader,
        "quarantine_by_reason": quarantine,
    }


# Plain text ------------------------------------------------------------------------------
def _ago(seconds: Any) -> str:
    value = _number(seconds)
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
    number = _number(value)
    return "-" if number is None else f"{number:+.2%}"


def _money(value: Any) -> str:
    number = _number(value)
    return "-" if number is None else f"{number:,.2f}"


def render_status(report: Mapping[str, Any]) -> str:
    """A readable plain-text version of `collect_status`'s report."""
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
        rate = _number(stream.get("input_rows_per_s"))
        processed = _number(stream.get("processed_rows_per_s"))
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
    lines += ["", "Classifier"]
    if models.get("error"):
        lines.append(f"  unreadable: {models['error']}")
    elif not models.get("runs"):
        lines.append("  no training run yet")
    else:
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
    lines += ["", "Trader"]
    if trader.get("error"):
        lines.append(f"  unreadable: {trader['error']}")
    elif not trader.get("symbols"):
        lines.append("  no trader run yet")
    else:
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
