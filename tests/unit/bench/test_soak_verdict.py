"""The soak's verdict: a series levels off when its last third's mean is within the tolerance of
its second third's."""

from __future__ import annotations

from bench.soak import levelled


def test_a_series_growing_linearly_is_growing_and_a_sawtooth_levels_off() -> None:
    ramp = [{"at_s": t, "a.log_files": 10.0 * t} for t in range(30)]
    saw = [{"at_s": t, "a.log_files": float(t % 5), "a.rss_mb": 500.0} for t in range(30)]
    assert levelled(ramp)["a.log_files"]["levelled"] is False
    assert levelled(ramp)["a.log_files"]["growth"] > 0.4
    assert {name: v["levelled"] for name, v in levelled(saw).items()} == {
        "a.log_files": True,
        "a.rss_mb": True,
    }


def test_a_series_with_too_few_samples_is_not_judged() -> None:
    assert levelled([{"at_s": t, "x": float(t)} for t in range(5)])["x"]["levelled"] is None
