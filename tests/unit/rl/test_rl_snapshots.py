"""Q-table snapshots: a run as of a Gold version starts where the first run on it started."""

from __future__ import annotations

import json
from pathlib import Path

from financelake.rl.snapshots import Hyper, QTableStore

HYPER = Hyper(alpha=0.01, gamma=0.9, seed=7)


def test_live_runs_continue_the_live_table_and_reruns_start_from_the_snapshot(
    tmp_path: Path,
) -> None:
    store = QTableStore(tmp_path)
    agent, source = store.starting_agent(HYPER, None)
    assert source == "fresh"
    start = agent.q.copy()
    agent.q[0, 0] = 5.0
    agent.end_episode()
    store.record(3, "20260101T000000Z-aaaa", HYPER.fresh(), agent, live=True)
    assert QTableStore(tmp_path).starting_agent(HYPER, None)[0].q[0, 0] == 5.0  # live goes on

    # A later run on version 3 must not see what the first run learned.
    again, source = store.starting_agent(HYPER, 3)
    assert source.endswith("v3/20260101T000000Z-aaaa-start.json")
    assert (again.q == start).all() and again.episodes == 0
    again.q[1, 1] = 9.0
    store.record(3, "20260101T000500Z-bbbb", HYPER.fresh(), again, live=False)
    assert store.starting_agent(HYPER, None)[0].q[1, 1] == 0.0  # live table untouched
    assert store.first_start(3) == store.snapshot(3, "20260101T000000Z-aaaa", "start")
    # A version no run read starts afresh.
    assert store.starting_agent(HYPER, 4)[1] == "fresh"


def test_a_foreign_live_table_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "q_table.json").write_text(json.dumps({"format": "something-else"}))
    agent, source = QTableStore(tmp_path).starting_agent(HYPER, None)
    assert source == "fresh" and agent.episodes == 0
