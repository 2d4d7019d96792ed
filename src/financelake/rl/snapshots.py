"""Where the trader's Q-tables live: the live table the service carries from cycle to cycle, and
one snapshot per run of the table it started from and the one it ended with.

Layout under the models directory (local disk only; JSON written with local file operations):

    q_table.json                              the live table (the next cycle continues it)
    q_tables/v<gold version>/<run id>-start.json
    q_tables/v<gold version>/<run id>-end.json

A re-run as of Gold version V starts from the start snapshot of the first run that read V (run ids
sort by time), so it sees exactly the table that run saw, and it never touches the live table.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from financelake.rl.agent import QLearningAgent

log = logging.getLogger(__name__)

START, END = "start", "end"


@dataclass(frozen=True)
class Hyper:
    """The learning parameters from the settings. The trader learns every action at every bar
    (rl.backtest), so it never explores: epsilon is 0."""

    alpha: float
    gamma: float
    seed: int

    def fresh(self) -> QLearningAgent:
        return QLearningAgent(**asdict(self), epsilon=0.0)

    def load(self, path: Path) -> QLearningAgent | None:
        """The table at `path` with these learning rates, or None (missing, or a foreign format)."""
        if not path.exists():
            return None
        try:
            agent = QLearningAgent.load(path, seed=self.seed)
        except ValueError as error:
            log.warning("starting the trader afresh: %s", error)
            return None
        # The table carries over; the learning rates follow the settings.
        agent.alpha, agent.gamma = self.alpha, self.gamma
        return agent


@dataclass(frozen=True)
class QTableStore:
    """The live Q-table and the per-run snapshots under `root` (see the module docstring)."""

    root: Path

    @property
    def live(self) -> Path:
        return self.root / "q_table.json"

    def snapshot(self, version: int, run_id: str, which: str) -> Path:
        return self.root / "q_tables" / f"v{version}" / f"{run_id}-{which}.json"

    def first_start(self, version: int) -> Path | None:
        """The start snapshot of the first run that read `version`, if any."""
        starts = sorted((self.root / "q_tables" / f"v{version}").glob(f"*-{START}.json"))
        return starts[0] if starts else None

    def starting_agent(self, hyper: Hyper, as_of_version: int | None) -> tuple[QLearningAgent, str]:
        """The agent a run starts from, and where it came from (for the log and the tables).

        Latest Gold: the live table, or a fresh one. As of version V: the table the first run on
        V started from, or a fresh one; never the live table, which has learned from later bars.
        """
        source = self.live if as_of_version is None else self.first_start(as_of_version)
        agent = hyper.load(source) if source is not None else None
        if agent is None:
            return hyper.fresh(), "fresh"
        return agent, str(source)

    def record(
        self,
        version: int,
        run_id: str,
        start: QLearningAgent,
        end: QLearningAgent,
        live: bool,
    ) -> None:
        """Save the run's start and end snapshots, and the live table when `live`."""
        start.save(self.snapshot(version, run_id, START))
        end.save(self.snapshot(version, run_id, END))
        if live:
            end.save(self.live)
