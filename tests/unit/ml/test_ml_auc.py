"""The AUC's DeLong interval and p-value against a coin."""

from __future__ import annotations

import numpy as np
import pytest

from financelake.ml.auc import delong_auc


def test_auc_matches_the_pair_count_with_ties() -> None:
    scores = [0.1, 0.4, 0.4, 0.8, 0.3, 0.4]
    labels = [0, 0, 1, 1, 1, 0]
    positives = [0.4, 0.8, 0.3]
    negatives = [0.1, 0.4, 0.4]
    pairs = [(p > n) + 0.5 * (p == n) for p in positives for n in negatives]
    estimate = delong_auc(scores, labels)
    assert estimate.auc == pytest.approx(sum(pairs) / 9)
    assert estimate.ci_low <= estimate.auc <= estimate.ci_high


def test_separation_is_significant_and_a_coin_is_not() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    strong = delong_auc(labels + rng.normal(0, 0.7, 400), labels)
    assert strong.ci_low > 0.5 and strong.p_value < 1e-6
    covered = sum(
        delong_auc(rng.normal(size=200), rng.integers(0, 2, 200)).p_value > 0.05 for _ in range(300)
    )
    assert 270 <= covered <= 295  # about 95% of coins are not significant at 5%


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match="both classes"):
        delong_auc([0.2, 0.3], [1, 1])
