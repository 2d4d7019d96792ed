"""The `financelake` command: parse arguments, build Settings, call one function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from financelake.config import CONFIG_ENV, Settings, setting_origins
from financelake.errors import FinanceLakeError, SetupError
from financelake.flags import add_log_flags, add_setting_flags, setting_flags
from financelake.logs import configure_logging

if TYPE_CHECKING:
    from financelake.market.publisher import PublishReport

log = logging.getLogger("financelake")


def _common(parser: argparse.ArgumentParser, *, spark: bool = False) -> None:
    group = parser.add_argument_group("where (default: settings / FINANCELAKE_* variables)")
    group.add_argument("--lake-root", help="root folder or URI of the Delta tables")
    group.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, host:port[,...]")
    group.add_argument("--topic", help="Kafka topic of the ticks")
    group.add_argument(
        "--security-protocol", choices=["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
    )
    group.add_argument("--sasl-mechanism", choices=["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
    group.add_argument(
        "--sasl-username", help="SASL user; the password comes from FINANCELAKE_SASL_PASSWORD"
    )
    if spark:
        group.add_argument("--master", help="Spark master: local[*] (default), spark://host:7077")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="financelake",
        description="Streaming lakehouse for market data: Kafka -> Spark -> Delta Lake.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('financelake')}")
    _config_flag(parser)
    add_log_flags(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kafka = commands.add_parser("kafka", help="the embedded single-node Kafka broker")
    kafka_actions = kafka.add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in (
        ("start", "format (first time) and start a broker on 127.0.0.1"),
        ("stop", "stop the broker gracefully"),
        ("status", "exit 0 and print the address if the broker is up"),
    ):
        sub = kafka_actions.add_parser(action, help=text)
        sub.add_argument("--port", type=int, default=9092, help="client port (controller: +1)")
        sub.add_argument(
            "--data-dir", dest="kafka_data_dir", type=Path, help="data, config and log folder"
        )
        if action == "start":
            sub.add_argument("--heap", default="512m", help="broker JVM heap (default 512m)")
            sub.add_argument(
                "--foreground", action="store_true", help="run in this process (a container)"
            )
            sub.add_argument(
                "--advertised-host", help="listen on all interfaces, advertise this host name"
            )

    produce = commands.add_parser("produce", help="publish simulated or replayed ticks")
    _common(produce)
    produce.add_argument("--symbols", default="AAPL,MSFT,GOOG,AMZN", help="comma-separated")
    produce.add_argument(
        "--count",
        type=int,
        help="ticks to send; 0 = until stopped (default: 1000 simulated, a replay's whole file)",
    )
    produce.add_argument("--rate", type=float, default=0.0, help="ticks per second; 0 = max")
    produce.add_argument("--seed", type=int, help="same seed, same ticks")
    produce.add_argument("--model", choices=["random-walk", "trend"], default="trend")
    produce.add_argument(
        "--tick-interval", type=float, default=1.0, help="market seconds per tick per symbol"
    )
    produce.add_argument("--start", help="market time of the first tick (ISO 8601; default now)")
    produce.add_argument(
        "--replay", type=Path, help="CSV or Parquet of bars or trades to replay instead"
    )
    produce.add_argument(
        "--symbol", help="symbol of a replayed file without a Symbol column (default: its name)"
    )
    produce.add_argument(
        "--bar-interval", help="replayed bar length, e.g. '1 day' (default: inferred)"
    )
    produce.add_argument("--partitions", type=int, help="partitions if the topic is created")

    run = commands.add_parser("run", help="run the pipeline (and the training cycle)")
    _common(run, spark=True)
    run.add_argument(
        "--available-now", action="store_true", help="drain the topic through every layer, exit"
    )
    run.add_argument("--bar-interval", help="Gold bar length, e.g. '1 minute' or '1 day'")
    run.add_argument("--watermark", help="allowed lateness in event time, e.g. '30 seconds'")
    run.add_argument("--trigger-interval", help="micro-batch interval, e.g. '1 second'")
    run.add_argument(
        "--gold-trigger-interval", help="how often Gold catches up with Silver, e.g. '10 seconds'"
    )
    run.add_argument("--max-offsets-per-trigger", type=int)
    run.add_argument(
        "--max-future", help="quarantine ticks this far ahead of Kafka's time, e.g. '5 minutes'"
    )
    run.add_argument(
        "--field-map", help="the feed's field names, e.g. 'symbol=s,price=p,volume=v,timestamp=t'"
    )
    run.add_argument("--train-interval", type=float, help="seconds between training cycles")
    run.add_argument("--no-train", action="store_true", help="streams only, no training cycle")

    train = commands.add_parser("train", help="one training cycle now (classifier, then trader)")
    _common(train, spark=True)
    train.add_argument(
        "--as-of-version",
        type=int,
        help="train on this Delta version of Gold; the trader starts from the Q-table snapshot "
        "the first run on that version started from (a fresh table if no run read it) and the "
        "live Q-table is left alone, so the same version gives the same trader metrics",
    )
    train.add_argument("--bar-interval", help="Gold bar length the lake was built with")
    train.add_argument("--watermark", help="allowed lateness the lake was built with")

    maintain = commands.add_parser(
        "maintain", help="compact, vacuum and expire old results now (the service does it too)"
    )
    _common(maintain, spark=True)

    status = commands.add_parser("status", help="tables, streams, models at a glance (no JVM)")
    _common(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--check",
        action="store_true",
        help="health check: print 'ok' and exit 0, or one line saying why and exit 1 (broker "
        "unreachable, a stream stale or lagging, the service stopped, the last training failed)",
    )

    dashboard = commands.add_parser("dashboard", help="the live web dashboard")
    _common(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=int, default=8501)

    demo = commands.add_parser("demo", help="broker + simulated market + pipeline + dashboard")
    _common(demo)
    demo.add_argument("--port", type=int, default=8501, help="dashboard port")
    demo.add_argument(
        "--kafka-port",
        type=int,
        help="port of the embedded Kafka broker (controller: +1); sets --bootstrap-servers",
    )
    demo.add_argument("--rate", type=float, default=200.0, help="ticks per second")
    demo.add_argument("--train-interval", type=float, default=20.0)

    sql = commands.add_parser("sql", help="query the lake's tables with SQL (no JVM)")
    sql.add_argument("query", help="one SQL statement; tables go by their names, e.g. gold")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    _common(sql)

    config = commands.add_parser("config", help="the effective settings")
    config_actions = config.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = config_actions.add_parser("show", help="each setting, its value and where it came from")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    # No options of its own: it takes --jars-dir (FINANCELAKE_JARS_DIR) like every command.
    commands.add_parser("setup", help="resolve the JVM jars with Maven into --jars-dir")

    for leaf in (*kafka_actions.choices.values(), *commands.choices.values(), show):
        if leaf not in (kafka, config):
            _config_flag(leaf)
            add_setting_flags(leaf)
    return parser


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        dest="config_file",
        metavar="PATH",
        type=Path,
        default=argparse.SUPPRESS,
        help=f"TOML file of settings (also {CONFIG_ENV}); keys are the setting names",
    )


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the flags given, FINANCELAKE_* variables, then the --config file."""
    return Settings(**_flags_of(args))


