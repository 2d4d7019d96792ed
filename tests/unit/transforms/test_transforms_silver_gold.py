"""Silver routing (late, duplicates, enrichment) and Gold bar aggregation."""

from __future__ import annotations

from datetime import UTC, date, datetime

from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from financelake.schemas import GOLD
from financelake.transforms.gold import aggregate_bars, bars_since, closed_bars, watermark_from
from financelake.transforms.silver import (
    flag_late,
    flag_repeats,
    kept_times,
    to_quarantine,
    to_silver,
)

T0 = datetime(2026, 1, 7, 15, 0, 0)


def validated(spark: SparkSession, rows: list[tuple[object, ...]]) -> DataFrame:
    """Rows as `validate_ticks` leaves them (only the columns routing needs).

    Each row: (partition, offset, symbol, price, event time, reason[, volume[, trade_id]])."""
    schema = (
        "value string, value_base64 string, topic string, partition int, offset long, "
        "kafka_timestamp timestamp, symbol string, price double, volume long, open double, "
        "high double, low double, event_time timestamp, trade_id string, reason string, "
        "reason_code string"
    )
    full = []
    for partition, offset, sym, price, ts, why, *extra in rows:
        volume = extra[0] if extra else 10
        trade_id = extra[1] if len(extra) > 1 else None
        code = None if why is None else str(why).split(":")[0]  # "late: ..." -> "late"
        prices = (price, volume, 100.0, 200.0, 50.0)
        full.append((f"v{offset}", None, "t", partition, offset, T0, sym, *prices))
        full[-1] += (ts, trade_id, why, code)
    return spark.createDataFrame(full, schema)


def no_keys(spark: SparkSession) -> DataFrame:
    return spark.createDataFrame(
        [], "symbol string, event_time timestamp, price double, volume long, trade_id string"
    )


def test_first_copy_by_kafka_position_is_kept_and_repeats_are_quarantined(
    spark: SparkSession,
) -> None:
    ts = datetime(2026, 1, 7, 15, 0, 1)
    batch = validated(
        spark,
        [(1, 5, "A", 101.0, ts, None), (0, 9, "A", 101.0, ts, None), (0, 3, "B", 99.0, ts, None)],
    )
    routed = flag_repeats(flag_late(batch, {}), no_keys(spark))
    silver = routed.transform(to_silver).select("symbol", "partition", "offset")
    expected = spark.createDataFrame(
        [("A", 0, 9), ("B", 0, 3)], "symbol string, partition int, offset long"
    )
    assert_df_equality(silver, expected, ignore_row_order=True, ignore_nullable=True)
    reasons = routed.transform(to_quarantine).select("offset", "reason", "reason_code").collect()
    assert [(r.offset, r.reason.split(":")[0], r.reason_code) for r in reasons] == [
        (5, "duplicate", "duplicate")
    ]


def test_trades_at_one_time_are_kept_and_only_resends_or_repeated_ids_are_duplicates(
    spark: SparkSession,
) -> None:
    ts = datetime(2026, 1, 7, 15, 0, 1)
    batch = validated(
        spark,
        [
            (0, 1, "A", 101.0, ts, None, 10, None),
            (0, 2, "A", 101.5, ts, None, 10, None),  # another trade, same time: kept
            (0, 3, "A", 101.0, ts, None, 20, None),  # same price, other volume: kept
            (0, 4, "A", 101.0, ts, None, 10, None),  # a verbatim re-send of offset 1
            (0, 5, "A", 102.0, ts, None, 30, "t-9"),
            (0, 6, "A", 103.0, ts, None, 40, "t-9"),  # trade id t-9 again
            (0, 7, "B", 101.0, ts, None, 40, "t-9"),  # another symbol's t-9: kept
        ],
    )
    routed = flag_repeats(batch, None)
    got = {r.offset: r.reason_code for r in routed.collect()}
    assert got == {1: None, 2: None, 3: None, 4: "duplicate", 5: None, 6: "duplicate", 7: None}


