"""Bad input in volume: one malformed message in every eleven, of eight kinds, mixed into good
ticks. The pipeline never stops, every bad message is quarantined with its reason code, and
Bronze is exactly Silver plus Quarantine.

The full size (100,000 bad in 1,000,000 good) is marked `faults` (`make faults`); a tenth of it
runs in the normal suite.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from support import START, produce_messages

from financelake.config import Settings
from financelake.market.simulator import simulate_ticks
from financelake.pipeline import run_available_now
from financelake.transforms.quality import ReasonCode

GOOD_PER_BAD = 10


def _tick(i: int, **changes: object) -> bytes:
    tick: dict[str, object] = {
        "symbol": "BAD",
        "price": 100.0 + i % 7,
        "volume": 1 + i % 5,
        "timestamp": f"2026-01-07T14:31:{i % 60:02d}.{i % 1_000_000:06d}",
    }
    tick.update(changes)
    return json.dumps({k: v for k, v in tick.items() if v is not None}).encode()


# One maker per kind of malformed message: the i-th bad message is of kind i % 8.
BAD_KINDS: tuple[tuple[ReasonCode, Callable[[int], bytes]], ...] = (
    (ReasonCode.NOT_JSON, lambda i: f"not json {i}".encode()),
    (ReasonCode.NOT_UTF8, lambda i: b"\xc3\x28 broken " + str(i).encode()),
    (ReasonCode.NOT_OBJECT, lambda i: json.dumps([i, "a list"]).encode()),
    (ReasonCode.MISSING_FIELD, lambda i: _tick(i, price=None)),
    (ReasonCode.WRONG_TYPE, lambda i: _tick(i, volume=f"many {i}")),
    (ReasonCode.NOT_POSITIVE, lambda i: _tick(i, price=-float(i % 3))),  # zero or negative
    (ReasonCode.EMPTY_SYMBOL, lambda i: _tick(i, symbol="")),
    (ReasonCode.BAD_TIMESTAMP, lambda i: _tick(i, timestamp=f"day {i}, 3pm")),
)


def _mixed(good: int) -> Iterator[tuple[bytes, bytes | None]]:
    """`good` ticks keyed by symbol (so each symbol keeps its order), a bad message after
    every GOOD_PER_BAD of them."""
    ticks = simulate_ticks(
        ("AAPL", "MSFT", "GOOG"), model="trend", seed=11, start=START, count=good,
        tick_interval_s=1.0,
    )  # fmt: skip
    for i, tick in enumerate(ticks, 1):
        yield tick.to_json(), tick.symbol.encode()
        if not i % GOOD_PER_BAD:
            bad = i // GOOD_PER_BAD - 1
            make = BAD_KINDS[bad % len(BAD_KINDS)][1]
            yield make(bad), None


def _columns(settings: Settings, table: str, columns: list[str]) -> dict[str, list[object]]:
    return DeltaTable(settings.table_path(table)).to_pyarrow_table(columns=columns).to_pydict()


@pytest.mark.parametrize(
    "good",
    [100_000, pytest.param(1_000_000, marks=pytest.mark.faults)],
    ids=["10k-bad-in-100k", "100k-bad-in-1M"],
)
def test_malformed_messages_in_volume_are_all_quarantined_and_nothing_else_is(
    spark: SparkSession, settings: Settings, good: int
) -> None:
    bad = good // GOOD_PER_BAD
    assert produce_messages(settings, _mixed(good)) == good + bad
    # Several micro-batches, each mixing good and bad messages.
    run_available_now(spark, settings.model_copy(update={"max_offsets_per_trigger": good // 4}))

    bronze = _columns(settings, "bronze", ["partition", "offset"])
    silver = _columns(settings, "silver", ["partition", "offset"])
    quarantine = _columns(settings, "quarantine", ["partition", "offset", "reason_code"])
    assert len(bronze["offset"]) == good + bad
    in_bronze = set(zip(bronze["partition"], bronze["offset"], strict=True))
    in_silver = set(zip(silver["partition"], silver["offset"], strict=True))
    in_quarantine = set(zip(quarantine["partition"], quarantine["offset"], strict=True))
    assert len(in_bronze) == good + bad  # no message twice
    assert len(in_silver) == len(silver["offset"]) == good
    assert len(in_quarantine) == len(quarantine["offset"]) == bad
    assert in_silver | in_quarantine == in_bronze and not in_silver & in_quarantine
    per_kind = bad // len(BAD_KINDS)
    assert Counter(quarantine["reason_code"]) == {
        str(code): per_kind + (k < bad % len(BAD_KINDS)) for k, (code, _) in enumerate(BAD_KINDS)
    }
