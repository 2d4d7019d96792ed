"""What the Delta log says: commits, their files, and when each row became visible.

A row becomes visible to readers with the commit that adds its file. The commit time used is
`commitInfo.timestamp` of that version's JSON entry in `_delta_log`. Only `add` actions with
`dataChange: true` count: auto-compaction (OPTIMIZE) re-adds rows that were visible already.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from deltalake import DeltaTable

from financelake.lake.read import table_summary


@dataclass(frozen=True)
class Commit:
    version: int
    timestamp_ms: int
    operation: str
    data_files: tuple[str, ...]  # added with dataChange=true, relative to the table
    data_rows: int  # from the added files' statistics
    added_files: int  # every add, compaction included
    removed_files: int


def commits(table: Path) -> list[Commit]:
    """Every commit of the table, oldest first."""
    out = []
    for entry in sorted((table / "_delta_log").glob("*.json")):
        if not entry.stem.isdigit():
            continue
        info: dict[str, Any] = {}
        data_files: list[str] = []
        rows = added = removed = 0
        for line in entry.read_text().splitlines():
            if not line.strip():
                continue
            action = json.loads(line)
            if "commitInfo" in action:
                info = action["commitInfo"]
            elif "add" in action:
                added += 1
                add = action["add"]
                if add.get("dataChange", True):
                    data_files.append(unquote(add["path"]))
                    stats = json.loads(add.get("stats") or "{}")
                    rows += int(stats.get("numRecords", 0))
            elif "remove" in action:
                removed += 1
        out.append(
            Commit(
                version=int(entry.stem),
                timestamp_ms=int(info.get("timestamp", entry.stat().st_mtime * 1000)),
                operation=str(info.get("operation", "?")),
                data_files=tuple(data_files),
                data_rows=rows,
                added_files=added,
                removed_files=removed,
            )
        )
    return out


def visible_rows(table: Path, columns: list[str], since_ms: int = 0) -> pd.DataFrame:
    """`columns` of every row added by a data commit at or after `since_ms`, plus the commit's
    time (`committed_ms`) and version. Rows rewritten by a MERGE appear once per commit that
    wrote them, which is what bar finalisation needs."""
    frames = []
    for commit in commits(table):
        if commit.timestamp_ms < since_ms:
            continue
        for name in commit.data_files:
            # partitioning=None: the `date=...` folder is not a column of the file.
            frame = pq.read_table(table / name, columns=columns, partitioning=None).to_pandas()
            frame["committed_ms"] = commit.timestamp_ms
            frame["version"] = commit.version
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*columns, "committed_ms", "version"])
    rows: pd.DataFrame = pd.concat(frames, ignore_index=True)
    return rows


def latest_data_commit_ms(table: Path) -> int | None:
    """Time of the newest commit that added data (not a compaction), None if there is none.

    Polled while waiting, so it reads the log from the newest entry back, not all of it."""
    entries = sorted(p for p in (table / "_delta_log").glob("*.json") if p.stem.isdigit())
    for entry in reversed(entries):
        timestamp = None
        data = False
        for line in entry.read_text().splitlines():
            if '"commitInfo"' in line:
                timestamp = int(json.loads(line)["commitInfo"]["timestamp"])
            elif line.startswith('{"add"') and json.loads(line)["add"].get("dataChange", True):
                data = True
        if data:
            return timestamp if timestamp is not None else int(entry.stat().st_mtime * 1000)
    return None


def row_count(table: Path) -> int:
    """Rows in the current snapshot, from the log's file statistics (no data read); 0 while
    the table does not exist or cannot be read yet."""
    return table_summary(str(table)).rows


def file_stats(table: Path) -> dict[str, Any]:
    """Files per commit and live files of one table (the small-files picture)."""
    history = commits(table)
    data = [c for c in history if c.data_files]
    per_commit = [len(c.data_files) for c in data]
    actions = DeltaTable(str(table)).get_add_actions(flatten=True)
    sizes = [int(s) for s in actions.column("size_bytes").to_pylist()]
    records = [int(r or 0) for r in actions.column("num_records").to_pylist()]
    operations: dict[str, int] = {}
    for commit in history:
        operations[commit.operation] = operations.get(commit.operation, 0) + 1
    return {
        "commits": len(history),
        "operations": operations,
        "data_commits": len(data),
        "files_per_data_commit_mean": round(float(np.mean(per_commit)), 2) if data else None,
        "files_per_data_commit_max": max(per_commit) if data else None,
        "live_files": len(sizes),
        "live_rows": sum(records),
        "live_mb": round(sum(sizes) / 1e6, 2),
        "mean_file_mb": round(sum(sizes) / len(sizes) / 1e6, 3) if sizes else None,
        "small_files_under_1mb": sum(1 for s in sizes if s < 1_000_000),
    }
