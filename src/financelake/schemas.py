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

TICK_FIELDS = ("symbol", "price", "volume", "open", "high", "low", "timestamp")

# The JSON message as published; `timestamp` stays text until validated.
TICK_JSON = StructType(
    [
        StructField("symbol", StringType()),
        StructField("price", DoubleType()),
        StructField("volume", LongType()),
        StructField("open", DoubleType()),
        StructField("high", DoubleType()),
        StructField("low", DoubleType()),
        StructField("timestamp", StringType()),
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
    ]
)

QUARANTINE = StructType(
    [
        StructField("value", StringType()),
        StructField("value_base64", StringType()),
        *KAFKA_COORDINATES,
        StructField("reason", StringType(), False),
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
        StructField("open", DoubleType(), False),
        StructField("high", DoubleType(), False),
        StructField("low", DoubleType(), False),
        StructField("price_range", DoubleType(), False),
        StructField("price_change_pct", DoubleType(), False),
        *KAFKA_COORDINATES,
        StructField("date", DateType(), False),
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
        StructField("avg_price_change", DoubleType(), False),
        StructField("last_tick_at", TimestampType(), False),
        StructField("date", DateType(), False),
    ]
)

GOLD_LIVE = GOLD
"""The bars still open (one or two per symbol), Gold's columns; replaced per symbol each batch."""

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
        StructField("fold_aucs", ArrayType(DoubleType(), False), False),
        StructField("features", ArrayType(StringType(), False), False),
        StructField("coefficients", ArrayType(DoubleType(), False), False),
        StructField("intercept", DoubleType()),
        StructField("model_path", StringType()),
    ]
)
"""One row per training run: what the classifier saw, how it split, how well it did."""

GOLD_PREDICTIONS = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("kind", StringType(), False),
        StructField("symbol", StringType(), False),
        StructField("window_start", TimestampType(), False),
        StructField("probability_up", DoubleType(), False),
        StructField("prediction", IntegerType(), False),
        StructField("label", IntegerType()),
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
        StructField("status", StringType(), False),
        StructField("reason", StringType()),
        StructField("initial_capital", DoubleType(), False),
        StructField("position_size", DoubleType(), False),
        StructField("fee_rate", DoubleType(), False),
        StructField("allow_short", BooleanType(), False),
        StructField("alpha", DoubleType(), False),
        StructField("gamma", DoubleType(), False),
        StructField("epsilon", DoubleType(), False),
        StructField("episodes", IntegerType(), False),
        StructField("final_portfolio_value", DoubleType()),
        StructField("total_return", DoubleType()),
        StructField("buy_hold_return", DoubleType()),
        StructField("sharpe", DoubleType()),
        StructField("max_drawdown", DoubleType()),
        StructField("trades", LongType()),
        StructField("closing_trades", LongType()),
        StructField("win_rate", DoubleType()),
        StructField("fees_paid", DoubleType()),
        StructField("train_bars", LongType()),
        StructField("test_bars", LongType()),
        StructField("test_start", TimestampType()),
        StructField("test_end", TimestampType()),
    ]
)
"""One row per symbol per run: the trader's parameters and its backtest metrics (null when the
symbol was skipped; win_rate null when no position was closed). `epsilon` is the exploration
rate the cycle started from (it decays, and carries over with the Q-table)."""

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
"""Per run and symbol: the trader's book at each test bar (action -1/0/1 actually traded)."""

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
    "QUARANTINE",
    "RESULT_TABLES",
    "SILVER",
    "TICK_FIELDS",
    "TICK_JSON",
]
