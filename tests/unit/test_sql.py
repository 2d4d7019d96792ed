"""`financelake sql` on real Delta tables written by delta-rs (no Spark); the README's examples."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from financelake.cli import main
from financelake.config import REPO_ROOT, Settings
from financelake.sql import QueryError, query_lake, render

LATEST = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def lake(tmp_path: Path) -> Settings:
    """gold (3 hours of 30-minute bars of one symbol), quarantine and gold_ml, as Delta tables."""
    settings = Settings(lake_root=str(tmp_path / "lake"))
    starts = [LATEST - timedelta(minutes=30 * i) for i in range(6)]
    write_deltalake(
        settings.table_path("gold"),
        pa.table(
            {
                "symbol": ["AAPL"] * 6,
                "window_start": pa.array(starts, pa.timestamp("us", tz="UTC")),
                "open": [99.0 + i for i in range(6)],
                "high": [101.0 + i for i in range(6)],
                "low": [98.0 + i for i in range(6)],
                "close": [100.0 + i for i in range(6)],
                "total_volume": pa.array([10 * (i + 1) for i in range(6)], pa.int64()),
            }
        ),
    )
    write_deltalake(
        settings.table_path("quarantine"),
        pa.table(
            {
                "value": ["{", "x", '{"symbol":""}'],
                "reason": ["not JSON", "not JSON", "empty symbol"],
                "reason_code": ["not_json", "not_json", "empty_symbol"],
            }
        ),
    )
    write_deltalake(
        settings.table_path("gold_ml"),
        pa.table(
            {
                "run_id": ["r1", "r2", "r3"],
                "trained_at": pa.array(starts[:3][::-1], pa.timestamp("us", tz="UTC")),
                "status": ["ok", "ok", "skipped"],
                "auc": [0.61, 0.58, None],
                "train_rows": pa.array([40, 80, None], pa.int64()),
                "test_rows": pa.array([10, 20, None], pa.int64()),
            }
        ),
    )
    return settings


def readme_queries() -> dict[str, str]:
    """The `financelake sql "..."` examples of the README, by the comment line above each."""
    text = (REPO_ROOT / "README.md").read_text()
    found = re.findall(r'^# ([^\n]+)\nfinancelake sql "([^"]+)"', text, flags=re.MULTILINE)
    return {title: query for title, query in found}


def test_tables_are_queried_by_their_names(lake: Settings) -> None:
    result = query_lake(lake, "SELECT count(*) AS n, max(close) AS top FROM gold")
    assert result.to_pylist() == [{"n": 6, "top": 105.0}]


def test_a_bad_query_names_the_tables_there_are(lake: Settings) -> None:
    with pytest.raises(QueryError, match=r"silver.*not found(.|\n)*: quarantine, gold, gold_ml\)"):
        query_lake(lake, "SELECT * FROM silver")


def test_output_formats(lake: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    query = "SELECT reason_code, count(*) AS n FROM quarantine GROUP BY reason_code ORDER BY n DESC"
    argv = ["sql", query, "--lake-root", lake.lake_root]
    assert main([*argv, "--format", "csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [
        ["reason_code", "n"],
        ["not_json", "2"],
        ["empty_symbol", "1"],
    ]
    assert main([*argv, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"reason_code": "not_json", "n": 2},
        {"reason_code": "empty_symbol", "n": 1},
    ]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines() == [
        "reason_code   n",
        "------------  -",
        "not_json      2",
        "empty_symbol  1",
        "(2 rows)",
    ]


def test_render_shows_nulls_as_empty_and_counts_one_row() -> None:
    text = render(pa.table({"a": [None], "b": ["x"]}), "table")
    assert text.splitlines() == ["a  b", "-  -", "   x", "(1 row)"]


def test_the_readme_examples_run_and_answer_their_question(lake: Settings) -> None:
    queries = readme_queries()
    assert len(queries) == 3, queries
    by_title = {title.split(":")[0]: query for title, query in queries.items()}

    bars = query_lake(lake, by_title["the last hour's bars"]).to_pylist()
    # The hour before the latest bar: 14:00, 14:30 and 15:00, newest first.
    assert [bar["window_start"] for bar in bars] == [
        LATEST - timedelta(minutes=m) for m in (0, 30, 60)
    ]

    reasons = query_lake(lake, by_title["quarantine by reason code"]).to_pylist()
    assert [(row["reason_code"], row["messages"]) for row in reasons] == [
        ("not_json", 2),
        ("empty_symbol", 1),
    ]

    runs = query_lake(lake, by_title["AUC across runs"]).to_pylist()
    assert [(run["run_id"], run["auc"]) for run in runs] == [("r1", 0.61), ("r2", 0.58)]
