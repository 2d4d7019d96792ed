"""When each row of a table became visible: its commits, from delta-rs, with no JVM.

A row becomes visible with the commit that adds its file. Commit times are the `commitInfo`
timestamps that delta-rs' `history()` returns; the files a version added are the difference
between its snapshot's files and the previous version's. Housekeeping commits (OPTIMIZE and
friends) re-add rows that were visible already, so they are marked and readers skip them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from financelake.config import local_path
from financelake.lake.read import HOUSEKEEPING_OPERATIONS, open_table

# `<writer> batch <id>`, where the writer is a query's name, or `gold-<query id>` for Gold's
# exactly-once appends (their Delta transaction id).
_BATCH_NOTE = re.compile(r"(?P<query>\w+)(?:-\S+)? batch (?P<batch>\d+)$")


def batch_note(writer: str, batch_id: int) -> str:
    """The userMetadata of a streamed write: which query's micro-batch committed it (lineage,
    and how the bench counts commits per batch)."""
    return f"{writer} batch {batch_id}"


def batch_of(note: object) -> tuple[str, int] | None:
    """(query, batch id) of a commit's userMetadata written by `batch_note`, else None."""
    match = _BATCH_NOTE.match(str(note or ""))
    return (match["query"], int(match["batch"])) if match else None


@dataclass(frozen=True)
class Commit:
    """One version of a table: when it was committed, by what, and the files it added."""

    version: int
    timestamp_ms: int
    operation: str
    added_files: tuple[str, ...]  # paths relative to the table

    @property
    def changes_data(self) -> bool:
        return self.operation not in HOUSEKEEPING_OPERATIONS


def commits(path: str, since_version: int = 0) -> list[Commit]:
    """Every commit of the table at `path` from `since_version` on, oldest first ([] if none)."""
    table = open_table(path)
    if table is None:
        return []
    info = {int(c["version"]): c for c in table.history() if int(c["version"]) >= since_version}
    out: list[Commit] = []
    before: set[str] = set()
    if since_version > 0:
        table.load_as_version(since_version - 1)
        before = set(table.get_add_actions().column("path").to_pylist())
    for version in sorted(info):
        table.load_as_version(version)
        files = set(table.get_add_actions().column("path").to_pylist())
        out.append(
            Commit(
                version=version,
                timestamp_ms=int(info[version].get("timestamp", 0)),
                operation=str(info[version].get("operation", "?")),
                added_files=tuple(sorted(unquote(f) for f in files - before)),
            )
        )
        before = files
    return out


def rows_by_commit(path: str, columns: list[str], history: list[Commit]) -> pa.Table:
    """`columns` of every row that a data-changing commit of `history` added, with the commit's
    `version` and `committed_ms` (a local table; files are read with pyarrow)."""
    root = local_path(path)
    if root is None:
        raise ValueError(f"rows_by_commit reads local tables only, not {path}")
    parts = []
    for commit in history:
        if not commit.changes_data:
            continue
        for name in commit.added_files:
            # partitioning=None: a `date=...` folder is not a column of the file.
            part = pq.read_table(root / name, columns=columns, partitioning=None)
            parts.append(
                part.append_column(
                    "version", pa.repeat(commit.version, part.num_rows)
                ).append_column("committed_ms", pa.repeat(commit.timestamp_ms, part.num_rows))
            )
    if not parts:
        empty = {name: pa.array([]) for name in columns}
        return pa.table(
            {**empty, "version": pa.array([], pa.int64()), "committed_ms": pa.array([], pa.int64())}
        )
    return pa.concat_tables(parts, promote_options="default")
