"""`financelake status` on tiny lakes written with delta-rs: no Spark, no Kafka (closed port)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, write_deltalake
from pydantic import SecretStr

from financelake.config import TABLES, Settings
from financelake.dashboard import data as dashboard_data
from financelake.lake.kafka_offsets import TopicOffsets
from financelake.lake.read import TableSummary, table_summary
from financelake.lake.read import rows_from_actions as _rows_from_actions
from financelake.lake.values import parse_time
from financelake.service_state import ServiceState, write_state
from financelake.status import collect_status, render_status
from financelake.status.report import STATUS_FORMAT
from financelake.status.streams import stream_status

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
NO_KAFKA = "127.0.0.1:1"  # nothing listens there: connection refused at once
TABLE_KEYS = {"exists", "rows", "version", "last_commit", "files", "size_bytes", "error"}
STREAM_KEYS = {
    "source",
    "batch_id",
    "last_batch",
    "last_batch_age_s",
    "last_batch_rows",
    "last_batch_duration_s",
    "input_rows_per_s",
    "processed_rows_per_s",
    "lag",
    "lag_unit",
    "lag_source",
    "lag_note",
    "lag_by_partition",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(lake_root=str(tmp_path / "lake"), bootstrap_servers=NO_KAFKA, topic="ticks")


def _status(settings: Settings) -> dict[str, Any]:
    return collect_status(settings, kafka_timeout_s=0.3, now=NOW)


def _write_models(settings: Settings) -> None:
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    write_deltalake(
        settings.table_path("gold_ml"),
        pd.DataFrame(
            {
                "run_id": ["a", "b", "c"],
                "trained_at": [t0, t0 + timedelta(minutes=5), t0 + timedelta(minutes=10)],
                "status": ["ok", "ok", "skipped"],
                "reason": [None, None, "only 3 labelled bars"],
                "auc": [0.51, 0.57, None],
                "auc_ci_low": [0.40, 0.52, None],
                "auc_ci_high": [0.62, 0.62, None],
                "auc_p_value": [0.8, 0.004, None],
                "train_rows": [40, 50, 0],
                "test_rows": [10, 12, 0],
                "extra_column": [1, 2, 3],  # other writers may add columns
            }
        ),
    )
    old, new = t0, t0 + timedelta(minutes=9)
    rows = [  # (run, time, symbol, strategy, agent, buy&hold, exposure, excess, ci, trades)
        ("old", old, "AAPL", "q_learning", -0.1, 0.0, 0.5, -0.1, (-0.2, 0.0), 3),
        ("new", new, "MSFT", "classifier", 0.03, 0.02, 0.5, 0.02, (-0.01, 0.05), 5),
        ("new", new, "MSFT", "q_learning", 0.0, 0.02, 0.0, 0.0, (0.0, 0.0), 0),
        ("new", new, "AAPL", "classifier", 0.02, 0.04, 0.25, 0.01, (-0.02, 0.04), 4),
        ("new", new, "AAPL", "q_learning", 0.01, 0.04, 0.1, 0.006, (0.001, 0.011), 6),
    ]
    write_deltalake(
        settings.table_path("gold_rl"),
        pd.DataFrame(
            {
                "run_id": [r[0] for r in rows],
                "trained_at": [r[1] for r in rows],
                "symbol": [r[2] for r in rows],
                "strategy": [r[3] for r in rows],
                "initial_capital": [10_000.0] * len(rows),
                "final_portfolio_value": [10_000.0 * (1 + r[4]) for r in rows],
                "agent_return": [r[4] for r in rows],
                "buy_hold_return": [r[5] for r in rows],
                "exposure": [r[6] for r in rows],
                "excess_vs_exposure_matched": [r[7] for r in rows],
                "excess_ci_low": [r[8][0] for r in rows],
                "excess_ci_high": [r[8][1] for r in rows],
                "trades": [r[9] for r in rows],
                "never_traded": [r[9] == 0 for r in rows],
                "status": ["ok"] * len(rows),
            }
        ),
    )


def _write_quarantine(settings: Settings) -> None:
    reasons = [  # as the pipeline writes them: with the offending values
        "late: event time 2026-01-02 09:58:00 is behind the watermark 2026-01-02 09:59:30",
        "duplicate: this (symbol, timestamp) tick is already in silver",
        "late: event time 2026-01-02 09:57:00 is behind the watermark 2026-01-02 09:59:30",
        "price must be a positive finite number, got -1.0",
        "late: event time 2026-01-02 09:59:00 is behind the watermark 2026-01-02 09:59:30",
    ]
    write_deltalake(
        settings.table_path("quarantine"),
        pd.DataFrame(
            {
                "value": ["{}"] * 5,
                "reason": reasons,
                "reason_code": ["late", "duplicate", "late", "not_positive", "late"],
                "date": [date(2026, 1, 2)] * 5,
            }
        ),
        partition_by=["date"],
    )


def test_an_empty_lake_reports_every_table_missing(settings: Settings) -> None:
    report = _status(settings)

    assert set(report["tables"]) == set(TABLES)
    for table in report["tables"].values():
        assert table == {
            "exists": False,
            "rows": 0,
            "version": None,
            "last_commit": None,
            "files": 0,
            "size_bytes": 0,
            "error": None,
        }
    assert all(s["source"] is None for s in report["streams"].values())
    assert report["models"]["runs"] == 0 and report["models"]["auc"] is None
    assert report["trader"]["symbols"] == []
    assert report["quarantine_by_reason_code"] == {}
    assert report["market"] == {"clocks": {}, "live_bars": [], "error": None}
    assert report["kafka"]["reachable"] is False
    json.dumps(report, allow_nan=False)  # strict JSON, no default= needed
    text = render_status(report)
    assert "missing" in text and "not reachable" in text and "no training run yet" in text


def test_the_json_keys_are_a_stable_contract(settings: Settings) -> None:
    _write_models(settings)
    report = _status(settings)

    assert report["format"] == STATUS_FORMAT
    assert set(report) == {
        "format",
        "generated_at",
        "lake_root",
        "kafka",
        "tables",
        "streams",
        "service",
        "market",
        "models",
        "trader",
        "maintenance",
        "quarantine_by_reason_code",
    }
    assert set(report["kafka"]) == {
        "bootstrap_servers",
        "topic",
        "reachable",
        "error",
        "partitions",
        "end_offset_total",
    }
    assert all(set(t) == TABLE_KEYS for t in report["tables"].values())
    assert set(report["streams"]) == {"ingest", "gold"}
    assert all(set(s) == STREAM_KEYS for s in report["streams"].values())
    assert set(report["models"]) == {
        "runs",
        "auc",
        "auc_ci_low",
        "auc_ci_high",
        "auc_p_value",
        "auc_run_id",
        "auc_trained_at",
        "latest",
        "error",
    }
    assert set(report["trader"]) == {
        "runs",
        "run_id",
        "trained_at",
        "gold_version",
        "initial_capital",
        "symbols",
        "error",
    }
    entry = report["trader"]["symbols"][0]
    assert {"strategy", "agent_return", "exposure", "excess_vs_exposure_matched"} <= set(entry)
    assert {"excess_ci_low", "excess_ci_high", "trades", "never_traded"} <= set(entry)
    assert not {"total_return", "excess_return"} & set(entry)
    assert set(report["maintenance"]) == {
        "runs",
        "run_id",
        "started_at",
        "finished_at",
        "status",
        "tables",
        "failed_tables",
        "files_vacuumed",
        "rows_deleted",
        "folders_removed",
        "vacuum_retention",
        "error",
    }


def test_rows_version_and_commit_time_come_from_the_log_alone(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_deltalake(path, pd.DataFrame({"x": [1, 2, 3], "d": ["a", "a", "b"]}), partition_by=["d"])
    write_deltalake(path, pd.DataFrame({"x": [4, 5], "d": ["b", "b"]}), mode="append")
    table = DeltaTable(path)
    expected_commit = parse_time(table.history(1)[0]["timestamp"])
    for file in tmp_path.glob("t/d=*/*.parquet"):  # no data file is needed to answer
        file.unlink()

    summary = table_summary(path).to_json()

    assert summary["exists"] is True
    assert summary["rows"] == 5
    assert summary["version"] == 1
    assert summary["files"] == 3
    assert expected_commit is not None
    assert summary["last_commit"] == expected_commit.isoformat()


def test_files_without_statistics_are_counted_from_footers_and_deletions_subtracted(
    tmp_path: Path,
) -> None:
    pq.write_table(pa.table({"x": list(range(7))}), tmp_path / "nostats.parquet")
    actions = pa.table(
        {
            "path": ["with-stats.parquet", "nostats.parquet"],
            "num_records": pa.array([10, None], pa.int64()),
            "deletionVector.cardinality": pa.array([2, None], pa.int64()),
        }
    )

    assert _rows_from_actions(actions, str(tmp_path)) == 10 + 7 - 2


def test_a_stream_reports_its_progress_file_with_the_lag_spark_saw_when_kafka_is_down(
    settings: Settings,
) -> None:
    folder = Path(settings.lake_root) / "_status" / "streams"
    folder.mkdir(parents=True)
    progress = {
        "id": "q",
        "runId": "r",
        "name": "ingest",
        "timestamp": "2026-01-02T11:59:50.000Z",
        "batchId": 41,
        "numInputRows": 300,
        "inputRowsPerSecond": 150.0,
        "processedRowsPerSecond": 600.0,
        "durationMs": {"triggerExecution": 500},
        "sources": [
            {
                "description": "KafkaV2[Subscribe[ticks]]",
                "endOffset": json.dumps({"ticks": {"0": 100, "1": 50}}),  # text form
                "latestOffset": {"ticks": {"0": 120, "1": 55}},  # object form
            }
        ],
        "sink": {},
    }
    (folder / "ingest.json").write_text(json.dumps(progress))
    down = TopicOffsets("ticks", error="Kafka did not answer")

    stream = stream_status(settings, "ingest", down, {}, NOW).to_json()

    assert stream["source"] == "progress"
    assert stream["batch_id"] == 41
    assert stream["last_batch"] == "2026-01-02T11:59:50+00:00"
    assert stream["last_batch_age_s"] == 10.0
    assert stream["input_rows_per_s"] == 150.0
    assert (stream["lag"], stream["lag_unit"], stream["lag_source"]) == (25, "messages", "progress")
    assert stream["lag_by_partition"] == {"0": 20, "1": 5}
    assert stream["last_batch_duration_s"] == 0.5
    assert "Kafka did not answer" in stream["lag_note"]


def test_a_stream_without_progress_falls_back_to_its_checkpoint_and_live_kafka_offsets(
    settings: Settings,
) -> None:
    checkpoint = Path(settings.checkpoint_path("ingest"))
    (checkpoint / "commits").mkdir(parents=True)
    (checkpoint / "offsets").mkdir()
    for batch, offsets in ((2, {"0": 5, "1": 5}), (3, {"0": 10, "1": 7})):
        (checkpoint / "offsets" / str(batch)).write_text(
            f'v1\n{{"batchWatermarkMs":0,"batchTimestampMs":0}}\n{json.dumps({"ticks": offsets})}'
        )
        (checkpoint / "commits" / str(batch)).write_text('v1\n{"nextBatchWatermarkMs":0}')
    (checkpoint / "offsets" / "4").write_text("v1\n{}\n{}")  # planned, not committed yet
    live = TopicOffsets("ticks", {0: (0, 12), 1: (0, 7), 2: (3, 9)})

    stream = stream_status(settings, "ingest", live, {}, NOW).to_json()

    assert stream["source"] == "checkpoint"
    assert stream["batch_id"] == 3
    assert stream["last_batch"] is not None
    # partition 2 was never read: everything from its low watermark on is behind
    assert (stream["lag"], stream["lag_source"]) == (2 + 0 + 6, "kafka")
    assert stream["lag_by_partition"] == {"0": 2, "1": 0, "2": 6}


@pytest.mark.parametrize(
    ("reservoir_version", "index", "expected"),
    [(5, -1, 2), (6, -1, 1), (6, 2**63 - 100, 0), (7, -1, 0)],
)
def test_the_gold_stream_lag_counts_silver_versions_not_read_yet(
    settings: Settings, reservoir_version: int, index: int, expected: int
) -> None:
    checkpoint = Path(settings.checkpoint_path("gold"))
    (checkpoint / "commits").mkdir(parents=True)
    (checkpoint / "offsets").mkdir()
    offset = {
        "sourceVersion": 1,
        "reservoirId": "x",
        "reservoirVersion": reservoir_version,
        "index": index,
        "isStartingVersion": False,
    }
    (checkpoint / "offsets" / "0").write_text(f"v1\n{{}}\n{json.dumps(offset)}")
    (checkpoint / "commits" / "0").write_text("v1\n{}")
    silver = settings.table_path("silver")
    for version in range(7):  # versions 0..6 with data, then a compaction (version 7)
        write_deltalake(silver, pd.DataFrame({"x": [version]}), mode="append")
    DeltaTable(silver).optimize.compact()
    tables = {"silver": TableSummary(exists=True, version=7)}

    stream = stream_status(settings, "gold", TopicOffsets("ticks"), tables, NOW).to_json()

    # the compaction changed no data: Gold has nothing to read in it
    assert (stream["lag"], stream["lag_unit"]) == (expected, "versions")


def test_models_trader_and_quarantine_sections(settings: Settings) -> None:
    _write_models(settings)
    _write_quarantine(settings)

    report = _status(settings)

    models = report["models"]
    assert models["runs"] == 3
    assert models["latest"]["run_id"] == "c"
    assert models["latest"]["status"] == "skipped"
    assert (models["auc"], models["auc_run_id"]) == (0.57, "b")
    assert (models["auc_ci_low"], models["auc_ci_high"], models["auc_p_value"]) == (
        0.52,
        0.62,
        0.004,
    )
    trader = report["trader"]
    assert (trader["run_id"], trader["runs"]) == ("new", 2)
    rows = [(row["symbol"], row["strategy"]) for row in trader["symbols"]]
    assert rows == [
        ("AAPL", "q_learning"),
        ("AAPL", "classifier"),
        ("MSFT", "q_learning"),
        ("MSFT", "classifier"),
    ]
    aapl = trader["symbols"][0]
    assert aapl["final_portfolio_value"] == pytest.approx(10_100.0)
    assert (aapl["excess_ci_low"], aapl["excess_ci_high"]) == (0.001, 0.011)
    assert trader["symbols"][2]["never_traded"] is True
    assert report["quarantine_by_reason_code"] == {"late": 3, "duplicate": 1, "not_positive": 1}
    assert report["tables"]["quarantine"]["rows"] == 5
    text = render_status(report)
    assert "latest AUC 0.570 [0.520, 0.620], p = 0.004" in text
    assert "+0.60% [+0.10%, +1.10%]" in text  # AAPL q_learning: excess and its interval
    assert "never traded" in text
    assert "late 3" in text


def test_no_secret_reaches_the_report(tmp_path: Path) -> None:
    secret = "s3cr3t-Pa55word"
    settings = Settings(
        lake_root=str(tmp_path / "lake"),
        bootstrap_servers=NO_KAFKA,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="alice",
        sasl_password=SecretStr(secret),
    )

    report = _status(settings)

    assert secret not in json.dumps(report)
    assert secret not in render_status(report)


def test_a_progress_file_older_than_the_checkpoint_gives_way_to_it(settings: Settings) -> None:
    checkpoint = Path(settings.checkpoint_path("ingest"))
    (checkpoint / "commits").mkdir(parents=True)
    (checkpoint / "offsets").mkdir()
    (checkpoint / "offsets" / "7").write_text('v1\n{}\n{"ticks": {"0": 3}}')
    (checkpoint / "commits" / "7").write_text("v1\n{}")
    folder = Path(settings.lake_root) / "_status" / "streams"
    folder.mkdir(parents=True)
    old = {"timestamp": "2020-01-01T00:00:00Z", "batchId": 2, "durationMs": {"triggerExecution": 9}}
    (folder / "ingest.json").write_text(json.dumps(old))

    stream = stream_status(
        settings, "ingest", TopicOffsets("ticks", {0: (0, 3)}), {}, NOW
    ).to_json()

    assert (stream["source"], stream["batch_id"], stream["lag"]) == ("checkpoint", 7, 0)


def test_a_table_still_being_created_counts_as_missing(tmp_path: Path) -> None:
    (tmp_path / "t" / "_delta_log").mkdir(parents=True)

    summary = table_summary(str(tmp_path / "t")).to_json()

    assert (summary["exists"], summary["error"]) == (False, None)


def test_the_last_maintenance_run_is_summed_over_its_tables(settings: Settings) -> None:
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    runs = [  # (run, started, table, files vacuumed, rows deleted, folders, status, error)
        ("m1", t0, "bronze", 10, None, None, "ok", None),
        ("m2", t0 + timedelta(hours=1), "bronze", 4, None, None, "ok", None),
        ("m2", t0 + timedelta(hours=1), "gold_predictions", 1, 250, None, "ok", None),
        ("m2", t0 + timedelta(hours=1), "models", None, None, 3, "failed", "disk full"),
    ]
    write_deltalake(
        settings.table_path("maintenance"),
        pd.DataFrame(
            {
                "run_id": [r[0] for r in runs],
                "started_at": [r[1] for r in runs],
                "finished_at": [r[1] + timedelta(seconds=30) for r in runs],
                "table_name": [r[2] for r in runs],
                "compacted": [True] * len(runs),
                "files_vacuumed": pd.array([r[3] for r in runs], dtype="Int64"),
                "rows_deleted": pd.array([r[4] for r in runs], dtype="Int64"),
                "folders_removed": pd.array([r[5] for r in runs], dtype="Int64"),
                "vacuum_retention": ["7 days"] * len(runs),
                "status": [r[6] for r in runs],
                "error": [r[7] for r in runs],
            }
        ),
    )

    report = _status(settings)

    maintenance = report["maintenance"]
    assert (maintenance["runs"], maintenance["run_id"], maintenance["tables"]) == (2, "m2", 3)
    assert maintenance["status"] == "failed"
    assert maintenance["failed_tables"] == {"models": "disk full"}
    assert (maintenance["files_vacuumed"], maintenance["rows_deleted"]) == (5, 250)
    assert maintenance["folders_removed"] == 3
    assert maintenance["finished_at"] == "2026-01-02T11:00:30+00:00"
    text = render_status(report)
    assert "last run m2 at 2026-01-02 11:00:30 UTC: failed, 3 tables, 5 files vacuumed" in text
    assert "failed: models: disk full" in text


def test_the_service_state_is_reported_with_what_it_waits_for(settings: Settings) -> None:
    assert _status(settings)["service"] is None
    waiting = "topic 'ticks' does not exist on 127.0.0.1:1"
    write_state(settings.lake_root, ServiceState.WAITING, waiting, local=True)

    report = _status(settings)

    service = report["service"]
    assert (service["state"], service["detail"]) == ("waiting", waiting)
    assert parse_time(service["since"]) is not None
    assert f"waiting for Kafka: {waiting} since" in render_status(report)


def test_a_running_service_reports_where_its_spark_ui_and_metrics_are(
    settings: Settings,
) -> None:
    ui, metrics = "http://127.0.0.1:4041", "http://127.0.0.1:9108/metrics"
    write_state(
        settings.lake_root, ServiceState.RUNNING, local=True, spark_ui_url=ui, metrics_url=metrics
    )

    report = _status(settings)

    assert (report["service"]["spark_ui_url"], report["service"]["metrics_url"]) == (ui, metrics)
    assert f"Spark UI  {ui}" in render_status(report)
    assert dashboard_data.service_addresses(report["service"]) == (
        f"[Spark UI]({ui}) · [metrics]({metrics})"
    )
    write_state(settings.lake_root, ServiceState.STOPPED, local=True)
    stopped = _status(settings)["service"]
    assert (stopped["spark_ui_url"], stopped["metrics_url"]) == (None, None)
    assert dashboard_data.service_addresses(stopped) == ""


def test_each_symbols_clock_and_open_bar(settings: Settings) -> None:
    t0 = datetime(2026, 1, 2, 9, 0)
    write_deltalake(
        settings.table_path("silver"),
        pd.DataFrame(
            {  # MSFT is backfilled hours behind AAPL: each has its own clock
                "symbol": ["AAPL", "MSFT", "AAPL", "MSFT"],
                "event_time": [t0, t0 - timedelta(hours=2), t0 + timedelta(seconds=50), t0],
                "price": [10.0, 20.0, 11.0, 21.0],
                "date": [date(2026, 1, 2)] * 4,
            }
        ),
        partition_by=["date"],
    )
    write_deltalake(
        settings.table_path("gold_live"),
        pd.DataFrame(
            {
                "symbol": ["AAPL"],
                "window_start": [t0],
                "window_end": [t0 + timedelta(minutes=1)],
                "open": [10.0],
                "high": [11.5],
                "low": [9.5],
                "close": [11.0],
                "total_volume": [300],
                "tick_count": [2],
                "last_tick_at": [t0 + timedelta(seconds=50)],
            }
        ),
        partition_by=["symbol"],
    )

    report = _status(settings)

    market = report["market"]
    assert market["clocks"] == {
        "AAPL": "2026-01-02T09:00:50+00:00",
        "MSFT": "2026-01-02T09:00:00+00:00",
    }
    assert [(bar["symbol"], bar["close"], bar["tick_count"]) for bar in market["live_bars"]] == [
        ("AAPL", 11.0, 2)
    ]
    text = render_status(report)
    assert "AAPL    clock 2026-01-02 09:00:50 UTC; open bar from 09:00:00: O 10.00" in text
    assert "MSFT    clock 2026-01-02 09:00:00 UTC" in text
