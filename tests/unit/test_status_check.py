"""`financelake status --check`: the health decision on typed reports, and the command itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from financelake.cli import main
from financelake.service_state import ServiceState
from financelake.status.check import check_status
from financelake.status.market import MarketStatus
from financelake.status.report import KafkaStatus, ServiceInfo, StatusReport
from financelake.status.results import MaintenanceStatus, ModelsStatus, TraderStatus
from financelake.status.streams import LagSource, LagUnit, StreamSource, StreamStatus

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
LIMITS = {"max_lag": 1_000, "stale_s": 120.0}


def _stream(lag: int, age_s: float, unit: LagUnit = LagUnit.MESSAGES) -> StreamStatus:
    return StreamStatus(
        source=StreamSource.PROGRESS,
        batch_id=7,
        last_batch=NOW,
        last_batch_age_s=age_s,
        lag=lag,
        lag_unit=unit,
        lag_source=LagSource.KAFKA if unit is LagUnit.MESSAGES else LagSource.DELTA_LOG,
    )


def _healthy() -> StatusReport:
    return StatusReport(
        generated_at=NOW,
        lake_root="/lake",
        kafka=KafkaStatus("broker:9092", "ticks", True, None, 4, 5_000),
        tables={},
        streams={
            "ingest": _stream(lag=20, age_s=1.0),
            "gold": _stream(lag=1, age_s=8.0, unit=LagUnit.VERSIONS),
        },
        service=ServiceInfo(ServiceState.RUNNING, "", NOW, 3600.0),
        models=ModelsStatus(runs=1, latest={"run_id": "r1", "status": "ok"}),
        trader=TraderStatus(),
        maintenance=MaintenanceStatus(),
        market=MarketStatus(),
        quarantine_by_reason_code={},
    )


def test_a_healthy_report_says_ok() -> None:
    result = check_status(_healthy(), **LIMITS)

    assert (result.healthy, result.exit_code, result.line) == (True, 0, "ok")


def test_idle_streams_with_nothing_waiting_are_not_stale() -> None:
    report = replace(_healthy(), streams={"ingest": _stream(lag=0, age_s=86_400.0)})

    assert check_status(report, **LIMITS).healthy


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"kafka": KafkaStatus("broker:9092", "ticks", False, "did not answer", None, None)},
            "Kafka at broker:9092 unreachable (did not answer)",
        ),
        (
            {"streams": {"ingest": _stream(lag=5, age_s=600.0)}},
            "stream ingest is stale: no batch for 600 s (limit 120 s) with 5 messages waiting",
        ),
        (
            {"streams": {"gold": _stream(lag=2, age_s=121.0, unit=LagUnit.VERSIONS)}},
            "stream gold is stale: no batch for 121 s (limit 120 s) with 2 Silver versions waiting",
        ),
        (
            {"streams": {"ingest": _stream(lag=1_001, age_s=1.0)}},
            "stream ingest is 1,001 messages behind (limit 1,000)",
        ),
        (
            {"service": ServiceInfo(ServiceState.STOPPED, "", NOW, 5.0)},
            "the service stopped at 2026-01-02 12:00:00 UTC",
        ),
        (
            {
                "models": ModelsStatus(
                    runs=2, latest={"run_id": "r2", "status": "failed", "reason": "OOM"}
                )
            },
            "the last training run r2 failed: OOM",
        ),
    ],
    ids=["broker", "stale-ingest", "stale-gold", "lag", "service-stopped", "training-failed"],
)
def test_each_reason_makes_the_check_fail_in_one_line(
    change: dict[str, object], reason: str
) -> None:
    result = check_status(replace(_healthy(), **change), **LIMITS)  # type: ignore[arg-type]

    assert result.problems == (reason,)
    assert result.exit_code == 1
    assert result.line == f"unhealthy: {reason}"
    assert "\n" not in result.line


def test_several_reasons_share_the_one_line() -> None:
    report = replace(
        _healthy(),
        kafka=KafkaStatus("b:1", "ticks", False, "refused", None, None),
        models=ModelsStatus(runs=1, latest={"run_id": "r", "status": "failed"}),
    )

    result = check_status(report, **LIMITS)

    assert len(result.problems) == 2
    assert result.line.count("\n") == 0 and "; " in result.line


def test_a_waiting_or_skipping_service_is_judged_by_what_it_waits_for() -> None:
    waiting = ServiceInfo(ServiceState.WAITING, "topic 'ticks' does not exist", NOW, 30.0)
    skipped = ModelsStatus(runs=1, latest={"run_id": "r", "status": "skipped"})

    assert check_status(replace(_healthy(), service=waiting, models=skipped), **LIMITS).healthy


def test_the_command_exits_1_with_one_line_when_the_broker_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["status", "--check", "--lake-root", str(tmp_path / "lake")]
    exit_code = main([*argv, "--bootstrap-servers", "127.0.0.1:1", "--topic", "ticks"])

    out = capsys.readouterr().out
    assert exit_code == 1
    assert out.count("\n") == 1
    assert out.startswith("unhealthy: Kafka at 127.0.0.1:1 unreachable")
