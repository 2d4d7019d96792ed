"""Throughput over one pre-filled topic (B2 fills it, B1 reads it raw, B3 parses it in Spark, P
drains it through every layer), so their ratios compare the work per tick and nothing else;
S fits P's time against topic size; F counts files. See bench/README.md for each figure."""

from __future__ import annotations

import csv
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from confluent_kafka import Consumer, KafkaError, TopicPartition

from bench.harness import Workspace
from bench.memory import MemorySampler
from bench.worker import FLOOR_QUERY
from financelake.catalog import STREAM_QUERIES, TABLE_NAMES
from financelake.children import cli_command
from financelake.config import Settings
from financelake.kafka.client import confluent_config
from financelake.lake.history import commits
from financelake.lake.progress import read_history
from financelake.lake.read import table_summaries, table_summary
from financelake.market.simulator import DEFAULT_SYMBOLS

Figures = dict[str, Any]


def fill_topic(ws: Workspace, topic: str, ticks: int) -> Figures:
    """B2: `financelake produce --rate 0`'s function fills a new topic, in a child process."""
    config = ws.new_topic(topic)
    # One tick per symbol per second, ending now: starting now would put most ticks beyond
    # ingest's `max_future` and measure the quarantine instead of the pipeline.
    span = timedelta(seconds=ticks / len(DEFAULT_SYMBOLS) + 60)
    start = (datetime.now(UTC) - span).replace(tzinfo=None).isoformat()
    report, wall = ws.run_worker(
        f"produce-{topic}", config, "produce", "--count", str(ticks), "--rate", "0",
        "--tick-interval", "1", "--start", start,
    )  # fmt: skip
    if not report["ok"] or report["sent"] != ticks:
        raise RuntimeError(f"produce sent {report['sent']:,} of {ticks:,} ticks: {report}")
    return {"ticks": ticks, "ticks_per_s": report["ticks_per_s"], "command_s": wall}


def raw_consume(ws: Workspace, topic: str, ticks: int) -> Figures:
    """B1: drain the topic with a plain confluent-kafka consumer (values read, not decoded)."""
    group = {"group.id": f"bench-{uuid.uuid4().hex[:8]}", "enable.auto.commit": False}
    consumer = Consumer(confluent_config(ws.settings(topic)) | group)
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        received = size = 0
        deadline = time.monotonic() + 120 + ticks / 10_000
        while received < ticks and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"consumer error: {error}")
                size += len(message.value() or b"")
                received += 1
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    if received < ticks:
        raise RuntimeError(f"read {received:,} of {ticks:,} ticks before the deadline")
    return {"confluent_ticks_per_s": received / seconds, "confluent_mb_per_s": size / 1e6 / seconds}


