"""The next-bar classifier: features, time-ordered split, training and evaluation.

`financelake.training` runs it once per training cycle; these modules are its pure parts.
"""

from financelake.ml.evaluate import area_under_roc, scored
from financelake.ml.features import (
    FEATURE_NAMES,
    FEATURES,
    LABEL,
    bar_features,
    labelled,
    next_bar_label,
    training_rows,
    unlabelled,
)
from financelake.ml.split import (
    Fold,
    TimeSplit,
    before,
    between,
    plan_time_split,
    plan_walk_forward,
)
from financelake.ml.train import Coefficients, classifier_pipeline, coefficients, fit_classifier

__all__ = [
    "FEATURES",
    "FEATURE_NAMES",
    "LABEL",
    "Coefficients",
    "Fold",
    "TimeSplit",
    "area_under_roc",
    "bar_features",
    "before",
    "between",
    "classifier_pipeline",
    "coefficients",
    "fit_classifier",
    "labelled",
    "next_bar_label",
    "plan_time_split",
    "plan_walk_forward",
    "scored",
    "training_rows",
    "unlabelled",
]
