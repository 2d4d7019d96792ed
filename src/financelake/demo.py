"""`financelake demo`: the whole product on one machine, stopped cleanly by one Ctrl+C.

Starts (only what is not already running) the embedded Kafka broker, then three child
processes: the simulated market (`produce`, trend model, market time accelerated), the
continuous pipeline with a short training interval (`run`), and the dashboard. Ctrl+C or
SIGTERM stops the children it started and the broker if it started it, nothing else.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from financelake.children import cli_command, start_child, stop_children, stop_signals
from financelake.config import TABLES, Settings
from financelake.environment import settings_env
from financelake.errors import (
    BrokerError,
    FinanceLakeError,
    KafkaUnavailableError,
    PortInUseError,
)
from financelake.kafka.broker import EmbeddedBroker
from financelake.kafka.client import describe_cluster, ensure_topic
from financelake.lake.read import read_table
from financelake.lake.values import as_utc

log = logging.getLogger(__name__)

SYMBOLS = "AAPL,MSFT,GOOG,AMZN"
# 4 symbols at `rate` ticks/s, each tick TICK_INTERVAL_S of market time: at the default
# 100 ticks/s the market runs 25x real time, so a 1-minute bar closes every 2.4 s.
TICK_INTERVAL_S = 1.0
_CHILD_STOP_S = 35.0


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


def run_demo(
    settings: Settings, *, dashboard_port: int, rate: float, train_interval_s: float
) -> int:
    """Run the demo until Ctrl+C; return the exit code."""
    broker, started_broker = _ensure_broker(settings)
    logs = Path(settings.kafka_data_dir).resolve().parent / "demo-logs"
    logs.mkdir(parents=True, exist_ok=True)
    # The simulated market runs 25x faster than the clock: its ticks are "future" by design.
    demo_settings = settings.model_copy(update={"max_future": "3650 days"})
    env = settings_env(demo_settings)  # every setting, credentials included, reaches the children
    ensure_topic(settings)  # before the children: the pipeline's preflight requires it
    start = _market_start(settings)
    commands = {
        "market": [
            "produce", "--symbols", SYMBOLS, "--count", "0", "--rate", str(rate),
            "--model", "trend", "--tick-interval", str(TICK_INTERVAL_S),
            "--start", start.isoformat(),
        ],
        "pipeline": ["run", "--train-interval", str(train_interval_s)],
        "dashboard": ["dashboard", "--port", str(dashboard_port)],
    }  # fmt: skip
    children: list[_Child] = []
    stop = threading.Event()
    with stop_signals(lambda *_: stop.set()):
        try:
            for name, args in commands.items():
                children.append(_spawn(name, args, env, logs))
            print(_banner(settings, dashboard_port, logs), flush=True)
            while not stop.wait(1.0):  # wakes at once on Ctrl+C; else checks on the children
                _check_running(children)
            return 0
        finally:
            # SIGINT: each child stops its own JVM or server cleanly, and the market flushes.
            stop_children([c.process for c in reversed(children)], signal.SIGINT, _CHILD_STOP_S)
            if started_broker:
                broker.stop()
            print("FinanceLake demo stopped.", flush=True)


def _banner(settings: Settings, dashboard_port: int, logs: Path) -> str:
    metrics = (
        f"http://127.0.0.1:{settings.metrics_port}/metrics (Prometheus)"
        if settings.metrics_port
        else "off (--metrics-port 0)"
    )
    return (
        f"FinanceLake demo is running.\n"
        f"  dashboard : http://127.0.0.1:{dashboard_port} (it shows the Spark UI's address)\n"
        f"  metrics   : {metrics}\n"
        f"  tables    : {settings.lake_root}/{{{','.join(TABLES)}}}\n"
        f"  kafka     : {settings.bootstrap_servers} topic {settings.topic}\n"
        f"  logs      : {logs}/{{market,pipeline,dashboard}}.log\n"
        f"  status    : financelake status --lake-root {settings.lake_root}\n"
        "Press Ctrl+C to stop everything the demo started."
    )


def _check_running(children: list[_Child]) -> None:
    for child in children:
        if child.process.poll() is not None:
            raise FinanceLakeError(
                f"the demo's {child.name} exited with code {child.process.returncode}; "
                f"see {child.log_path}"
            )


def _ensure_broker(settings: Settings) -> tuple[EmbeddedBroker, bool]:
    host, _, port = settings.bootstrap_servers.split(",")[0].rpartition(":")
    broker = EmbeddedBroker(
        data_dir=Path(settings.kafka_data_dir).resolve(),
        port=int(port),
        jars_dir=settings.jars_dir,
    )
    try:
        describe_cluster(settings, timeout_s=3)
        log.info("using the Kafka broker already running at %s", settings.bootstrap_servers)
        return broker, False
    except KafkaUnavailableError:
        if host not in ("localhost", "127.0.0.1"):
            raise
    print(f"starting the embedded Kafka broker at {broker.address} ...", flush=True)
    try:
        broker.start()
    except PortInUseError as exc:
        raise BrokerError(
            f"port {exc.port} on 127.0.0.1 is already in use, and not by a Kafka broker the demo "
            "can use; stop what holds it or choose another with `demo --kafka-port PORT` "
            "(the controller uses PORT + 1)"
        ) from exc
    return broker, True


def _market_start(settings: Settings) -> datetime:
    """Continue market time after what the lake already holds, so a rerun is not 'late'."""
    now = datetime.now(UTC).replace(tzinfo=None)  # the simulator's times are naive UTC
    gold = read_table(settings.table_path("gold"), ["last_tick_at"])
    if gold is None or not gold.num_rows or "last_tick_at" not in gold.column_names:
        return now
    latest = as_utc(max(gold.column("last_tick_at").to_pylist())).replace(tzinfo=None)
    return max(now, latest + timedelta(minutes=5))


def _spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> _Child:
    log_path = logs / f"{name}.log"
    # In a session of its own: our Ctrl+C reaches it only through stop_children.
    process = start_child(cli_command(*args), env, log_path)
    log.info("started %s (pid %d), log %s", name, process.pid, log_path)
    return _Child(name, process, log_path)
