"""What the ingest stream tracks about Silver's event times between micro-batches."""

from __future__ import annotations

from datetime import datetime, timedelta

from financelake.streams.event_times import EventTimes

T0 = datetime(2026, 1, 7, 15, 0, 0)
LATENESS = timedelta(seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_an_empty_silver_has_no_watermark_and_nothing_to_repeat() -> None:
    times = EventTimes.of(LATENESS, None, [])
    assert times.watermark is None
    assert times.may_repeat({"A": (at(0), at(5))}) == []


def test_only_symbols_with_ticks_not_newer_than_their_latest_are_suspects() -> None:
    times = EventTimes.of(LATENESS, at(100), [("A", at(100)), ("B", at(90))])
    spans = {
        "A": (at(101), at(120)),  # all newer than A's latest: in order, no look at Silver
        "B": (at(90), at(95)),  # starts at B's latest tick: could be a re-send
        "C": (at(80), at(85)),  # no C tick at or after the watermark in Silver
    }
    assert times.may_repeat(spans) == ["B"]


def test_late_ticks_alone_never_make_a_symbol_suspect() -> None:
    times = EventTimes.of(LATENESS, at(100), [("A", at(100))])
    assert times.watermark == at(70)
    # A's span starts behind the watermark (those ticks are late) but its kept part starts at
    # the watermark, which is not newer than A's latest, so A is checked...
    assert times.may_repeat({"A": (at(10), at(101))}) == ["A"]
    # ...while a symbol whose Silver ticks are all behind the watermark is forgotten.
    assert EventTimes.of(LATENESS, at(100), [("Z", at(60))]).by_symbol == {}


def test_advance_moves_the_watermark_and_forgets_symbols_behind_it() -> None:
    times = EventTimes.of(LATENESS, at(100), [("A", at(100)), ("B", at(75))])
    times.advance({"A": (at(101), at(110)), "C": (at(104), at(108))})
    assert times.latest == at(110)
    assert times.watermark == at(80)
    assert times.by_symbol == {"A": at(110), "C": at(108)}  # B (75) fell behind
    times.advance({"C": (at(50), at(60))})  # late ticks: nothing changes
    assert times.latest == at(110) and times.by_symbol["C"] == at(108)
