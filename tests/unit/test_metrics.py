"""`/metrics` on a tiny lake written with delta-rs, scraped over real HTTP: no Spark, no Kafka."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from deltalake import write_deltalake
from support import scrape

from financelake.config import Settings
from financelake.errors import ConfigError
from financelake.kafka.broker import free_port
from financelake.metrics import MetricsServer, serve_metrics
from financelake.transforms.quality import ReasonCode

NO_KAFKA = "127.0.0.1:1"  # nothing listens there: connection refused at once


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        lake_root=str(tmp_path / "lake"),
        bootstrap_servers=NO_KAFKA,
        topic="ticks",
        metrics_port=free_port(),
    )


@pytest.fixture
def server(settings: Settings) -> Iterator[MetricsServer]:
    served = serve_metrics(settings)
    assert served is not None
    yield served
    served.close()


def _write_lake(settings: Settings) -> None:
    day = date(2026, 1, 2)
    silver = pd.DataFrame({"symbol": ["AAPL", "MSFT", "AAPL"], "price": [1.0, 2.0, 3.0]})
    write_deltalake(settings.table_path("silver"), silver.assign(date=day), partition_by=["date"])
    write_deltalake(settings.table_path("silver"), silver.assign(date=day), mode="append")
    codes = ["late", "late", "not_json", None]  # None: a row from before codes existed
    write_deltalake(
        settings.table_path("quarantine"),
        pd.DataFrame({"reason_code": codes, "date": [day] * 4}),
        partition_by=["date"],
    )
    t0 = datetime(2026, 1, 2, 10, 0, tzinfo=UTC)
    write_deltalake(
        settings.table_path("gold_ml"),
        pd.DataFrame(
            {
                "run_id": ["a", "b"],
                "trained_at": [t0, t0 + timedelta(minutes=1)],
                "status": ["ok", "skipped"],
                "auc": [0.61, None],
                "auc_ci_low": [0.55, None],
                "auc_ci_high": [0.67, None],
            }
        ),
    )
    folder = Path(settings.lake_root) / "_status" / "streams"
    folder.mkdir(parents=True)
    progress = {
        "name": "ingest",
        "timestamp": "2026-01-02T11:59:50.000Z",
        "batchId": 41,
        "numInputRows": 300,
        "durationMs": {"triggerExecution": 1250},
        "sources": [{"endOffset": {"ticks": {"0": 100}}, "latestOffset": {"ticks": {"0": 120}}}],
    }
    (folder / "ingest.json").write_text(json.dumps(progress))


def test_a_scrape_reports_tables_quarantine_training_and_streams_from_the_lake(
    settings: Settings, server: MetricsServer
) -> None:
    _write_lake(settings)

    samples = scrape(server.url)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((f"financelake_{name}", tuple(sorted(labels.items()))))

    assert value("table_rows", table="silver") == 6
    assert value("table_version", table="silver") == 1
    assert value("table_exists", table="silver") == 1
    assert value("table_exists", table="gold") == 0
    assert value("table_rows", table="gold") is None
    assert value("quarantine_messages", reason_code="late") == 2
    assert value("quarantine_messages", reason_code="not_json") == 1
    assert value("quarantine_messages", reason_code="unknown") == 1
    assert value("quarantine_messages", reason_code="duplicate") == 0  # known, none yet
    assert all(value("quarantine_messages", reason_code=code) is not None for code in ReasonCode)
    assert value("training_runs") == 2
    assert value("training_last_status", status="skipped") == 1
    assert value("training_last_status", status="ok") is None
    assert value("training_auc") == pytest.approx(0.61)  # the newest run that scored
    assert (value("training_auc_ci_low"), value("training_auc_ci_high")) == (0.55, 0.67)
    assert value("stream_last_batch_duration_seconds", query="ingest") == 1.25
    assert value("stream_last_batch_id", query="ingest") == 41
    assert value("kafka_up") == 0
    # Kafka did not answer: no live lag is claimed per partition
    assert not [key for key in samples if key[0] == "financelake_kafka_lag_messages"]
    assert value("scrape_errors") == 0
    assert samples[("process_resident_memory_bytes", ())] > 0  # the process collector


def test_an_empty_lake_scrapes_without_errors(settings: Settings, server: MetricsServer) -> None:
    samples = scrape(server.url)

    assert samples[("financelake_table_exists", (("table", "silver"),))] == 0
    assert samples[("financelake_training_runs", ())] == 0
    assert samples[("financelake_scrape_errors", ())] == 0


def test_port_zero_serves_nothing(settings: Settings) -> None:
    assert serve_metrics(settings.model_copy(update={"metrics_port": 0})) is None


def test_a_taken_port_names_the_flag_to_change(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", settings.metrics_port))
        taken.listen()
        with pytest.raises(ConfigError, match="--metrics-port"):
            serve_metrics(settings)
