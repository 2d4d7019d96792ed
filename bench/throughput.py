"""Throughput over a pre-filled topic: B2 fills it, B1 reads it raw, B3 parses it in Spark, P
drains it through every layer.

All three readers see the same topic (same ticks, same partitions), so their ratios compare the
work done per tick and nothing else.
"""

from __future__ import annotations

import logging
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from bench import deltalog
from bench.harness import (
    PARTITIONS,
    Broker,
    Workspace,
    child_env,
    create_topic,
    financelake,
    run_worker,
    settings,
    tail,
)
from bench.memory import RssSampler
from financelake.catalog import STREAM_QUERIES
from financelake.config import REPO_ROOT, TABLES
from financelake.kafka.client import confluent_config
from financelake.lake.progress import read_history, read_progress

log = logging.getLogger("bench")

_QUIET_LOG4J = "status = error\nrootLogger.level = ERROR\n"


def fill_topic(workspace: Workspace, broker: Broker, topic: str, ticks: int) -> dict[str, Any]:
    """B2: `financelake produce --rate 0`'s function fills a new topic of `ticks` ticks, in a
    child process like the CLI; figures from its `PublishReport`."""
    config = settings(broker, topic)
    create_topic(config, topic)
    report, wall = run_worker(
        workspace, f"produce-{topic}", config, "produce", "--count", str(ticks), "--rate", "0"
    )
    if not report["ok"] or report["sent"] != ticks:
        raise RuntimeError(f"produce sent {report['sent']:,} of {ticks:,} ticks: {report}")
    return {
        "topic": topic,
        "ticks": report["sent"],
        "partitions": PARTITIONS,
        "publish_s": report["seconds"],
        "ticks_per_s": report["ticks_per_s"],
        "command_s": wall,
        "command_ticks_per_s": report["sent"] / wall,
    }


