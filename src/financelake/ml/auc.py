"""The AUC with its uncertainty: DeLong's variance, a 95% interval and a p-value against 0.5.

DeLong, DeLong and Clarke-Pearson (1988): the AUC is the mean over (positive, negative) pairs of
[score_pos > score_neg] + 0.5 [tie]; its variance follows from each example's placement values
(the share of the other class it beats). Computed here from midranks, O(n log n), in numpy:
pyspark's evaluator gives the point only, and the test rows are already on the driver.

Test rows are treated as independent; bar labels of neighbouring bars are weakly dependent, so
the interval is, if anything, a little narrow. That is why a run also needs `min_test_rows`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class AucEstimate:
    auc: float
    ci_low: float
    ci_high: float
    p_value: float
    """Two-sided, against AUC = 0.5 (a coin), from the DeLong standard error."""


def _midranks(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    order = np.argsort(values, kind="mergesort")
    ranked = values[order]
    ranks = np.empty(len(values))
    # Ties share the mean of the ranks they occupy.
    _, first, counts = np.unique(ranked, return_index=True, return_counts=True)
    mids = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mids, counts)
    return ranks


def delong_auc(
    scores: npt.ArrayLike, labels: npt.ArrayLike, confidence_z: float = Z_95
) -> AucEstimate:
    """AUC of `scores` for binary `labels` (1 positive), its interval and p-value vs 0.5.

    Raises ValueError unless both classes are present.
    """
    score = np.asarray(scores, dtype=np.float64)
    label = np.asarray(labels).astype(bool)
    positives, negatives = score[label], score[~label]
    m, n = len(positives), len(negatives)
    if m == 0 or n == 0:
        raise ValueError(f"need both classes to score an AUC, got {m} positive, {n} negative")
    combined = _midranks(np.concatenate([positives, negatives]))
    within_pos = _midranks(positives)
    within_neg = _midranks(negatives)
    auc = float((combined[:m].sum() - m * (m + 1) / 2) / (m * n))
    v10 = (combined[:m] - within_pos) / n  # share of negatives each positive beats
    v01 = 1.0 - (combined[m:] - within_neg) / m  # share of positives above each negative
    variance = (np.var(v10, ddof=1) / m if m > 1 else 0.0) + (
        np.var(v01, ddof=1) / n if n > 1 else 0.0
    )
    se = math.sqrt(max(float(variance), 0.0))
    if se == 0.0:
        p_value = 1.0 if auc == 0.5 else 0.0
    else:
        p_value = math.erfc(abs(auc - 0.5) / se / math.sqrt(2.0))
    return AucEstimate(
        auc=auc,
        ci_low=max(0.0, auc - confidence_z * se),
        ci_high=min(1.0, auc + confidence_z * se),
        p_value=p_value,
    )
