"""The classifier: assemble the features, standardise them, fit a logistic regression.

All three stages live in one `pyspark.ml` Pipeline, so the standardisation statistics (mean and
standard deviation of each feature) are fitted together with the model, on the training part
only, and travel with it when it is saved and loaded: scoring a later bar uses the training
statistics, never statistics that saw the test part.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression, LogisticRegressionModel
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame

from financelake.ml.features import FEATURE_NAMES, LABEL

RAW_VECTOR = "raw_features"
VECTOR = "features"


def classifier_pipeline(
    max_iter: int, reg_param: float, features: tuple[str, ...] = FEATURE_NAMES
) -> Pipeline:
    """Unfitted VectorAssembler -> StandardScaler -> LogisticRegression pipeline.

    The assembler refuses null or NaN inputs (`handleInvalid="error"`): the feature transform
    guarantees none, so one appearing is a bug to surface, not a row to drop quietly. The L2
    penalty `reg_param` applies to standardised coefficients, so it weighs features alike.
    """
    return Pipeline(
        stages=[
            VectorAssembler(inputCols=list(features), outputCol=RAW_VECTOR, handleInvalid="error"),
            StandardScaler(inputCol=RAW_VECTOR, outputCol=VECTOR, withMean=True, withStd=True),
            LogisticRegression(
                featuresCol=VECTOR,
                labelCol=LABEL,
                family="binomial",
                maxIter=max_iter,
                regParam=reg_param,
                elasticNetParam=0.0,
                # Already standardised by the scaler; standardising again would change nothing
                # but the meaning of reg_param.
                standardization=False,
            ),
        ]
    )


def fit_classifier(
    train: DataFrame, *, max_iter: int, reg_param: float, features: tuple[str, ...] = FEATURE_NAMES
) -> PipelineModel:
    """Fit the pipeline on the training rows (features + `label`).

    L-BFGS is deterministic for the same rows in the same partitions in the same order; the caller
    provides that (the training cycle coalesces and sorts its rows), so the same Gold version gives
    the same model.
    """
    return classifier_pipeline(max_iter, reg_param, features).fit(train)


@dataclass(frozen=True)
class Coefficients:
    """The fitted logistic regression on standardised features, in FEATURE_NAMES order."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    intercept: float


def coefficients(model: PipelineModel, features: tuple[str, ...] = FEATURE_NAMES) -> Coefficients:
    """The model's weights (one per standardised feature) and intercept, for the run record."""
    regression = model.stages[-1]
    if not isinstance(regression, LogisticRegressionModel):
        raise TypeError(f"last stage is {type(regression).__name__}, not a logistic regression")
    return Coefficients(
        features=features,
        weights=tuple(float(w) for w in regression.coefficients.toArray()),
        intercept=float(regression.intercept),
    )