def test_ticks_already_in_silver_and_late_ticks_go_to_quarantine(spark: SparkSession) -> None:
    threshold = datetime(2026, 1, 7, 15, 0, 30)
    batch = validated(
        spark,
        [
            (0, 1, "A", 100.0, datetime(2026, 1, 7, 15, 0, 10), None),  # behind A's threshold
            (0, 2, "A", 100.0, datetime(2026, 1, 7, 15, 0, 40), None),  # already in silver
            (0, 3, "A", 100.0, datetime(2026, 1, 7, 15, 0, 41), None),  # new
            (0, 4, None, None, None, "not JSON"),  # already rejected: reason kept
            (0, 5, "B", 100.0, datetime(2026, 1, 7, 15, 0, 10), None),  # B has its own clock
            (0, 6, "B", 101.0, datetime(2026, 1, 7, 15, 0, 40), None),  # other price: new
        ],
    )
    keys = spark.createDataFrame(
        [("A", datetime(2026, 1, 7, 15, 0, 40), 100.0, 10, None)],
        "symbol string, event_time timestamp, price double, volume long, trade_id string",
    )
    routed = flag_repeats(flag_late(batch, {"A": threshold}), keys)
    got = {r.offset: (r.reason, r.reason_code) for r in routed.collect()}
    assert got[1][0] is not None and got[1][0].startswith("late: event time 2026-01-07 15:00:10")
    assert got[1][1] == "late"
    assert got[2][0] is not None and got[2][0].startswith("duplicate")
    assert got[2][1] == "duplicate"
    assert got[3] == got[5] == got[6] == (None, None)
    assert got[4] == ("not JSON", "not JSON")
    quarantine = routed.transform(to_quarantine)
    assert quarantine.count() == 3
    assert quarantine.where(F.col("date").isNull()).count() == 0


def test_late_flag_keeps_earlier_reasons_and_leaves_timely_ticks_alone(spark: SparkSession) -> None:
    threshold = datetime(2026, 1, 7, 15, 0, 30)
    batch = validated(
        spark,
        [
            (0, 1, "A", 100.0, datetime(2026, 1, 7, 15, 0, 29), None),
            (0, 2, "A", 100.0, datetime(2026, 1, 7, 15, 0, 30), None),  # at the threshold: kept
            (0, 3, "A", -1.0, datetime(2026, 1, 7, 15, 0, 1), "price must be positive"),
        ],
    )
    got = {r.offset: r.reason for r in flag_late(batch, {"A": threshold}).collect()}
    assert got[1] is not None and got[1].startswith("late: event time 2026-01-07 15:00:29")
    assert got[2] is None
    assert got[3] == "price must be positive"
    assert flag_late(batch, {}).where(F.col("reason").isNull()).count() == 2


def test_repeats_flag_only_ticks_without_a_reason(spark: SparkSession) -> None:
    ts = datetime(2026, 1, 7, 15, 0, 1)
    batch = validated(
        spark,
        [
            (0, 1, "A", 100.0, ts, "late: behind the watermark"),  # rejected copy: not the kept one
            (0, 2, "A", 100.0, ts, None),
            (0, 3, "A", 100.0, ts, None),
        ],
    )
    got = {r.offset: r.reason_code for r in flag_repeats(batch, None).collect()}
    assert got == {1: "late", 2: None, 3: "duplicate"}


