"""Rows by commit: which version made each row visible, and when (delta-rs, no JVM)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from financelake.lake.history import batch_note, batch_of, commits, rows_by_commit


def test_each_row_carries_the_version_and_time_of_the_commit_that_added_it(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "silver")
    write_deltalake(path, pa.table({"tick": [1, 2]}))
    write_deltalake(path, pa.table({"tick": [3]}), mode="append")
    DeltaTable(path).optimize.compact()  # re-adds every row: housekeeping, not new data

    history = commits(path)
    assert [c.version for c in history] == [0, 1, 2]
    assert [c.changes_data for c in history] == [True, True, False]
    assert [len(c.added_files) for c in history] == [1, 1, 1]
    times = {int(c["version"]): int(c["timestamp"]) for c in DeltaTable(path).history()}
    assert [c.timestamp_ms for c in history] == [times[0], times[1], times[2]]

    rows = rows_by_commit(path, ["tick"], history).to_pylist()
    assert sorted((r["tick"], r["version"], r["committed_ms"]) for r in rows) == [
        (1, 0, times[0]),
        (2, 0, times[0]),
        (3, 1, times[1]),
    ]
    assert commits(path, since_version=1)[0].added_files == history[1].added_files


def test_a_missing_table_has_no_commits(tmp_path: Path) -> None:
    assert commits(str(tmp_path / "nothing")) == []
    assert rows_by_commit(str(tmp_path / "nothing"), ["tick"], []).num_rows == 0


def test_a_batch_note_names_its_query_and_batch_and_other_notes_name_none() -> None:
    assert batch_of(batch_note("ingest", 12)) == ("ingest", 12)
    # Gold's exactly-once appends write under their transaction id, `gold-<query id>`.
    assert batch_of(batch_note("gold-6ac95123-62f4-4e1b", 7)) == ("gold", 7)
    assert batch_of("partitioned by date") is None
    assert batch_of(None) is None
