"""Spark jobs and Delta commits per steady micro-batch of each streaming query.

Jobs come from the running service's Spark UI REST API (its address is in the service's state
file): Spark labels every job a micro-batch starts, `foreachBatch` included, with the query's
name and the batch id. Commits come from the tables' logs: each streamed write carries its
query and batch in its userMetadata (`financelake.lake.history.batch_note`).
"""

from __future__ import annotations

import json
import re
import statistics
import urllib.request
from collections import Counter

from financelake.catalog import STREAMED_TABLES
from financelake.config import Settings
from financelake.lake.history import batch_of
from financelake.lake.read import open_table

# "ingest\nid = ...\nrunId = ...\nbatch = 12", Delta's own jobs prefixed with "Delta: ".
_JOB_BATCH = re.compile(
    r"(?:Delta: )*(?P<query>\w+)\s+id = \S+\s+runId = \S+\s+batch = (?P<batch>\d+)"
)


def _steady_median(counts: dict[tuple[str, int], int], query: str) -> float | None:
    """Median count per batch of `query`, leaving out its first two batches (the start-up and
    the backlog) and its last (it may still be running); None: too few batches."""
    batches = sorted(batch for name, batch in counts if name == query)[2:-1]
    if len(batches) < 3:
        return None
    return float(statistics.median(counts[(query, batch)] for batch in batches))


def jobs_by_batch(ui_url: str) -> dict[tuple[str, int], int]:
    """Jobs per (query, batch) among those the UI still holds (its last 1,000 by default)."""

    def get(path: str) -> list[dict[str, object]]:
        with urllib.request.urlopen(f"{ui_url}/api/v1/applications{path}", timeout=30) as reply:
            result: list[dict[str, object]] = json.load(reply)
            return result

    return tally_jobs(get(f"/{get('')[0]['id']}/jobs"))


def tally_jobs(jobs: list[dict[str, object]]) -> dict[tuple[str, int], int]:
    """Jobs per (query, batch) of the REST API's job records (other jobs are left out)."""
    matches = (_JOB_BATCH.match(str(job.get("description") or "")) for job in jobs)
    return Counter((m["query"], int(m["batch"])) for m in matches if m)


def commits_by_batch(config: Settings) -> dict[tuple[str, int], int]:
    """Delta commits per (query, batch) over the streamed tables."""
    tables = (open_table(config.table_path(name)) for name in STREAMED_TABLES)
    history = (commit for table in tables if table is not None for commit in table.history())
    return Counter(batch for c in history if (batch := batch_of(c.get("userMetadata"))))


def per_batch_figures(
    jobs: dict[tuple[str, int], int], commits: dict[tuple[str, int], int]
) -> dict[str, float | None]:
    """`<query>_jobs_per_batch` and `<query>_commits_per_batch`, the steady batches' medians."""
    figures: dict[str, float | None] = {}
    for query in sorted({name for name, _ in jobs}):
        figures[f"{query}_jobs_per_batch"] = _steady_median(jobs, query)
        figures[f"{query}_commits_per_batch"] = _steady_median(commits, query)
    return figures
