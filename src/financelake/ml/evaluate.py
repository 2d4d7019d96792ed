"""Score bars with a fitted classifier and measure it: AUC on the test part, never on training."""

from __future__ import annotations

from collections.abc import Callable

from pyspark.ml import PipelineModel
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from financelake.ml.features import LABEL

PROBABILITY_UP = "probability_up"
PREDICTION = "prediction"


def scored(model: PipelineModel) -> Callable[[DataFrame], DataFrame]:
    """Add `probability_up` (P(label = 1), double) and `prediction` (0/1, int) to feature rows.

    The pipeline's intermediate vectors are dropped; every input column is kept.
    """

    def _scored(rows: DataFrame) -> DataFrame:
        out = model.transform(rows)
        return out.select(
            *rows.columns,
            vector_to_array(F.col("probability"))[1].alias(PROBABILITY_UP),
            F.col("prediction").cast("int").alias(PREDICTION),
        )

    return _scored


def area_under_roc(predictions: DataFrame) -> float:
    """AUC of `probability_up` against `label` (pyspark.ml's BinaryClassificationEvaluator).

    The AUC depends only on the ranking of the scores, so the probability serves as well as the
    raw margin. 0.5 is a coin; read it next to the class balance of the same rows.
    """
    evaluator = BinaryClassificationEvaluator(
        rawPredictionCol=PROBABILITY_UP, labelCol=LABEL, metricName="areaUnderROC"
    )
    return float(
        evaluator.evaluate(predictions.select(PROBABILITY_UP, F.col(LABEL).cast("double")))
    )
