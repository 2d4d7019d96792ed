"""The trader, the classifier's signal and every baseline, side by side, on five kinds of market.

Markets: `simulate_bars` (four symbols per seed) as a driftless random walk, the same walk tilted
up or down by 0.005% a bar, the `trend` model and the `mean-reverting` model. Strategies are run
and judged by the training cycle's own code (`training_nodes.trade` and `trade_signal`, default
Settings, 30% test part); each line is a mean over the (seed, symbol) runs with a 95% interval
across runs, and how many runs' own excess intervals lie above / below zero.

The classifier is a stand-in needing no Spark: a logistic regression (numpy, Newton steps) on the
pipeline's `prev_return` and `momentum`, fitted on the training part of every symbol and traded
long while P(up) > `signal_threshold`; the pipeline's own adds bar-shape and volume features.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from financelake.config import Settings
from financelake.market.simulator import simulate_bars
from financelake.ml.features import MOMENTUM_BARS
from financelake.training_nodes import trade, trade_signal, trader_hyper

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")
DRIFT_PER_BAR = 5e-5
TEST_FRACTION = 0.3


def _market(model: str, drift: float = 0.0) -> Callable[[int, int], pd.DataFrame]:
    """The simulator's `model`, its closes tilted by `drift` a bar."""

    def make(seed: int, bars: int) -> pd.DataFrame:
        frame = simulate_bars(SYMBOLS, bars=bars, model=model, seed=seed)  # type: ignore[arg-type]
        steps = frame.groupby("symbol").cumcount().to_numpy()
        return frame.assign(close=frame["close"] * np.exp(drift * steps))

    return make


MARKETS: dict[str, Callable[[int, int], pd.DataFrame]] = {
    "random walk": _market("random-walk"),
    "uptrend": _market("random-walk", DRIFT_PER_BAR),
    "downtrend": _market("random-walk", -DRIFT_PER_BAR),
    "trend model": _market("trend"),
    "mean-reverting": _market("mean-reverting"),
}


