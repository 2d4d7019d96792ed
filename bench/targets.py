"""Every target the bench reports against, in one place, keyed by figure (issue 15's targets,
measured side by side in one run on a 2-core machine; see the README's key table)."""

from __future__ import annotations

TARGETS: dict[str, tuple[str, float]] = {
    "p.drain_ticks_per_s": (">=", 60_000.0),  # the 1M-tick whole command
    "p_over_b3_steady": (">=", 0.5),
    "l.1000.silver_p95_s": ("<=", 1.5),
    "l.1000.silver_p99_s": ("<=", 2.5),
    "l.10000.silver_p95_s": ("<=", 3.0),
    "l.1000.gold_closed_lag_p95_s": ("<=", 3.0),
    "l.10000.gold_closed_lag_p95_s": ("<=", 3.0),
    "t.cycle_100000_s": ("<=", 15.0),  # one training cycle at 100,000 Gold bars
    "m.p.peak_total_mb": ("<=", 4096.0),  # broker + Spark JVM + Python, one sample's sum
    "m.demo.peak_total_mb": ("<=", 4096.0),
}


def distance(key: str, value: float) -> tuple[str, str]:
    """(the target as text, how far the value is from it) for a targeted key, else ("", "")."""
    if key not in TARGETS:
        return "", ""
    op, target = TARGETS[key]
    met = value >= target if op == ">=" else value <= target
    ratio = f"{value / target:.2g}x target"
    return (
        f"{'≥' if op == '>=' else '≤'} {target:,g}",
        f"met ({ratio})" if met else f"missed ({ratio})",
    )
