"""The late/duplicate planner on plain data: per-symbol clocks and spans in, a plan out."""

from __future__ import annotations

from datetime import datetime, timedelta

from financelake.streams.planner import SymbolSpan, plan_batch

T0 = datetime(2026, 1, 7, 15, 0, 0)
LATENESS = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def span(first: float, last: float, ticks: int = 2, distinct: int | None = None) -> SymbolSpan:
    return SymbolSpan(at(first), at(last), ticks, ticks if distinct is None else distinct)


def test_an_empty_silver_plans_nothing_and_starts_each_symbols_clock() -> None:
    plan = plan_batch({}, {"A": span(0, 5), "B": span(-7200, -7100)}, LATENESS)
    assert plan.ordered
    assert plan.clocks == {"A": at(5), "B": at(-7100)}


def test_in_order_symbols_take_the_fast_path_and_advance_their_own_clock() -> None:
    clocks = {"A": at(100), "B": at(-7200)}  # B is a backfill two hours behind A
    plan = plan_batch(clocks, {"A": span(101, 120), "B": span(-7190, -7180)}, LATENESS)
    assert plan.ordered
    assert plan.clocks == {"A": at(120), "B": at(-7180)}


def test_a_symbol_is_late_only_behind_its_own_clock() -> None:
    clocks = {"A": at(100), "B": at(50)}
    plan = plan_batch(clocks, {"A": span(60, 110), "B": span(25, 60)}, LATENESS)
    assert plan.late_before == {"A": at(70)}  # B's 25 s is within 30 s of B's own clock (50 s)
    assert not plan.ordered


def test_only_ticks_between_threshold_and_clock_are_looked_for_in_silver() -> None:
    clocks = {"A": at(100), "B": at(90), "C": at(100)}
    spans = {
        "A": span(101, 120),  # all newer than A's clock: no look at Silver
        "B": span(90, 95),  # starts at B's clock: could be a re-send
        "C": span(10, 60),  # all behind C's threshold (70 s): late, nothing to look for
        "D": span(0, 1),  # a new symbol
    }
    plan = plan_batch(clocks, spans, LATENESS)
    assert plan.look_in_silver == {"B": at(90)}
    assert plan.late_before == {"C": at(70)}
    assert not plan.repeats_within
    assert plan.clocks == {"A": at(120), "B": at(95), "C": at(100), "D": at(1)}


def test_a_partly_late_span_is_looked_for_from_the_threshold() -> None:
    plan = plan_batch({"A": at(100)}, {"A": span(10, 100)}, LATENESS)
    assert plan.late_before == {"A": at(70)}
    assert plan.look_in_silver == {"A": at(70)}


def test_repeats_within_the_batch_are_planned_from_the_counts() -> None:
    assert plan_batch({}, {"A": span(0, 5, ticks=3, distinct=2)}, LATENESS).repeats_within
    ids = SymbolSpan(at(0), at(5), 3, 3, trade_ids=3, distinct_trade_ids=2)
    assert plan_batch({}, {"A": ids}, LATENESS).repeats_within
    assert not plan_batch({}, {"A": span(0, 5, ticks=3, distinct=3)}, LATENESS).repeats_within


def test_a_clock_never_moves_back() -> None:
    plan = plan_batch({"A": at(100)}, {"A": span(80, 90)}, LATENESS)
    assert plan.clocks == {"A": at(100)}