def _logistic(x: np.ndarray, y: np.ndarray, steps: int = 25, ridge: float = 1e-3) -> np.ndarray:
    """Logistic regression weights by Newton's method (a little ridge keeps it well posed)."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-x @ w))
        gradient = x.T @ (y - p) - ridge * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + ridge * np.eye(len(w))
        w += np.linalg.solve(hessian, gradient)
    return w


def classifier_scores(bars: pd.DataFrame) -> pd.DataFrame:
    """P(up) for every bar from the common time cutoff on (the stand-in classifier)."""
    times = np.unique(bars["window_start"])
    cutoff = times[len(times) - max(1, round(len(times) * TEST_FRACTION))]
    bars = bars.sort_values("symbol", kind="stable")
    close = bars.groupby("symbol")["close"]
    prev = close.pct_change().fillna(0.0)
    momentum = (bars["close"] / close.shift(MOMENTUM_BARS) - 1.0).fillna(0.0)
    following = close.shift(-1)
    up = (following > bars["close"]).to_numpy(dtype=float)
    test = (bars["window_start"] >= cutoff).to_numpy()
    train = ~test & following.notna().to_numpy()  # a bar without a next bar has no label
    x = np.column_stack([prev, momentum])
    x = (x - x[train].mean(axis=0)) / (x[train].std(axis=0) + 1e-12)
    x = np.column_stack([np.ones(len(x)), x])
    w = _logistic(x[train], up[train])
    probability_up = 1.0 / (1.0 + np.exp(-x[test] @ w))
    scored = bars.loc[test, ["symbol", "window_start"]].assign(kind="test")
    return scored.assign(probability_up=probability_up).reset_index(drop=True)


def run_market(make: Callable[[int, int], pd.DataFrame], seeds: int, bars: int) -> pd.DataFrame:
    """Every (seed, symbol, strategy) row of one market."""
    rows = []
    for seed in range(seeds):
        frame = make(seed, bars)
        run = Settings(test_fraction=TEST_FRACTION, seed=seed)
        agent = trader_hyper(run).fresh()
        scores = classifier_scores(frame)
        for traded in (trade(frame, agent, run), trade_signal(frame, scores, run)):
            rows.append(traded.metrics.assign(seed=seed))
    return pd.concat(rows, ignore_index=True)


def _mean_ci(values: pd.Series) -> dict[str, float]:
    data = values.dropna().astype(float)
    mean = float(data.mean())
    half = 1.96 * float(data.std(ddof=1)) / math.sqrt(len(data)) if len(data) > 1 else math.nan
    return {"mean": mean, "low": mean - half, "high": mean + half}


def summarise(market: str, rows: pd.DataFrame, min_test_bars: int) -> list[dict[str, Any]]:
    """Table lines of one market: the two strategies, then the baselines."""
    ok = rows[rows["status"] == "ok"]
    lines: list[dict[str, Any]] = []
    for strategy, group in ok.groupby("strategy", sort=False):
        lines.append(
            {
                "market": market,
                "strategy": strategy,
                "runs": len(group),
                "small_sample": bool((group["test_bars"] < min_test_bars).any()),
                "return": _mean_ci(group["agent_return"]),
                "exposure": float(group["exposure"].mean()),
                "excess_vs_exposure_matched": _mean_ci(group["excess_vs_exposure_matched"]),
                "runs_above_zero": int((group["excess_ci_low"] > 0).sum()),
                "runs_below_zero": int((group["excess_ci_high"] < 0).sum()),
                "trades": float(group["trades"].mean()),
                "sharpe": float(group["sharpe"].mean()),
                "test_bars": int(group["test_bars"].min()),
            }
        )
    agent = ok[ok["strategy"] == "q_learning"]
    for name, column in (
        ("buy_and_hold", "buy_hold_return"),
        ("hold", "hold_return"),
        ("random", "random_return"),
        ("exposure_matched (agent)", "exposure_matched_return"),
    ):
        lines.append(
            {
                "market": market,
                "strategy": name,
                "runs": len(agent),
                "return": _mean_ci(agent[column]),
            }
        )
    return lines


def _pct(figure: dict[str, float]) -> str:
    if math.isnan(figure["low"]):
        return f"{figure['mean']:+.2%}"
    return f"{figure['mean']:+.2%} [{figure['low']:+.2%}, {figure['high']:+.2%}]"


def render(lines: list[dict[str, Any]]) -> str:
    """A Markdown table of the summary lines."""
    out = [
        "| market | strategy | return, mean [95% CI over runs] | exposure | excess vs "
        "exposure-matched, mean [95% CI] | runs with interval above / below 0 | trades |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in lines:
        excess = line.get("excess_vs_exposure_matched")
        cells = [
            line["market"],
            line["strategy"] + (" (small sample)" if line.get("small_sample") else ""),
            _pct(line["return"]),
            f"{line['exposure']:.2f}" if "exposure" in line else "-",
            _pct(excess) if excess else "-",
            f"{line['runs_above_zero']} / {line['runs_below_zero']} of {line['runs']}"
            if excess
            else "-",
            f"{line['trades']:.0f}" if "trades" in line else "-",
        ]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--bars", type=int, default=6000, help="bars per symbol and seed")
    parser.add_argument("--out", type=Path, default=Path("studies/results/strategies.json"))
    args = parser.parse_args(argv)
    settings = Settings()
    lines: list[dict[str, Any]] = []
    for market, make in MARKETS.items():
        rows = run_market(make, args.seeds, args.bars)
        lines.extend(summarise(market, rows, settings.min_test_bars))
        print(f"{market}: done", flush=True)
    print(render(lines))
    payload = {
        "seeds": args.seeds,
        "bars": args.bars,
        "symbols": list(SYMBOLS),
        "test_fraction": TEST_FRACTION,
        "lines": lines,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
