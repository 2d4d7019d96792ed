"""Delta tables read with delta-rs, no JVM: summaries from the log, small tables as Arrow/pandas.

Row counts are summed from the Delta log's per-file statistics (no data is scanned) and the
last commit time comes from the newest log entry, so a summary of every table takes about a
second. Reads are tolerant on purpose: tables written by other components may gain or lack
columns, and a table that does not exist yet reads as None, not as an error.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, QueryBuilder

from financelake.config import Settings, local_path
from financelake.lake.values import json_ready, parse_time, utc_columns

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

Filter = tuple[str, str, Any]
"""A delta-rs partition/row filter, e.g. ("symbol", "=", "AAPL")."""


@dataclass(frozen=True)
class TableSummary:
    """Rows, version and last commit of one table; a missing table has exists=False, rows=0."""

    exists: bool = False
    rows: int = 0
    version: int | None = None
    last_commit: datetime | None = None
    files: int = 0
    size_bytes: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        result: dict[str, Any] = json_ready(self)
        return result


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


def table_summary(path: str) -> TableSummary:
    """Rows, version and last commit of the table at `path`, from its log only.

    Rows are the sum of the files' `num_records` statistics, less the rows their deletion
    vectors remove. An unreadable table gives its error, not an exception.
    """
    table: DeltaTable | None = None
    try:
        table = open_table(path)
        if table is None:
            return TableSummary()
        history = table.history(1)
        actions = pa.table(table.get_add_actions(flatten=True))
        size = (
            int(pc.sum(actions["size_bytes"]).as_py() or 0)
            if "size_bytes" in actions.column_names
            else 0
        )
        return TableSummary(
            exists=True,
            rows=rows_from_actions(actions, path),
            version=table.version(),
            last_commit=parse_time(history[0].get("timestamp")) if history else None,
            files=actions.num_rows,
            size_bytes=size,
        )
    except Exception as exc:
        log.warning("could not read the Delta table at %s: %s", path, exc)
        return TableSummary(exists=table is not None, error=f"{type(exc).__name__}: {exc}")


# Commits that change no data: a streaming reader skips them, so they are not work waiting.
HOUSEKEEPING_OPERATIONS = frozenset(
    {"OPTIMIZE", "VACUUM START", "VACUUM END", "SET TBLPROPERTIES", "UPGRADE PROTOCOL"}
)


def data_versions(path: str, first: int, last: int) -> int:
    """How many versions in [first, last] of the table at `path` changed its data (from the
    log's commit info; maintenance commits such as OPTIMIZE and VACUUM do not count)."""
    if last < first:
        return 0
    table = open_table(path)
    if table is None:
        return 0
    commits = table.history(last - first + 1 + (table.version() - last))
    return sum(
        1
        for commit in commits
        if first <= int(commit.get("version", -1)) <= last
        and commit.get("operation") not in HOUSEKEEPING_OPERATIONS
    )


def table_summaries(settings: Settings, names: Iterable[str]) -> dict[str, TableSummary]:
    """`table_summary` of each named lake table."""
    return {name: table_summary(settings.table_path(name)) for name in names}


def rows_from_actions(actions: pa.Table, table_path: str) -> int:
    """Live rows of a table from its add actions (Parquet footers where statistics lack)."""
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


def read_table(
    path: str, columns: Iterable[str] | None = None, filters: Sequence[Filter] | None = None
) -> pa.Table | None:
    """A (small) table's columns that exist among `columns` (all if None), rows matching
    `filters`; None if there is no table."""
    table = open_table(path)
    if table is None:
        return None
    names = [f.name for f in table.schema().fields]
    wanted = names if columns is None else [name for name in columns if name in names]
    return pa.table(table.to_pyarrow_table(columns=wanted, filters=list(filters or []) or None))


def read_frame(
    settings: Settings,
    name: str,
    columns: Iterable[str] | None = None,
    filters: Sequence[Filter] | None = None,
) -> pd.DataFrame | None:
    """A lake table as pandas (see `read_table`), every timestamp column tz-aware UTC."""
    table = read_table(settings.table_path(name), columns, filters)
    return None if table is None else utc_columns(table.to_pandas())


def quarantine_by_reason_code(settings: Settings) -> dict[str, int]:
    """Quarantined messages per `reason_code` (the stable code of the rule that rejected them),
    largest first; rows written before codes existed count as "unknown". Reads that column only."""
    table = read_table(settings.table_path("quarantine"), ["reason_code"])
    if table is None or table.num_rows == 0:
        return {}
    if "reason_code" not in table.column_names:
        return {UNKNOWN_CODE: table.num_rows}
    codes = pa.table({"code": pc.fill_null(table["reason_code"], UNKNOWN_CODE)})
    counts = codes.group_by("code").aggregate([("code", "count")]).to_pylist()
    pairs = [(str(row["code"]), int(row["code_count"])) for row in counts]
    return dict(sorted(pairs, key=lambda pair: (-pair[1], pair[0])))


UNKNOWN_CODE = "unknown"


def event_clocks(settings: Settings) -> dict[str, datetime]:
    """Each symbol's event-time clock: its newest Silver event_time (what makes its ticks late).

    DataFusion (inside delta-rs) aggregates the two columns without a JVM or a pandas copy.
    """
    table = open_table(settings.table_path("silver"))
    if table is None:
        return {}
    query = "SELECT symbol, max(event_time) AS clock FROM silver GROUP BY symbol ORDER BY symbol"
    result = pa.table(QueryBuilder().register("silver", table).execute(query).read_all())
    clocks = {}
    for row in result.to_pylist():
        clock = parse_time(row["clock"])
        if row["symbol"] is not None and clock is not None:
            clocks[str(row["symbol"])] = clock
    return clocks
