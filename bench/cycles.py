"""T, first half: one training cycle (classifier, then trader) on synthetic Gold tables.

The cycles run in a child JVM (`python -m bench.worker train`), one session for every size, in
ascending size after a small warm-up cycle, so each figure is a warm session's cycle, as in the
long-running service. `seconds` is the wall time of `run_training_cycle` (read Gold, fit and score
the classifier, backtest the trader, write the four result tables).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from typing import Any

from bench.harness import Broker, Workspace, child_env, settings, tail

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
    log_path = workspace.log_file("training-cycles")
    all_sizes = [WARM_UP_BARS, *sizes]
    argv = [
        sys.executable, "-m", "bench.worker", "train",
        "--root", str(root), "--sizes", ",".join(str(s) for s in all_sizes),
    ]  # fmt: skip
    started = time.perf_counter()
    child = workspace.spawn(argv, log_path, child_env(config, workspace))
    code = child.wait()
    wall = time.perf_counter() - started
    lines = [x for x in log_path.read_text(errors="replace").splitlines() if x.startswith("{")]
    if code != 0 or not lines:
        raise RuntimeError(f"the training worker exited {code}; log {log_path}:\n{tail(log_path)}")
    result: dict[str, Any] = json.loads(lines[-1])
    workspace.drop(root)
    if "skipped" in result:
        return result
    cycles = result["cycles"]
    return {
        "warm_up": cycles[0],
        "cycles": cycles[1:],
        "command_s": wall,
    }
