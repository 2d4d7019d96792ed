"""Maintenance for long runs, on real Delta tables: compaction, VACUUM, log retention, expiry of
old results and model folders, each run recorded; and a lost checkpoint refused."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession
from support import produce_ticks, read_table

from financelake.config import Settings
from financelake.errors import CheckpointLostError
from financelake.maintenance import partition_predictions, run_maintenance
from financelake.pipeline import run_available_now
from financelake.schemas import GOLD_LIVE
from financelake.streams.sinks import DeltaSink

# One open bar of `gold_live`.
_LIVE_BAR = (
    "AAPL", datetime(2026, 1, 7, 14), datetime(2026, 1, 7, 14, 1),
    1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 10, 1.0, 1, None,
    datetime(2026, 1, 7, 14), date(2026, 1, 7),
)  # fmt: skip


def _files_on_disk(table: str) -> set[str]:
    return {p.name for p in Path(table).rglob("*.parquet")}


def _live_files(table: str) -> set[str]:
    return {Path(uri).name for uri in DeltaTable(table).file_uris()}


def test_maintenance_compacts_vacuums_and_records_each_table_without_changing_data(
    spark: SparkSession, settings: Settings
) -> None:
    for batch in range(3):  # three drains: several small files per table
        produce_ticks(settings, 300, seed=batch, start=datetime(2026, 1, 7, 14 + batch))
        run_available_now(spark, settings)
    before = {name: read_table(settings, name) for name in ("bronze", "silver", "gold")}
    silver = settings.table_path("silver")
    assert len(_live_files(silver)) > 1

    short = settings.model_copy(update={"vacuum_retention": "0 seconds"})
    run = run_maintenance(spark, short)

    assert run.ok, run.tables
    for name, frame in before.items():  # same rows, fewer files, nothing left on disk unused
        after = read_table(settings, name)
        assert len(after) == len(frame), name
        path = settings.table_path(name)
        assert _files_on_disk(path) == _live_files(path), name
    assert len(_live_files(silver)) == 1
    recorded = read_table(settings, "maintenance")
    assert set(recorded.table_name) == {"bronze", "silver", "quarantine", "gold", "gold_live"}
    assert set(recorded.status) == {"ok"}
    assert recorded.set_index("table_name").loc["silver", "files_vacuumed"] >= 3
    assert bool(recorded.set_index("table_name").loc["silver", "compacted"])
    config = DeltaTable(silver).metadata().configuration
    assert config["delta.logRetentionDuration"] == "interval 1 day"  # set when the run started
    assert config["delta.deletedFileRetentionDuration"] == "interval 1 day"


def test_the_log_keeps_about_one_retention_of_commits(
    spark: SparkSession, settings: Settings
) -> None:
    """Delta deletes log files older than the lake's `log_retention` (1 day) when it writes a
    checkpoint, but measures "older" from midnight UTC, so no run shorter than a day can show
    the log levelling off (the soak's `_delta_log` series grows for its whole window). Here the
    first ten commits are made three days old by their file times, as a week-long run makes
    them; the sink's own properties then bound the log."""
    sink = DeltaSink.of(spark, settings, "gold_live")
    assert sink.setup()  # version 0, with the catalog's checkpoint interval (10)
    bar = spark.createDataFrame([_LIVE_BAR], GOLD_LIVE)
    log_dir = Path(sink.path) / "_delta_log"
    for _ in range(9):  # versions 1-9
        sink.append(bar, "test")
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    aged = sorted(log_dir.glob("0000000000000000000[0-9].*"))
    for path in aged:
        os.utime(path, (three_days_ago, three_days_ago))
    for _ in range(3):  # versions 10-12: writing the checkpoint at 10 cleans up
        sink.append(bar, "test")

    left = {path.name for path in log_dir.glob("0*")}
    assert {path.name for path in aged if path.suffix in (".json", ".crc")}.isdisjoint(left)
    assert "00000000000000000010.checkpoint.parquet" in left  # the state the log restarts from
    assert {f"000000000000000000{v}.json" for v in (10, 11, 12)} <= left  # recent ones stay
    assert len(DeltaTable(sink.path).to_pandas()) == 12  # no row lost with the old log
    assert spark.read.format("delta").load(sink.path).count() == 12


def test_a_sub_hour_vacuum_retention_is_kept_to_the_minute(
    spark: SparkSession, settings: Settings
) -> None:
    """Delta rounds VACUUM's RETAIN to whole hours: "20 minutes" acted as 0 and deleted files
    removed seconds before, which a lagging stream still reads. Files removed just now stay;
    untracked files go once older than 20 minutes, not before."""
    short = settings.model_copy(update={"vacuum_retention": "20 minutes"})
    sink = DeltaSink.of(spark, short, "gold_live")
    assert sink.setup()
    bar = spark.createDataFrame([_LIVE_BAR], GOLD_LIVE)
    sink.replace_partitions(bar, "test")
    removed = _files_on_disk(sink.path)
    sink.replace_partitions(bar, "test")  # the first file is now removed, not yet vacuumed
    data_file = next(Path(sink.path).rglob("part-*.parquet"))
    orphans = {}
    for name, age in (("part-old-orphan.parquet", 30), ("part-young-orphan.parquet", 10)):
        orphan = data_file.parent / name
        shutil.copy(data_file, orphan)
        mtime = (datetime.now(UTC) - timedelta(minutes=age)).timestamp()
        os.utime(orphan, (mtime, mtime))
        orphans[name] = orphan

    run = run_maintenance(spark, short)

    assert run.ok, run.tables
    on_disk = _files_on_disk(sink.path)
    assert removed <= on_disk  # removed seconds ago: kept for the retention
    assert not orphans["part-old-orphan.parquet"].exists()
    assert orphans["part-young-orphan.parquet"].exists()
    assert read_table(settings, "maintenance").files_vacuumed.sum() == 1
    assert len(DeltaTable(sink.path).to_pandas()) == 1


def test_old_results_and_model_folders_expire_but_the_champion_stays(
    spark: SparkSession, settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    models = Path(settings.models_path) / "classifier"
    runs = pd.DataFrame(
        {
            "run_id": [f"r{i}" for i in range(6)],
            # r0 is 40 days old and the only successful run: the champion
            "trained_at": [now - timedelta(days=40)]
            + [now - timedelta(minutes=i) for i in range(5)],
            "status": ["ok"] + ["skipped"] * 5,
            "model_path": [str(models / f"r{i}") for i in range(6)],
        }
    )
    for run_id in runs.run_id:
        (models / run_id).mkdir(parents=True)
        (models / run_id / "model.bin").write_text("weights")
    for cycle in (runs[:2], runs[2:4], runs[4:]):  # a file per training cycle
        write_deltalake(settings.table_path("gold_ml"), cycle, mode="append")
    # Partitioned by the bar's date: 01-05 holds r0 alone, 01-06 holds r0 and r1.
    day = [date(2026, 1, 5), date(2026, 1, 6), date(2026, 1, 6)]
    predictions = pd.DataFrame(
        {"run_id": ["r0", "r0", "r1"], "probability_up": [0.4, 0.6, 0.5], "date": day}
    )
    write_deltalake(settings.table_path("gold_predictions"), predictions, partition_by=["date"])

    run = run_maintenance(spark, settings.model_copy(update={"keep_models": 2}))

    assert run.ok, run.tables
    # kept: the last two runs (r1, r2) and the champion (r0); removed: r3, r4, r5
    assert sorted(p.name for p in models.iterdir()) == ["r0", "r1", "r2"]
    assert list(read_table(settings, "gold_predictions").run_id) == ["r1"]  # r0 is > 30 days old
    live = DeltaTable(settings.table_path("gold_predictions")).file_uris()
    assert live and all("date=2026-01-06" in uri for uri in live)  # 01-05 dropped whole
    history = DeltaTable(settings.table_path("gold_predictions")).history()
    deletes = [c["operationParameters"]["predicate"] for c in history if c["operation"] == "DELETE"]
    assert any("run_id" not in predicate for predicate in deletes), deletes  # by partition
    recorded = read_table(settings, "maintenance").set_index("table_name")
    assert len(_live_files(settings.table_path("gold_ml"))) == 1  # results are compacted too
    assert bool(recorded.loc["gold_ml", "compacted"])
    assert recorded.loc["models", "folders_removed"] == 3
    assert recorded.loc["gold_predictions", "rows_deleted"] == 2


def test_an_older_lakes_unpartitioned_predictions_are_partitioned_by_date_once(
    spark: SparkSession, settings: Settings
) -> None:
    path = settings.table_path("gold_predictions")
    old = pd.DataFrame(
        {
            "run_id": ["r0", "r0", "r1"],
            "kind": ["test", "forward", "test"],
            "symbol": ["AAPL", "AAPL", "MSFT"],
            "window_start": pd.to_datetime(
                ["2026-01-05 23:59", "2026-01-06 00:00", "2026-01-06 10:00"]
            ).tz_localize("UTC"),
            "probability_up": [0.4, 0.6, 0.5],
            "prediction": pd.array([0, 1, 1], dtype="int32"),
            "label": pd.array([1, None, 0], dtype="Int32"),
        }
    )
    write_deltalake(path, old)  # the table as lakes before the date partitioning hold it

    assert partition_predictions(spark, settings)
    assert not partition_predictions(spark, settings)  # once

    table = DeltaTable(path)
    assert table.metadata().partition_columns == ["date"]
    got = table.to_pandas().sort_values("window_start").reset_index(drop=True)
    assert [str(d) for d in got.date] == ["2026-01-05", "2026-01-06", "2026-01-06"]
    pd.testing.assert_frame_equal(got[old.columns], old, check_dtype=False)


def test_a_lost_checkpoint_stops_the_pipeline_instead_of_duplicating(
    spark: SparkSession, settings: Settings
) -> None:
    produce_ticks(settings, 200)
    run_available_now(spark, settings)
    shutil.rmtree(settings.checkpoint_path("ingest"))

    with pytest.raises(CheckpointLostError, match=r"checkpoint of stream 'ingest'.*missing"):
        run_available_now(spark, settings)

    bronze = read_table(settings, "bronze")
    assert len(bronze) == 200
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
