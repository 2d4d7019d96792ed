"""Explicit schemas of the tick message and of every Delta table; nothing is inferred."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

TICK_FIELDS = ("symbol", "price", "volume", "timestamp")  # every tick must carry these
OPTIONAL_TICK_FIELDS = ("open", "high", "low", "trade_id")  # bar-style and trade-feed extras

# The JSON message as published; `timestamp` stays text (ISO or epoch digits) until validated.
TICK_JSON = StructType(
    [
        StructField("symbol", StringType()),
        StructField("price", DoubleType()),
        StructField("volume", LongType()),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("timestamp", StringType()),
        StructField("trade_id", StringType()),
    ]
)

KAFKA_COORDINATES = [
    StructField("topic", StringType(), False),
    StructField("partition", IntegerType(), False),
    StructField("offset", LongType(), False),
    StructField("kafka_timestamp", TimestampType(), False),
]

BRONZE = StructType(
    [
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
        *KAFKA_COORDINATES,
        StructField("ingested_at", TimestampType(), False),
        StructField("symbol", StringType()),
        StructField("price", DoubleType()),
        StructField("volume", LongType()),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("event_time", TimestampType()),
        StructField("date", DateType(), False),
        StructField("trade_id", StringType()),
    ]
)

QUARANTINE = StructType(
    [
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
        *KAFKA_COORDINATES,
        StructField("reason", StringType(), False),
        StructField("reason_code", StringType(), False),  # a transforms.quality.ReasonCode
        StructField("quarantined_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ]
)

SILVER = StructType(
    [
        StructField("symbol", StringType(), False),
        StructField("event_time", TimestampType(), False),
        StructField("price", DoubleType(), False),
        StructField("volume", LongType(), False),
        # null for trade ticks (no open/high/low), and so are the columns derived from them
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("price_range", DoubleType()),
        StructField("price_change_pct", DoubleType()),
        *KAFKA_COORDINATES,
        StructField("date", DateType(), False),
        StructField("trade_id", StringType()),
    ]
)

GOLD = StructType(
    [
        StructField("symbol", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("window_end", TimestampType(), False),
        StructField("open", DoubleType(), False),
        StructField("high", DoubleType(), False),
        StructField("low", DoubleType(), False),
        StructField("close", DoubleType(), False),
        StructField("avg_price", DoubleType(), False),
        StructField("price_volatility", DoubleType(), False),
        StructField("total_volume", LongType(), False),
        StructField("vwap", DoubleType(), False),
        StructField("tick_count", LongType(), False),
        StructField("avg_price_change", DoubleType()),  # null: trade ticks carry no open
        StructField("last_tick_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ]
)

GOLD_LIVE = GOLD
"""The bars still open (one or two per symbol), Gold's columns; replaced per symbol each batch."""

BAR_PRICES = ("symbol", "window_start", "window_end", "open", "high", "low", "close")
"""A Gold bar's key and its prices: the columns every reader of bars starts from."""

# The training cycle's result tables (written by training.py).
GOLD_ML = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("trained_at", TimestampType(), False),
        StructField("status", StringType(), False),
        StructField("reason", StringType()),
        StructField("gold_version", LongType(), False),
        StructField("watermark", TimestampType()),
        StructField("train_rows", LongType()),
        StructField("test_rows", LongType()),
        StructField("train_start", TimestampType()),
        StructField("train_end", TimestampType()),
        StructField("test_start", TimestampType()),
        StructField("test_end", TimestampType()),
        StructField("test_positive_rate", DoubleType()),
        StructField("auc", DoubleType()),
        StructField("auc_ci_low", DoubleType()),
        StructField("auc_ci_high", DoubleType()),
        StructField("auc_p_value", DoubleType()),
        StructField("fold_aucs", ArrayType(DoubleType(), False), False),
        StructField("features", ArrayType(StringType(), False), False),
        StructField("coefficients", ArrayType(DoubleType(), False), False),
        StructField("intercept", DoubleType()),
        StructField("model_path", StringType()),
        StructField("mlflow_run_id", StringType()),
    ]
)
"""One row per training run: what the classifier saw, how it split, how well it did. `status` ok
needs at least `min_test_rows` test rows with both classes, else skipped with the reason; the AUC
comes with a 95% DeLong interval and a two-sided p-value against 0.5. A cycle that raised is
status failed, its reason '<code>: <message>'. `mlflow_run_id` is the cycle's MLflow run (null
with tracking off)."""

