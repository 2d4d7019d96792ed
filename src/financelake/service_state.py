"""What the service is doing right now, as one small JSON file `status` reads without a JVM.

Streams publish their own progress (streams/progress.py); this file says what no stream can:
that the service is waiting for its broker or topic, and since when, and where a running
service serves its Spark UI and its Prometheus metrics (the dashboard links to both).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

log = logging.getLogger(__name__)


class ServiceState(StrEnum):
    WAITING = "waiting"  # for the broker or the topic; `detail` says which
    RUNNING = "running"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ServiceStatus:
    state: ServiceState
    detail: str
    since: str  # ISO 8601, UTC
    spark_ui_url: str | None = None
    metrics_url: str | None = None


def state_file(lake_root: str) -> Path:
    return Path(lake_root) / "_status" / "service.json"


def write_state(
    lake_root: str,
    state: ServiceState,
    detail: str = "",
    *,
    local: bool,
    spark_ui_url: str | None = None,
    metrics_url: str | None = None,
) -> None:
    """Record the service's state (local lakes only; never fails the service)."""
    if not local:
        return
    path = state_file(lake_root)
    now = datetime.now(UTC).isoformat()
    status = ServiceStatus(state, detail, now, spark_ui_url, metrics_url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(status)))
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the service state: %s", exc)


def read_state(lake_root: str) -> ServiceStatus | None:
    try:
        raw = json.loads(state_file(lake_root).read_text())
        return ServiceStatus(
            ServiceState(raw["state"]),
            raw["detail"],
            raw["since"],
            raw.get("spark_ui_url"),  # files written before the addresses were recorded lack
            raw.get("metrics_url"),  # them
        )
    except (OSError, ValueError, KeyError):
        return None
