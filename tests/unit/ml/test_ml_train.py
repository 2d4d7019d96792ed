"""The classifier pipeline: scaler statistics from the training rows only, a deterministic fit,
and scores that the evaluator reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pyspark.ml.feature import StandardScalerModel
from pyspark.sql import DataFrame, SparkSession

from financelake.ml.evaluate import area_under_roc, scored
from financelake.ml.features import FEATURE_NAMES
from financelake.ml.train import coefficients, fit_classifier


def feature_rows(spark: SparkSession, n: int, shift: float, seed: int) -> DataFrame:
    """Rows of the model's features; label 1 when bar_return (shifted by `shift`) is positive."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({name: rng.normal(shift, 1.0, n) for name in FEATURE_NAMES})
    frame["label"] = (frame["bar_return"] - shift > 0).astype("int32")
    return spark.createDataFrame(frame).coalesce(1)


def test_scaler_is_fitted_on_the_training_rows_only(spark: SparkSession) -> None:
    train = feature_rows(spark, 60, shift=0.0, seed=1)
    test = feature_rows(spark, 60, shift=50.0, seed=2)  # far away: it would move the mean
    model = fit_classifier(train, max_iter=20, reg_param=0.01)
    scaler = model.stages[1]
    assert isinstance(scaler, StandardScalerModel)
    means = train.toPandas()[list(FEATURE_NAMES)].mean().to_numpy()
    np.testing.assert_allclose(scaler.mean.toArray(), means, rtol=1e-12)
    scores = test.transform(scored(model)).select("probability_up").toPandas()
    assert scores["probability_up"].between(0, 1).all()


def test_the_same_rows_give_the_same_model(spark: SparkSession) -> None:
    train = feature_rows(spark, 80, shift=0.0, seed=3)
    first = coefficients(fit_classifier(train, max_iter=30, reg_param=0.01))
    second = coefficients(fit_classifier(train, max_iter=30, reg_param=0.01))
    assert first == second
    assert first.features == FEATURE_NAMES and len(first.weights) == len(FEATURE_NAMES)


def test_a_learnable_signal_scores_a_high_auc(spark: SparkSession) -> None:
    model = fit_classifier(feature_rows(spark, 200, 0.0, seed=4), max_iter=50, reg_param=0.0)
    test = feature_rows(spark, 200, 0.0, seed=5).transform(scored(model))
    assert test.schema["prediction"].dataType.simpleString() == "int"
    assert area_under_roc(test) > 0.95
    flipped = test.withColumn("label", 1 - test["label"])
    assert area_under_roc(flipped) == pytest.approx(1 - area_under_roc(test))