def test_kept_times_counts_records_distinct_ticks_and_span_per_symbol(
    spark: SparkSession,
) -> None:
    t1, t2 = datetime(2026, 1, 7, 15, 0, 1), datetime(2026, 1, 7, 15, 0, 2)
    batch = validated(
        spark,
        [
            (0, 1, " A", 100.0, t1, None),  # Silver trims symbols, so " A" is "A"
            (0, 2, "A", 100.0, t2, None),
            (1, 3, "A", 100.0, t2, None),  # the same tick again: fewer distinct than records
            (1, 7, "A", 100.5, t2, None),  # another trade at t2: distinct
            (0, 4, "B", 100.0, t2, None, 10, "x"),
            (0, 8, "B", 100.0, t1, None, 11, "x"),  # trade id x twice
            (0, 5, None, None, None, "not JSON"),
            (0, 6, "B", 100.0, t1, "late: behind the watermark"),
        ],
    )
    expected = spark.createDataFrame(
        [("A", 4, 3, 0, 0, t1, t2), ("B", 2, 2, 2, 1, t1, t2), (None, 2, 1, 0, 0, t1, t1)],
        "symbol string, records long, distinct_ticks long, trade_ids long, "
        "distinct_trade_ids long, first timestamp, last timestamp",
    )
    assert_df_equality(
        batch.transform(kept_times),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_silver_is_enriched_with_range_and_change(spark: SparkSession) -> None:
    batch = validated(spark, [(0, 1, " A ", 110.0, datetime(2026, 1, 7, 15, 0, 1), None)])
    row = flag_repeats(flag_late(batch, {}), no_keys(spark)).transform(to_silver).first()
    assert row is not None
    assert row.symbol == "A"
    assert row.price_range == 150.0  # high 200 - low 50
    assert abs(row.price_change_pct - 10.0) < 1e-12  # (110 - open 100) / 100 * 100
    assert row.date == date(2026, 1, 7)


def test_trade_ticks_have_null_bar_fields_in_silver(spark: SparkSession) -> None:
    batch = validated(spark, [(0, 1, "A", 110.0, datetime(2026, 1, 7, 15, 0, 1), None)])
    absent = F.lit(None).cast("double")
    trade = batch.withColumns({name: absent for name in ("open", "high", "low")})
    row = trade.transform(to_silver).first()
    assert row is not None
    assert (row.price, row.open, row.high, row.low) == (110.0, None, None, None)
    assert (row.price_range, row.price_change_pct) == (None, None)


def silver_ticks(spark: SparkSession, rows: list[tuple[str, datetime, float, int]]) -> DataFrame:
    return spark.createDataFrame(
        [(s, ts, p, v, (p - 100.0)) for s, ts, p, v in rows],
        "symbol string, event_time timestamp, price double, volume long, price_change_pct double",
    )


def test_bars_take_first_and_last_by_event_time_not_arrival(spark: SparkSession) -> None:
    ticks = silver_ticks(
        spark,
        [
            ("A", datetime(2026, 1, 7, 15, 0, 50), 103.0, 1),  # arrives first, last in time
            ("A", datetime(2026, 1, 7, 15, 0, 5), 100.0, 2),
            ("A", datetime(2026, 1, 7, 15, 0, 20), 105.0, 1),
            ("A", datetime(2026, 1, 7, 15, 1, 0), 90.0, 4),  # next bar: a single tick
        ],
    )
    bars = ticks.transform(aggregate_bars("1 minute"))
    expected = spark.createDataFrame(
        [
            (
                "A", datetime(2026, 1, 7, 15, 0), datetime(2026, 1, 7, 15, 1),
                100.0, 105.0, 100.0, 103.0, 308.0 / 3, 2.516611478423583, 4,
                (200.0 + 105.0 + 103.0) / 4, 3, 8.0 / 3, datetime(2026, 1, 7, 15, 0, 50),
                date(2026, 1, 7),
            ),
            (
                "A", datetime(2026, 1, 7, 15, 1), datetime(2026, 1, 7, 15, 2),
                90.0, 90.0, 90.0, 90.0, 90.0, 0.0, 4, 90.0, 1, -10.0,
                datetime(2026, 1, 7, 15, 1), date(2026, 1, 7),
            ),
        ],
        GOLD,
    )  # fmt: skip
    assert_approx_df_equality(
        bars, expected, precision=1e-9, ignore_row_order=True, ignore_nullable=True
    )


def test_daily_bars_align_to_utc_days(spark: SparkSession) -> None:
    ticks = silver_ticks(spark, [("A", datetime(2026, 1, 7, 23, 59, 59), 100.0, 1)])
    bar = ticks.transform(aggregate_bars("1 day")).first()
    assert bar is not None
    assert (bar.window_start, bar.window_end) == (datetime(2026, 1, 7), datetime(2026, 1, 8))


def test_only_bars_ended_before_the_watermark_are_closed(spark: SparkSession) -> None:
    ticks = silver_ticks(
        spark,
        [
            ("A", datetime(2026, 1, 7, 15, 0, 5), 100.0, 1),
            ("A", datetime(2026, 1, 7, 15, 1, 5), 1.0, 1),
        ],
    )
    bars = ticks.transform(aggregate_bars("1 minute"))
    watermark = watermark_from(datetime(2026, 1, 7, 15, 1, 30), 30)
    closed = bars.transform(closed_bars(watermark)).select("window_start").collect()
    assert [row.window_start for row in closed] == [datetime(2026, 1, 7, 15, 0)]
    assert bars.transform(closed_bars(None)).count() == 0


def test_the_training_window_keeps_bars_from_its_start_across_midnight(spark: SparkSession) -> None:
    ticks = silver_ticks(
        spark,
        [
            ("A", datetime(2026, 1, 6, 23, 0, 5), 100.0, 1),
            ("A", datetime(2026, 1, 6, 23, 30, 5), 101.0, 1),
            ("A", datetime(2026, 1, 7, 0, 10, 5), 102.0, 1),
        ],
    )
    bars = ticks.transform(aggregate_bars("1 minute"))
    since = datetime(2026, 1, 6, 23, 30, tzinfo=UTC)
    kept = bars.transform(bars_since(since)).orderBy("window_start").collect()
    assert [row.window_start for row in kept] == [
        datetime(2026, 1, 6, 23, 30),
        datetime(2026, 1, 7, 0, 10),
    ]
    assert bars.transform(bars_since(None)).count() == 3
