"""The broker goes away for 30 s mid-stream and comes back: the service waits, says so in its
status, resumes, and every tick lands in Bronze and Silver exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import START, read_table, run_cli, start_service, status_json, table_rows

from financelake.children import wait_until
from financelake.config import REPO_ROOT, Settings
from financelake.kafka.broker import EmbeddedBroker, free_port
from financelake.market.publisher import PublishReport, publish
from financelake.market.simulator import simulate_ticks
from financelake.service import SHUTDOWN_BUDGET_S

# Several minutes on a busy machine (a service start, a 30 s outage, a catch-up): `make faults`.
pytestmark = pytest.mark.faults
OUTAGE_S = 30.0


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (the session's must stay up for the other tests)."""
    broker = EmbeddedBroker(
        data_dir=tmp_path / "kafka", port=free_port(), jars_dir=REPO_ROOT / ".jars"
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_a_30_s_broker_outage_mid_stream_loses_and_duplicates_nothing(
    settings: Settings, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # The producer keeps undelivered ticks queued for 3 x 40 s, well past the outage.
    settings = settings.model_copy(
        update={
            "bootstrap_servers": own_broker.address,
            "kafka_data_dir": own_broker.data_dir,
            "kafka_timeout_s": 40.0,
        }
    )
    ticks = list(
        simulate_ticks(("AAPL", "MSFT", "GOOG"), model="trend", seed=3, start=START,
                       count=6000, tick_interval_s=1.0)
    )  # fmt: skip
    before, during, after = ticks[:2000], ticks[2000:4000], ticks[4000:]
    assert publish(before, settings).ok

    log = tmp_path / "service.log"
    service = start_service(settings, log, silver_rows=2000)
    try:
        # Ticks keep coming (50 a second) while the broker stops, stays away and restarts.
        reports: list[PublishReport] = []
        feeder = threading.Thread(
            target=lambda: reports.append(publish(during, settings, rate=50)), name="feeder"
        )
        feeder.start()
        wait_until(
            lambda: table_rows(settings, "silver") > 2000,
            240,
            "live ticks in",
            children=[service],
            log_path=log,
        )
        assert own_broker.stop()
        outage_ends = time.monotonic() + OUTAGE_S
        seen: list[dict[str, object]] = []
        while time.monotonic() < outage_ends or not seen:
            report = status_json(settings)  # a second or two each: the status polls itself
            assert service.poll() is None, log.read_text()[-4000:]
            assert report["kafka"]["reachable"] is False, report["kafka"]
            seen.append(report["service"])
        assert seen[-1]["state"] == "waiting", seen
        assert "Kafka" in str(seen[-1]["detail"]), seen
        check = run_cli(["status", "--check"], settings)
        assert check.returncode == 1 and "unreachable" in check.stdout, check.stdout

        own_broker.start()  # same data directory and port
        feeder.join(timeout=180)
        assert not feeder.is_alive() and reports[0].ok, reports
        assert publish(after, settings).ok
        wait_until(
            lambda: table_rows(settings, "silver") >= 6000,
            240,
            "all ticks in",
            children=[service],
            log_path=log,
        )
        wait_until(
            lambda: status_json(settings)["service"]["state"] == "running",
            240,
            "running again",
            children=[service],
            log_path=log,
        )
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=SHUTDOWN_BUDGET_S + 15) == 0, log.read_text()[-4000:]
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()

    bronze = read_table(settings, "bronze")
    assert len(bronze) == 6000
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
    silver = read_table(settings, "silver")
    assert len(silver) == 6000
    assert sorted(zip(silver.symbol, silver.price, strict=True)) == sorted(
        (t.symbol, t.price) for t in ticks
    )
    assert silver.groupby(["symbol", "event_time"]).size().max() == 1
    assert read_table(settings, "quarantine").empty
