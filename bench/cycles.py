"""T, first half: one training cycle (classifier, then trader) on synthetic Gold tables.

The cycles run in a child JVM (`python -m bench.worker train`), one session for every size, in
ascending size after a small warm-up cycle, so each figure is a warm session's cycle, as in the
long-running service. `seconds` is the wall time of `run_training_cycle` (read Gold, fit and score
the classifier, backtest the trader, write the four result tables).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from bench.harness import Broker, Workspace, run_worker, settings

WARM_UP_BARS = 1_000


def training_available() -> str | None:
    """None when financelake.training can be used, else why not."""
    if importlib.util.find_spec("financelake.training") is None:
        return "src/financelake/training.py does not exist yet"
    try:
        from financelake.training import run_training_cycle  # noqa: F401
    except ImportError as error:
        return f"financelake.training is not importable: {error}"
    return None


def training_cycles(workspace: Workspace, broker: Broker, sizes: list[int]) -> dict[str, Any]:
    root = workspace.path("training")
    config = settings(broker, "unused", root / "lake")
    sizes_arg = ",".join(str(s) for s in [WARM_UP_BARS, *sizes])
    result, wall = run_worker(
        workspace, "training-cycles", config, "train", "--root", str(root), "--sizes", sizes_arg
    )
    workspace.drop(root)
    if "skipped" in result:
        return result
    cycles = result["cycles"]
    return {
        "warm_up": cycles[0],
        "cycles": cycles[1:],
        "command_s": wall,
    }