def _flags_of(args: argparse.Namespace) -> dict[str, Any]:
    given = setting_flags(args)
    if getattr(args, "kafka_port", None) is not None:
        if "bootstrap_servers" in given:
            raise FinanceLakeError("give --kafka-port or --bootstrap-servers, not both")
        given["bootstrap_servers"] = f"127.0.0.1:{args.kafka_port}"
    return given


def _use_config_flag(args: argparse.Namespace) -> None:
    # Through the variable, so that Settings() anywhere in this process and in the demo's child
    # processes reads the same file.
    if hasattr(args, "config_file"):
        os.environ[CONFIG_ENV] = str(args.config_file.expanduser().resolve())


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _use_config_flag(args)
        settings = settings_from(args)
        configure_logging(settings.log_level, settings.log_format)
        handler = _COMMANDS[args.command]
        return handler(args, settings)
    except ValidationError as exc:
        print(f"error: invalid setting: {exc}", file=sys.stderr)
        return 2
    except FinanceLakeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


# Commands ----------------------------------------------------------------------------------
def _kafka(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.kafka.broker import EmbeddedBroker

    broker = EmbeddedBroker(
        data_dir=settings.kafka_data_dir.resolve(),
        port=args.port,
        jars_dir=settings.jars_dir,
        heap=getattr(args, "heap", "512m"),
        advertised_host=getattr(args, "advertised_host", None),
    )
    if args.action == "start" and args.foreground:
        broker.run_foreground()
    if args.action == "start":
        broker.start()
        print(f"kafka broker up at {broker.address} (log: {broker.log_path})")
        return 0
    if args.action == "stop":
        stopped = broker.stop()
        print("kafka broker stopped" if stopped else "kafka broker was not running")
        return 0
    if broker.is_running():
        print(broker.address)
        return 0
    print(f"no kafka broker at {broker.address} (data dir {broker.data_dir})", file=sys.stderr)
    return 1


def _produce(args: argparse.Namespace, settings: Settings) -> int:
    report = produce_report(args, settings)
    print(report)
    return 0 if report.ok else 1


def produce_report(args: argparse.Namespace, settings: Settings) -> PublishReport:
    """What `financelake produce` does with parsed `args`, its report returned, not printed
    (the bench reads it as JSON)."""
    from datetime import datetime

    from financelake.config import interval_seconds
    from financelake.market.publisher import produce

    return produce(
        settings,
        symbols=[s.strip() for s in args.symbols.split(",") if s.strip()],
        count=(0 if args.replay else 1000) if args.count is None else args.count,
        rate=args.rate,
        seed=settings.seed if args.seed is None else args.seed,
        model=args.model,
        tick_interval_s=args.tick_interval,
        start=datetime.fromisoformat(args.start) if args.start else None,
        replay=args.replay,
        symbol=args.symbol,
        bar_seconds=interval_seconds(args.bar_interval) if args.bar_interval else None,
    )


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.service import run_pipeline

    return run_pipeline(settings, available_now=args.available_now, train=not args.no_train)


def _train(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.service import train_once

    return train_once(settings, as_of_version=args.as_of_version)


def _maintain(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.service import maintain_once

    return maintain_once(settings)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.status import collect_status, render_status

    if args.check:
        from financelake.status.check import check_lake

        result = check_lake(settings)
        print(result.line)
        return result.exit_code
    report = collect_status(settings)
    print(json.dumps(report, indent=2, default=str) if args.json else render_status(report))
    return 0


def _require_extra(module: str, extra: str) -> None:
    if find_spec(module) is None:
        raise SetupError(
            f"this command needs the `{extra}` extra, which is not installed: "
            f"pip install 'financelake[{extra}]'"
        )


def _dashboard(args: argparse.Namespace, settings: Settings) -> int:
    _require_extra("streamlit", "dashboard")
    from financelake.dashboard.launch import serve

    exit_code: int = serve(settings, host=args.host, port=args.port)
    return exit_code


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    _require_extra("streamlit", "dashboard")  # before it starts a broker and a pipeline
    from financelake.demo import run_demo

    exit_code: int = run_demo(
        settings, dashboard_port=args.port, rate=args.rate, train_interval_s=args.train_interval
    )
    return exit_code


def _sql(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.sql import query_lake, render

    print(render(query_lake(settings, args.query), args.format))
    return 0


def _config(args: argparse.Namespace, settings: Settings) -> int:
    values = settings.model_dump(mode="json")  # SecretStr dumps as '**********'
    origins = setting_origins(_flags_of(args))
    if args.json:
        report = {name: {"value": values[name], "from": origins[name]} for name in values}
        print(json.dumps(report, indent=2))
        return 0
    print(f"settings file: {os.environ.get(CONFIG_ENV) or '(none)'}")
    width = max(map(len, values))
    for name, value in values.items():
        print(f"{name:<{width}}  {origins[name]:<7}  {json.dumps(value)}")
    return 0


def _setup(args: argparse.Namespace, settings: Settings) -> int:
    from financelake.class_archive import record_archive
    from financelake.jars import resolve_jars

    print(resolve_jars(settings.jars_dir))
    if settings.class_archive:
        print(record_archive(settings.jars_dir))
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "kafka": _kafka,
    "produce": _produce,
    "run": _run,
    "train": _train,
    "maintain": _maintain,
    "status": _status,
    "dashboard": _dashboard,
    "demo": _demo,
    "sql": _sql,
    "config": _config,
    "setup": _setup,
}


def parse_only(argv: Sequence[str]) -> tuple[argparse.Namespace, Settings]:
    """Parse a command line and build its Settings without running it (for compose checks)."""
    args = build_parser().parse_args(argv)
    _use_config_flag(args)
    return args, settings_from(args)
