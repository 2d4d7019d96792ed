"""Every Delta table of the lake, declared once, and the names of the streaming queries.

Sinks, training results, status, the dashboard, maintenance and bench look tables up here
(Kedro's DataCatalog idea): name, schema, partitioning, how it is written, its Delta
properties and what a reader finds in it. Schemas themselves live in `schemas.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pyspark.sql.types import StructType

from financelake import schemas


class WriteMode(StrEnum):
    """How a table's rows arrive (it decides when the table is compacted)."""

    APPEND = "append"
    """Blind appends only; compacted off the hot path (`DeltaSink.compact`), which cannot
    conflict with them."""
    REPLACE = "replace"
    """A few rows whose partitions each write replaces (dynamic partition overwrite); small
    files are compacted right after each write, in the writer's own commit sequence (Delta
    auto-compaction)."""


@dataclass(frozen=True)
class Table:
    """One Delta table of the lake."""

    name: str
    schema: StructType
    description: str
    write_mode: WriteMode
    partition_by: tuple[str, ...] = ()
    # Commits between Delta log checkpoints. A checkpoint rebuilds the whole table state
    # (seconds here), so tables appended to every second take one per ~100 commits.
    checkpoint_interval: int = 10
    extra_properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def auto_compact(self) -> bool:
        return self.write_mode is WriteMode.REPLACE

    @property
    def properties(self) -> dict[str, str]:
        """The Delta table properties set when the table is created."""
        return {
            **delta_properties(self.auto_compact, self.checkpoint_interval),
            **self.extra_properties,
        }


def delta_properties(auto_compact: bool, checkpoint_interval: int) -> dict[str, str]:
    """The Delta properties of a table that is (or is not) auto-compacted."""
    return {
        "delta.autoOptimize.autoCompact": str(auto_compact).lower(),
        "delta.checkpointInterval": str(checkpoint_interval),
    }


def retention_properties(log_retention: str, tombstone_retention: str) -> dict[str, str]:
    """Delta table properties that bound the transaction log and say how long VACUUM keeps
    removed files.

    Log files older than `log_retention`, counted back from the midnight (UTC) before it, are
    deleted whenever Delta writes a checkpoint (every 100 commits on the streamed tables), so at
    one commit a second and the default of a day a table keeps one to two days of log files
    (86,400-172,800) instead of Delta's default 30 days; time travel (`train --as-of-version`)
    reaches at least `log_retention` back.

    A VACUUM without RETAIN keeps removed files for exactly `tombstone_retention`
    (`Settings.tombstone_retention`). That is how a sub-hour vacuum retention is honoured,
    because VACUUM's RETAIN rounds to whole hours (see `maintenance.vacuum_retain_hours`).
    """
    return {
        "delta.logRetentionDuration": f"interval {log_retention}",
        "delta.deletedFileRetentionDuration": f"interval {tombstone_retention}",
        "delta.enableExpiredLogCleanup": "true",
    }


def _streamed(name: str, schema: StructType, description: str) -> Table:
    return Table(name, schema, description, WriteMode.APPEND, ("date",), checkpoint_interval=100)


def _result(name: str, description: str) -> Table:
    return Table(name, schemas.RESULT_TABLES[name], description, WriteMode.APPEND)


CATALOG: dict[str, Table] = {
    table.name: table
    for table in (
        _streamed("bronze", schemas.BRONZE, "every message as received, parsed where possible"),
        _streamed("silver", schemas.SILVER, "valid ticks, once each, with derived columns"),
        _streamed("quarantine", schemas.QUARANTINE, "rejected messages, each with the reason why"),
        _streamed("gold", schemas.GOLD, "closed OHLCV bars, appended once per symbol and bar"),
        Table(
            "gold_live",
            schemas.GOLD_LIVE,
            "the bars still open, per symbol (replaced by every Gold batch)",
            WriteMode.REPLACE,
            ("symbol",),
        ),
        _result("gold_ml", "one row per classifier training run"),
        Table(
            "gold_predictions",
            schemas.GOLD_PREDICTIONS,
            "the classifier's test and forward predictions per run",
            WriteMode.APPEND,
            # By the date of the predicted bar: a reader of one day, and the expiry of old
            # results (maintenance.py), touch only that day's files.
            ("date",),
        ),
        _result("gold_rl", "the trader's parameters and backtest metrics per run and symbol"),
        _result("gold_rl_equity", "the trader's book at each test bar per run and symbol"),
        Table(
            "maintenance",
            schemas.MAINTENANCE,
            "one row per maintenance run and table: compacted, vacuumed, expired",
            WriteMode.APPEND,
        ),
    )
}
"""The lake's tables, in data-flow order."""

TABLE_NAMES: tuple[str, ...] = tuple(CATALOG)
STREAMED_TABLES: tuple[str, ...] = ("bronze", "quarantine", "silver", "gold", "gold_live")
"""The tables the streaming queries write (the others come from the training cycle)."""


def table(name: str) -> Table:
    """The catalog entry of `name`; a clear error for a name that is not a lake table."""
    try:
        return CATALOG[name]
    except KeyError:
        raise ValueError(f"unknown table {name!r}; known: {', '.join(TABLE_NAMES)}") from None


# Streaming queries: their names are also their checkpoint folders and progress files.
INGEST_QUERY = "ingest"
"""Kafka -> Bronze, Silver and Quarantine."""
GOLD_QUERY = "gold"
"""Silver -> Gold bars."""
STREAM_QUERIES: tuple[str, ...] = (INGEST_QUERY, GOLD_QUERY)
