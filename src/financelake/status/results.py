"""The result tables in the status report: the classifier's runs (gold_ml), the trader's newest
run (gold_rl, one entry per symbol and strategy) and the last maintenance run (maintenance).

Every figure that has an interval is reported with it: the AUC with its 95% DeLong interval and
p-value against 0.5, a strategy's excess over its exposure-matched buy-and-hold with its 95%
block-bootstrap interval. An unreadable table gives its error in its section, not an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from financelake.config import Settings
from financelake.lake.read import read_table
from financelake.lake.values import integer, json_ready, number, parse_time

MODEL_COLUMNS = (
    "run_id",
    "trained_at",
    "status",
    "reason",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "auc_p_value",
    "gold_version",
    "train_rows",
    "test_rows",
    "test_positive_rate",
)
TRADER_METRICS = (
    "strategy",
    "status",
    "reason",
    "final_portfolio_value",
    "agent_return",
    "buy_hold_return",
    "hold_return",
    "random_return",
    "exposure",
    "exposure_matched_return",
    "excess_vs_exposure_matched",
    "excess_ci_low",
    "excess_ci_high",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_s",
    "trades",
    "never_traded",
    "win_rate",
    "fees_paid",
    "calendar",
    "q_table_source",
)
# The agent first, then the classifier's signal; a strategy unknown here sorts after both.
STRATEGY_ORDER = ("q_learning", "classifier")
FAILED = "failed"
"""A run or maintenance step's status when it raised an error."""


@dataclass(frozen=True)
class ModelsStatus:
    """The classifier's runs: how many, the newest, and the newest successful AUC with its
    95% interval and p-value against 0.5."""

    runs: int = 0
    auc: float | None = None
    auc_ci_low: float | None = None
    auc_ci_high: float | None = None
    auc_p_value: float | None = None
    auc_run_id: str | None = None
    auc_trained_at: datetime | None = None
    latest: dict[str, Any] | None = None  # MODEL_COLUMNS of the newest run
    error: str | None = None


@dataclass(frozen=True)
class TraderStatus:
    """The trader's newest run: one entry per symbol and strategy, with its figures."""

    runs: int = 0
    run_id: str | None = None
    trained_at: datetime | None = None
    gold_version: int | None = None
    initial_capital: float | None = None
    symbols: list[dict[str, Any]] = field(default_factory=list)  # symbol + TRADER_METRICS
    error: str | None = None


@dataclass(frozen=True)
class MaintenanceStatus:
    """The newest maintenance run: when, whether every table's step worked, what it removed."""

    runs: int = 0
    run_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    status: str | None = None  # ok, or failed when any table's step failed
    tables: int = 0
    failed_tables: dict[str, str | None] = field(default_factory=dict)  # table -> its error
    files_vacuumed: int | None = None
    rows_deleted: int | None = None
    folders_removed: int | None = None
    vacuum_retention: str | None = None
    error: str | None = None


def _unreadable(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def newest_first(rows: list[dict[str, Any]], time_key: str = "trained_at") -> list[dict[str, Any]]:
    """Rows sorted by `time_key`, newest first (rows without a time last), then by run_id."""
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(
        rows,
        key=lambda row: (parse_time(row.get(time_key)) or epoch, str(row.get("run_id"))),
        reverse=True,
    )


def models_status(settings: Settings) -> ModelsStatus:
    """The classifier's section, from gold_ml."""
    try:
        table = read_table(settings.table_path("gold_ml"), MODEL_COLUMNS)
    except Exception as exc:
        return ModelsStatus(error=_unreadable(exc))
    runs = newest_first(table.to_pylist()) if table is not None else []
    if not runs:
        return ModelsStatus()
    latest = {key: json_ready(runs[0].get(key)) for key in MODEL_COLUMNS}
    scored = next(
        (r for r in runs if r.get("status", "ok") == "ok" and number(r.get("auc")) is not None),
        None,
    )
    if scored is None:
        return ModelsStatus(runs=len(runs), latest=latest)
    return ModelsStatus(
        runs=len(runs),
        auc=number(scored.get("auc")),
        auc_ci_low=number(scored.get("auc_ci_low")),
        auc_ci_high=number(scored.get("auc_ci_high")),
        auc_p_value=number(scored.get("auc_p_value")),
        auc_run_id=json_ready(scored.get("run_id")),
        auc_trained_at=parse_time(scored.get("trained_at")),
        latest=latest,
    )


def _strategy_rank(row: dict[str, Any]) -> tuple[str, int, str]:
    strategy = str(row.get("strategy"))
    rank = STRATEGY_ORDER.index(strategy) if strategy in STRATEGY_ORDER else len(STRATEGY_ORDER)
    return str(row.get("symbol")), rank, strategy


def trader_status(settings: Settings) -> TraderStatus:
    """The trader's section, from gold_rl's newest run."""
    try:
        table = read_table(settings.table_path("gold_rl"))
    except Exception as exc:
        return TraderStatus(error=_unreadable(exc))
    if table is None or table.num_rows == 0:
        return TraderStatus()
    rows = newest_first(table.to_pylist())
    newest = rows[0]
    entries = sorted(
        (r for r in rows if r.get("run_id") == newest.get("run_id")), key=_strategy_rank
    )
    return TraderStatus(
        runs=len({row.get("run_id") for row in rows}),
        run_id=json_ready(newest.get("run_id")),
        trained_at=parse_time(newest.get("trained_at")),
        gold_version=json_ready(newest.get("gold_version")),
        initial_capital=number(newest.get("initial_capital")),
        symbols=[
            {"symbol": json_ready(row.get("symbol"))}
            | {key: json_ready(row.get(key)) for key in TRADER_METRICS}
            for row in entries
        ],
    )


def _total(rows: list[dict[str, Any]], key: str) -> int | None:
    """The sum of a count over tables; None when no table reported it."""
    counts = [integer(row.get(key)) for row in rows]
    known = [count for count in counts if count is not None]
    return sum(known) if known else None


def maintenance_status(settings: Settings) -> MaintenanceStatus:
    """The maintenance section, from the maintenance table's newest run."""
    try:
        table = read_table(settings.table_path("maintenance"))
    except Exception as exc:
        return MaintenanceStatus(error=_unreadable(exc))
    if table is None or table.num_rows == 0:
        return MaintenanceStatus()
    rows = newest_first(table.to_pylist(), time_key="started_at")
    newest = rows[0]
    mine = [row for row in rows if row.get("run_id") == newest.get("run_id")]
    failed = {
        str(row.get("table_name")): row.get("error") for row in mine if row.get("status") != "ok"
    }
    finished = [parse_time(row.get("finished_at")) for row in mine]
    return MaintenanceStatus(
        runs=len({row.get("run_id") for row in rows}),
        run_id=json_ready(newest.get("run_id")),
        started_at=parse_time(newest.get("started_at")),
        finished_at=max((f for f in finished if f is not None), default=None),
        status=FAILED if failed else "ok",
        tables=len(mine),
        failed_tables=failed,
        files_vacuumed=_total(mine, "files_vacuumed"),
        rows_deleted=_total(mine, "rows_deleted"),
        folders_removed=_total(mine, "folders_removed"),
        vacuum_retention=json_ready(newest.get("vacuum_retention")),
    )