GOLD_PREDICTIONS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("kind", StringType(), False),
        StructField("symbol", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("probability_up", DoubleType(), False),
        StructField("prediction", IntegerType(), False),
        StructField("label", IntegerType()),
        StructField("date", DateType(), False),  # of window_start: the table's partition
    ]
)
"""Per run: every test row (kind 'test', with its label) and each symbol's latest closed bar
(kind 'forward', label null: the signal for the bar that has not closed yet)."""

GOLD_RL = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("trained_at", TimestampType(), False),
        StructField("gold_version", LongType(), False),
        StructField("symbol", StringType(), False),
        StructField("strategy", StringType(), False),
        StructField("status", StringType(), False),
        StructField("reason", StringType()),
        StructField("initial_capital", DoubleType(), False),
        StructField("position_size", DoubleType(), False),
        StructField("fee_rate", DoubleType(), False),
        StructField("allow_short", BooleanType(), False),
        StructField("calendar", StringType(), False),
        StructField("alpha", DoubleType()),
        StructField("gamma", DoubleType()),
        StructField("epsilon", DoubleType()),
        StructField("episodes", IntegerType()),
        StructField("q_table_source", StringType()),
        StructField("signal_threshold", DoubleType()),
        StructField("final_portfolio_value", DoubleType()),
        StructField("agent_return", DoubleType()),
        StructField("buy_hold_return", DoubleType()),
        StructField("hold_return", DoubleType()),
        StructField("random_return", DoubleType()),
        StructField("exposure", DoubleType()),
        StructField("exposure_matched_return", DoubleType()),
        StructField("excess_vs_exposure_matched", DoubleType()),
        StructField("excess_ci_low", DoubleType()),
        StructField("excess_ci_high", DoubleType()),
        StructField("sharpe", DoubleType()),
        StructField("sortino", DoubleType()),
        StructField("calmar", DoubleType()),
        StructField("max_drawdown", DoubleType()),
        StructField("max_drawdown_duration_s", DoubleType()),
        StructField("trades", LongType()),
        StructField("never_traded", BooleanType()),
        StructField("closing_trades", LongType()),
        StructField("win_rate", DoubleType()),
        StructField("fees_paid", DoubleType()),
        StructField("train_bars", LongType()),
        StructField("test_bars", LongType()),
        StructField("test_start", TimestampType()),
        StructField("test_end", TimestampType()),
    ]
)
"""One row per run, symbol and strategy (`q_learning`: the agent; `classifier`: long while the
classifier's P(up) > signal_threshold): the book's parameters and the strategy's figures beside
its baselines (see rl/compare.py), null when skipped. `agent_return` is the strategy's own return;
`excess_vs_exposure_matched` = agent_return - exposure x buy_hold_return, with a 95% block-bootstrap
interval. alpha/gamma/epsilon/episodes and q_table_source (the table the run started from:
a snapshot path or "fresh") are the agent's, null for the classifier; `epsilon` is the exploration
rate the cycle started from (0 since the agent learns every action at every bar; rl/backtest.py)."""

GOLD_RL_EQUITY = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("symbol", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("action", IntegerType(), False),
        StructField("shares", DoubleType(), False),
        StructField("cash", DoubleType(), False),
        StructField("equity", DoubleType(), False),
    ]
)
"""Per run and symbol: the agent's book at each test bar (action -1/0/1 actually traded)."""

MAINTENANCE = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("started_at", TimestampType(), False),
        StructField("finished_at", TimestampType(), False),
        StructField("table_name", StringType(), False),
        StructField("compacted", BooleanType(), False),
        StructField("files_vacuumed", LongType()),
        StructField("rows_deleted", LongType()),
        StructField("folders_removed", LongType()),
        StructField("vacuum_retention", StringType(), False),
        StructField("status", StringType(), False),
        StructField("error", StringType()),
    ]
)
"""One row per maintenance run and table (`models` for the model folders): what was compacted,
vacuumed and expired, and whether it worked (written by maintenance.py)."""

RESULT_TABLES: dict[str, StructType] = {
    "gold_ml": GOLD_ML,
    "gold_predictions": GOLD_PREDICTIONS,
    "gold_rl": GOLD_RL,
    "gold_rl_equity": GOLD_RL_EQUITY,
}


__all__ = [
    "BRONZE",
    "GOLD",
    "GOLD_LIVE",
    "GOLD_ML",
    "GOLD_PREDICTIONS",
    "GOLD_RL",
    "GOLD_RL_EQUITY",
    "MAINTENANCE",
    "OPTIONAL_TICK_FIELDS",
    "QUARANTINE",
    "RESULT_TABLES",
    "SILVER",
    "TICK_FIELDS",
    "TICK_JSON",
]
