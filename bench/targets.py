"""The figures the bench is judged against, in one place (the report's rows and the charts)."""

from __future__ import annotations

GB = 1024.0  # MB per GB

TARGET_P = 100_000.0  # ticks/s through every layer
TARGET_P_B3 = 0.5  # P as a fraction of the Spark floor (B3)
TARGET_SILVER_P95_S = 3.0  # produce -> Silver p95 at 1,000 ticks/s
TARGET_CYCLE_S = 15.0  # one training cycle ...
TARGET_CYCLE_BARS = 100_000  # ... at this many Gold bars
TARGET_RSS_MB = 4 * GB  # peak resident memory, everything together
