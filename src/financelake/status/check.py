"""`financelake status --check`: is the pipeline healthy? A decision on a typed status report,
in one line, for a person or a container health check (exit status 0 healthy, 1 not).

Unhealthy when the broker does not answer, a stream is stale (no batch for longer than
`check_stale_s` while its source has data waiting), the service recorded that it stopped, a
stream is more than `check_max_lag` Kafka messages behind, or the newest training run failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from financelake.config import Settings
from financelake.service_state import ServiceState
from financelake.status.report import StatusReport, status_report
from financelake.status.results import FAILED
from financelake.status.streams import LagUnit

OK_LINE = "ok"
# Kafka may take longer to answer a health check than an interactive `status` (2 s): on a busy
# machine a slow answer is not an outage. Within a container probe's 20 s timeout.
CHECK_KAFKA_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class CheckResult:
    """The problems found (none: healthy) and the one line that says so."""

    problems: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.healthy else 1

    @property
    def line(self) -> str:
        return OK_LINE if self.healthy else "unhealthy: " + "; ".join(self.problems)


def check_lake(settings: Settings) -> CheckResult:
    """`financelake status --check`: read the report of `settings`' lake and judge it."""
    report = status_report(settings, kafka_timeout_s=CHECK_KAFKA_TIMEOUT_S)
    return check_status(report, max_lag=settings.check_max_lag, stale_s=settings.check_stale_s)


def check_status(report: StatusReport, *, max_lag: int, stale_s: float) -> CheckResult:
    """What is wrong in `report`, judged with the lag and staleness limits."""
    problems: list[str] = []
    kafka = report.kafka
    if not kafka.reachable:
        problems.append(f"Kafka at {kafka.bootstrap_servers} unreachable ({kafka.error})")
    service = report.service
    if service is not None and service.state is ServiceState.STOPPED:
        problems.append(f"the service stopped at {_when(service.since)}")
    for query, stream in report.streams.items():
        waiting = stream.lag is not None and stream.lag > 0
        age = stream.last_batch_age_s
        if waiting and age is not None and age > stale_s:
            problems.append(
                f"stream {query} is stale: no batch for {age:.0f} s (limit {stale_s:g} s) "
                f"with {stream.lag:,} {_unit(stream.lag_unit)} waiting"
            )
        if stream.lag_unit is LagUnit.MESSAGES and stream.lag is not None and stream.lag > max_lag:
            problems.append(f"stream {query} is {stream.lag:,} messages behind (limit {max_lag:,})")
    latest = report.models.latest
    if latest is not None and latest.get("status") == FAILED:
        reason = f": {latest['reason']}" if latest.get("reason") else ""
        problems.append(f"the last training run {latest.get('run_id')} failed{reason}")
    return CheckResult(tuple(problems))


def _unit(unit: LagUnit | None) -> str:
    return "Silver versions" if unit is LagUnit.VERSIONS else "messages"


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
