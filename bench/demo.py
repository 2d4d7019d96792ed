"""M, second half: resident memory of `financelake demo` (market, pipeline with training,
dashboard) on the bench's broker, sampled every 0.5 s for a fixed time, then SIGTERM."""

from __future__ import annotations

import time
from typing import Any

from bench import deltalog
from bench.harness import (
    Broker,
    Workspace,
    child_env,
    create_topic,
    financelake,
    settings,
    wait_for,
)
from bench.memory import RssSampler
from financelake.kafka.broker import free_port


def demo_memory(workspace: Workspace, broker: Broker, seconds: float) -> dict[str, Any]:
    root = workspace.path("demo")
    config = settings(broker, f"demo-{workspace.stamp}", root / "lake")
    env = child_env(config, workspace)
    # The demo writes its children's logs next to its Kafka data dir (unused: the bench's
    # broker is running), so this puts them with the bench's logs, which are kept.
    env["FINANCELAKE_KAFKA_DATA_DIR"] = str(workspace.path("logs", "demo") / "kafka")
    # Created first: `financelake demo` starts the market and the pipeline together, and the
    # pipeline's preflight fails when it looks before the market has created a new topic.
    create_topic(config, config.topic)
    log_path = workspace.log_file("demo")
    argv = financelake("demo", "--port", str(free_port()))
    with RssSampler(broker.pid) as sampler:
        demo = workspace.spawn(argv, log_path, env)
        sampler.watch(demo.pid)
        try:
            wait_for(
                lambda: (root / "lake" / "silver" / "_delta_log").exists(),
                240,
                "demo start",
                demo,
                log_path,
            )
            time.sleep(seconds)  # the demo runs on its own; this is the sampling window
        finally:
            stop_s = workspace.stop(demo, timeout_s=90)
    lake = root / "lake"
    result = {
        "seconds": seconds,
        "stop_s": stop_s,
        "silver_rows": deltalog.row_count(lake / "silver"),
        "gold_ml_runs": deltalog.row_count(lake / "gold_ml"),
        "memory": sampler.report(),
    }
    workspace.drop(root)
    return result