def kafka_consumer_perf(ws: Workspace, topic: str, ticks: int) -> Figures:
    """B1 (Java): Kafka's own ConsumerPerformance tool, whose output is one CSV header + row."""
    log4j = ws.path("logs") / "quiet-log4j2.properties"
    log4j.write_text("status = error\nrootLogger.level = ERROR\n")
    assert ws.broker is not None
    jars = ws.settings(topic).jars_dir / "kafka"
    argv = [
        "java", "-Xmx512m", f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{jars}/*", "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", ws.broker.address, "--topic", topic, "--messages", str(ticks),
        "--group", f"bench-perf-{uuid.uuid4().hex[:8]}", "--timeout", "30000",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    ws.log_file("consumer-perf").write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if "," in line]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), len(lines))
    rows = list(csv.DictReader(lines[header:], skipinitialspace=True))
    if done.returncode != 0 or not rows:
        raise RuntimeError(f"ConsumerPerformance exited {done.returncode}: {done.stderr[-800:]}")
    row = {name.strip(): value.strip() for name, value in rows[0].items()}
    return {
        "kafka_tool_ticks_per_s": float(row["fetch.nMsg.sec"]),  # the group join excluded
        "kafka_tool_group_join_s": float(row["rebalance.time.ms"]) / 1000,
    }


def steady_span(lake_root: str, queries: tuple[str, ...]) -> tuple[float, int] | None:
    """(first batch start to last batch end in seconds, batches) over `queries`' progress files,
    None without batches. Batches that read no rows (polling before data came) are no work."""
    spans = [
        (start := batch.timestamp.timestamp(), start + (batch.trigger_ms or 0) / 1000)
        for query in queries
        for batch in read_history(lake_root, query)
        if batch.timestamp is not None and batch.input_rows != 0
    ]
    if not spans:
        return None
    return max(end for _, end in spans) - min(start for start, _ in spans), len(spans)


def _two_rates(ticks: int, command_s: float, lake_root: str, queries: tuple[str, ...]) -> Figures:
    span = steady_span(lake_root, queries)
    if span is None:
        raise RuntimeError(f"no stream progress under {lake_root}")
    steady_s, batches = span
    return {
        "ticks": ticks,
        "drain_s": command_s,
        "drain_ticks_per_s": ticks / command_s,
        "steady_s": steady_s,
        "steady_ticks_per_s": ticks / steady_s,
        "startup_s": command_s - steady_s,
        "batches": batches,
    }


def spark_floor(ws: Workspace, topic: str, ticks: int) -> Figures:
    """B3: Spark's Kafka source -> from_json -> noop sink, availableNow, in its own JVM."""
    root = ws.path(f"floor-{topic}")
    config = ws.settings(topic, root)
    _, wall = ws.run_worker(f"floor-{topic}", config, "floor")
    rows = sum(b.input_rows or 0 for b in read_history(config.lake_root, FLOOR_QUERY))
    if rows != ticks:
        raise RuntimeError(f"the Spark floor read {rows:,} of {ticks:,} ticks")
    figures = _two_rates(ticks, wall, config.lake_root, (FLOOR_QUERY,))
    ws.drop(root)
    return figures


def pipeline_drain(ws: Workspace, topic: str, ticks: int, with_files: bool) -> Figures:
    """P: `financelake run --available-now` into a fresh lake; memory under `memory` and, with
    `with_files`, F's figures under `files`."""
    root = ws.path(f"drain-{ticks}")
    config = ws.settings(topic, root)
    with MemorySampler(ws.broker_pid) as sampler:
        argv = cli_command("run", "--available-now")
        wall = ws.run(argv, f"drain-{ticks}", config, watch=sampler.watch)
    figures = _two_rates(ticks, wall, config.lake_root, STREAM_QUERIES)
    rows = {t: s.rows for t, s in table_summaries(config, ("silver", "quarantine", "gold")).items()}
    figures |= {f"{name}_rows": count for name, count in rows.items()}
    if rows["silver"] + rows["quarantine"] != ticks:
        raise RuntimeError(f"silver + quarantine hold {rows['silver'] + rows['quarantine']:,} rows")
    figures["memory"] = sampler.report()
    if with_files:
        figures["files"] = files_by_table(config, TABLE_NAMES)
    ws.drop(root)
    return figures


def files_by_table(config: Settings, names: tuple[str, ...]) -> Figures:
    """F: per table, commits, data files added per data commit, live files and their mean size."""
    out: Figures = {}
    for name in names:
        path = config.table_path(name)
        summary = table_summary(path)
        if not summary.exists:
            continue
        history = commits(path)
        added = [len(c.added_files) for c in history if c.changes_data and c.added_files]
        out |= {
            f"{name}.commits": len(history),
            f"{name}.data_commits": len(added),
            f"{name}.files_per_data_commit": round(float(np.mean(added)), 2) if added else 0.0,
            f"{name}.live_files": summary.files,
            f"{name}.mean_file_mb": summary.size_bytes / max(summary.files, 1) / 1e6,
        }
    return out


def scaling_fit(points: list[tuple[int, float]]) -> Figures:
    """S: the fixed cost and the marginal cost of a million ticks, by least squares over
    (ticks, drain_s) (issue 15's 'marginal cost from two sizes')."""
    if len(points) < 2:
        return {}
    x, y = np.array(points, dtype=float).T
    slope, intercept = np.polyfit(x, y, 1)
    return {
        "fixed_s": float(intercept),
        "marginal_s_per_million": float(slope * 1e6),
        "marginal_ticks_per_s": float(1 / slope) if slope > 0 else None,
    }
