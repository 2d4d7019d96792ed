"""Jobs and commits per steady batch: which jobs count, and which batches are steady."""

from __future__ import annotations

from bench.spark_jobs import per_batch_figures, tally_jobs


def _job(description: str | None) -> dict[str, object]:
    return {"jobId": 1, "description": description}


def _labels(query: str, batch: int) -> str:
    return f"{query}\nid = 6ac95123-62f4\nrunId = 67325627-2d98\nbatch = {batch}"


def test_jobs_are_counted_by_query_and_batch_including_deltas_own() -> None:
    jobs = [
        _job(_labels("ingest", 12)),
        _job(_labels("ingest", 12)),
        _job("Delta: " + _labels("gold", 5) + ": Compute snapshot for version: 4"),
        _job("Delta: Delta: training cycle: Filtering files for query"),  # no batch: left out
        _job(None),
    ]
    assert tally_jobs(jobs) == {("ingest", 12): 2, ("gold", 5): 1}


def test_the_figures_leave_out_start_up_backlog_and_the_last_batch() -> None:
    jobs = {("ingest", 0): 17, ("ingest", 1): 9} | {("ingest", b): 3 for b in range(2, 7)}
    jobs[("ingest", 7)] = 1  # still running when the jobs were read
    commits = {("ingest", b): 2 for b in range(8)}
    assert per_batch_figures(jobs, commits) == {
        "ingest_jobs_per_batch": 3.0,
        "ingest_commits_per_batch": 2.0,
    }


def test_too_few_steady_batches_give_no_figure() -> None:
    jobs = {("gold", b): 5 for b in range(4)}
    assert per_batch_figures(jobs, {}) == {
        "gold_jobs_per_batch": None,
        "gold_commits_per_batch": None,
    }
