"""The soak's verdict: a series levels off when its last third's mean is within the tolerance of
its second third's; the memory sampler hands the soak each sample as it is taken."""

from __future__ import annotations

import pytest

from bench.memory import MemorySampler
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


def test_the_sampler_hands_over_each_new_sample() -> None:
    with MemorySampler(None, interval_s=0.2) as sampler:
        first = sampler.next_sample(timeout_s=10)
        second = sampler.next_sample(timeout_s=10)
    assert second["t"] > first["t"]
    assert sampler.series[-1]["t"] >= second["t"]


def test_waiting_for_a_sample_that_never_comes_times_out() -> None:
    sampler = MemorySampler(None, interval_s=60)  # never started: no sample will come
    with pytest.raises(TimeoutError, match="no memory sample within 0 s"):
        sampler.next_sample(timeout_s=0.1)
