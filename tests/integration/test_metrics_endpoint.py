"""The running service's `/metrics`, and Spark's own Prometheus endpoint, scraped over HTTP."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

from deltalake import DeltaTable
from support import MetricSamples, produce_raw, produce_ticks, read_table, scrape, start_cli

from financelake.children import wait_until
from financelake.config import Settings
from financelake.kafka.broker import free_port
from financelake.service import SHUTDOWN_BUDGET_S
from financelake.service_state import read_state
from financelake.spark import SPARK_PROMETHEUS_PATH

TICKS, NOT_JSON = 600, 3


def _rows(settings: Settings, table: str) -> int:
    try:
        return len(DeltaTable(settings.table_path(table)).to_pyarrow_table(columns=["offset"]))
    except Exception:  # not created yet
        return 0


def _lag(samples: MetricSamples) -> dict[str, float]:
    return {
        dict(labels)["partition"]: value
        for (name, labels), value in samples.items()
        if name == "financelake_kafka_lag_messages"
    }


def test_the_running_service_serves_metrics_that_match_the_lake_and_spark_serves_its_own(
    settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"metrics_port": free_port()})
    ticks = produce_ticks(settings, TICKS)
    produce_raw(settings, [b"not json"] * NOT_JSON + [t.to_json() for t in ticks[:5]])
    log = tmp_path / "service.log"
    service = start_cli(["run", "--no-train"], settings, log, FINANCELAKE_SPARK_UI="true")
    try:
        wait_until(
            lambda: _rows(settings, "bronze") == TICKS + NOT_JSON + 5, 600, "every message in",
            children=[service], log_path=log,
        )  # fmt: skip
        state = read_state(settings.lake_root)
        assert state is not None and state.state == "running", state
        assert state.metrics_url == f"http://127.0.0.1:{settings.metrics_port}/metrics"
        assert state.spark_ui_url, "the service records its Spark UI's address"

        # The progress file follows the batch's commit: wait until the lag has caught up and
        # the batch's progress (its duration) is out.
        samples: MetricSamples = {}
        ingest_duration = ("financelake_stream_last_batch_duration_seconds", (("query", "ingest"),))

        def caught_up() -> bool:
            nonlocal samples
            samples = scrape(state.metrics_url or "")
            lag = _lag(samples)
            return bool(lag) and sum(lag.values()) == 0 and ingest_duration in samples

        wait_until(caught_up, 60, "lag caught up", children=[service], log_path=log)

        def value(name: str, **labels: str) -> float | None:
            return samples.get((f"financelake_{name}", tuple(sorted(labels.items()))))

        assert len(_lag(samples)) == settings.topic_partitions  # one gauge per partition
        ends = [v for (n, _), v in samples.items() if n == "financelake_kafka_end_offset"]
        assert sum(ends) == TICKS + NOT_JSON + 5
        assert value("kafka_up") == 1
        for table in ("bronze", "silver", "quarantine"):
            delta = DeltaTable(settings.table_path(table))
            assert value("table_rows", table=table) == len(read_table(settings, table))
            assert value("table_version", table=table) == delta.version()
        quarantine = read_table(settings, "quarantine").reason_code.value_counts()
        assert quarantine["not_json"] == NOT_JSON
        for code, count in quarantine.items():
            assert value("quarantine_messages", reason_code=str(code)) == count
        duration = value("stream_last_batch_duration_seconds", query="ingest")
        assert duration is not None and duration > 0
        assert value("scrape_errors") == 0

        spark_pages = {}
        for path in (SPARK_PROMETHEUS_PATH, "/metrics/executors/prometheus"):
            with urllib.request.urlopen(state.spark_ui_url + path, timeout=30) as response:
                assert response.status == 200
                spark_pages[path] = response.read().decode()
        # the namespace is the app name; the ingest query reports its rates and latency
        driver = spark_pages[SPARK_PROMETHEUS_PATH]
        assert "metrics_financelake_driver_spark_streaming_ingest_latency" in driver, driver[:3000]
        assert "metrics_executor_memoryUsed_bytes" in spark_pages["/metrics/executors/prometheus"]
    finally:
        service.send_signal(signal.SIGTERM)
        exit_code = service.wait(timeout=SHUTDOWN_BUDGET_S + 15)
    assert exit_code == 0, log.read_text()[-4000:]
    stopped = read_state(settings.lake_root)
    assert stopped is not None and stopped.metrics_url is None