def raw_consume(broker: Broker, topic: str, ticks: int) -> dict[str, Any]:
    """B1: drain the topic with a plain confluent-kafka consumer (values read, not decoded)."""
    config = settings(broker, topic)
    consumer = Consumer(
        {
            **confluent_config(config),
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        started = time.perf_counter()
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        received = size = 0
        first_at = None
        deadline = time.monotonic() + 120 + ticks / 10_000
        while received < ticks and time.monotonic() < deadline:
            batch = consumer.consume(num_messages=10_000, timeout=1.0)
            for message in batch:
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(f"consumer error: {error}")
                size += len(message.value() or b"")
            if batch and first_at is None:
                first_at = time.perf_counter()
            received += len(batch)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    if received < ticks:
        raise RuntimeError(f"read {received:,} of {ticks:,} ticks before the deadline")
    return {
        "ticks": received,
        "seconds": seconds,
        "ticks_per_s": received / seconds,
        "mb_per_s": size / 1e6 / seconds,
        "after_first_message_s": time.perf_counter() - (first_at or started),
    }


def kafka_consumer_perf(
    workspace: Workspace, broker: Broker, topic: str, ticks: int
) -> dict[str, Any]:
    """B1 (Java): Kafka's own ConsumerPerformance tool from the broker's jars."""
    log4j = workspace.path("logs") / "quiet-log4j2.properties"
    log4j.write_text(_QUIET_LOG4J)
    argv = [
        "java",
        "-Xmx512m",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{REPO_ROOT / '.jars' / 'kafka'}/*",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        broker.address,
        "--topic",
        topic,
        "--messages",
        str(ticks),
        "--group",
        f"bench-perf-{uuid.uuid4().hex[:8]}",
        "--timeout",
        "30000",
    ]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
    wall = time.perf_counter() - started
    (workspace.log_file("consumer-perf")).write_text(done.stdout + done.stderr)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    if done.returncode != 0 or header is None or header + 1 >= len(lines):
        raise RuntimeError(f"ConsumerPerformance exited {done.returncode}: {done.stderr[-800:]}")
    names = [n.strip() for n in lines[header].split(",")]
    values = [v.strip() for v in lines[header + 1].split(",")]
    row = dict(zip(names, values, strict=False))
    return {
        "ticks": int(float(row["data.consumed.in.nMsg"])),
        "ticks_per_s": float(row["fetch.nMsg.sec"]),
        "ticks_per_s_incl_group_join": float(row["nMsg.sec"]),
        "mb_per_s": float(row["fetch.MB.sec"]),
        "fetch_ms": float(row["fetch.time.ms"]),
        "group_join_ms": float(row["rebalance.time.ms"]),
        "command_s": wall,
    }


def spark_floor(workspace: Workspace, broker: Broker, topic: str, ticks: int) -> dict[str, Any]:
    """B3: Spark's Kafka source -> from_json -> noop sink, availableNow, in its own JVM."""
    root = workspace.path(f"floor-{topic}")
    config = settings(broker, topic, root / "lake")
    checkpoint = str(root / "ckpt")
    result, wall = run_worker(
        workspace, f"floor-{topic}", config, "floor", "--checkpoint", checkpoint
    )
    workspace.drop(root)
    if result["rows"] != ticks:
        raise RuntimeError(f"the Spark floor read {result['rows']:,} of {ticks:,} ticks")
    return {
        **result,
        "ticks": ticks,
        "ticks_per_s": ticks / result["query_s"],
        "command_s": wall,
        "command_ticks_per_s": ticks / wall,
    }


def pipeline_drain(
    workspace: Workspace,
    broker: Broker,
    topic: str,
    ticks: int,
    *,
    name: str,
    with_files: bool = False,
) -> dict[str, Any]:
    """P: `financelake run --available-now` into a fresh lake, memory sampled every 0.5 s.

    `drain_s` runs from the start of the first micro-batch to the end of the last one, ingest
    and Gold queries together, from the progress files the run writes. `command_s` is the whole
    child process: interpreter, JVM and session start, table set-up and shutdown included.
    """
    root = workspace.path(name)
    config = settings(broker, topic, root / "lake")
    log_path = workspace.log_file(name)
    argv = financelake("run", "--available-now")
    with RssSampler(broker.pid) as sampler:
        started = time.perf_counter()
        child = workspace.spawn(argv, log_path, child_env(config, workspace))
        sampler.watch(child.pid)
        code = child.wait()
        wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"run --available-now exited {code}; log {log_path}:\n{tail(log_path)}")
    drain_s = batches_span_s(config.lake_root)
    if drain_s is None:
        raise RuntimeError(f"the run wrote no stream progress; log {log_path}")
    lake = Path(config.lake_root)
    silver_rows = deltalog.row_count(lake / "silver")
    quarantined = deltalog.row_count(lake / "quarantine")
    result: dict[str, Any] = {
        "ticks": ticks,
        "drain_s": drain_s,
        "ticks_per_s": ticks / drain_s,
        "command_s": wall,
        "command_ticks_per_s": ticks / wall,
        "startup_s": wall - drain_s,
        "bronze_rows": deltalog.row_count(lake / "bronze"),
        "silver_rows": silver_rows,
        "quarantine_rows": quarantined,
        "gold_rows": deltalog.row_count(lake / "gold"),
        "queries": _query_seconds(config.lake_root),
        "memory": sampler.report(),
    }
    if silver_rows + quarantined != ticks:
        result["warning"] = f"silver + quarantine hold {silver_rows + quarantined:,} rows"
    elif quarantined:  # the bench's ticks are all valid: a quarantined one times the wrong path
        result["warning"] = f"{quarantined:,} of the bench's valid ticks went to quarantine"
    if with_files:
        result["files"] = {
            table: deltalog.file_stats(lake / table)
            for table in TABLES
            if (lake / table / "_delta_log").exists()
        }
    workspace.drop(root)
    return result


def batches_span_s(lake_root: str) -> float | None:
    """Seconds from the first micro-batch's start to the last one's end, over every stream."""
    spans = [
        (batch.timestamp.timestamp(), batch.timestamp.timestamp() + (batch.trigger_ms or 0) / 1e3)
        for query in STREAM_QUERIES
        for batch in read_history(lake_root, query)
        if batch.timestamp is not None
    ]
    if not spans:
        return None
    return max(end for _, end in spans) - min(start for start, _ in spans)


def _query_seconds(lake_root: str) -> dict[str, Any]:
    """Per query: batches and the sum of their trigger durations (from the progress files)."""
    out: dict[str, Any] = {}
    for query in STREAM_QUERIES:
        batches = read_history(lake_root, query)
        if not batches:
            continue
        out[query] = {
            "batches": len(batches),
            "trigger_s": sum(batch.trigger_ms or 0 for batch in batches) / 1000,
            "rows": sum(batch.input_rows or 0 for batch in batches),
        }
        latest = read_progress(lake_root, query)
        if latest is not None:  # where the last batch's time went (addBatch, planning, ...)
            out[query]["last_batch_ms"] = dict(latest.durations_ms)
    return out
