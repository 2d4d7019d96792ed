"""Health check of a FinanceLake container (the image's HEALTHCHECK and compose's probes).

    healthcheck.py                 find what this container runs and check it (below)
    healthcheck.py http URL        URL answers 200 (a Spark master must be ALIVE, a worker
                                   registered with a master)
    healthcheck.py pipeline        the pipeline's streams reported progress lately (its Spark
                                   UI answers, if the lake is remote: no progress files there),
                                   and `financelake status --check` finds nothing wrong
    healthcheck.py kafka           the broker answers with our credentials and has the topic
    healthcheck.py image           the package imports and the JVM jars are in place

Without arguments the container's processes decide: a Spark master or worker is checked through
its web UI, `financelake run` through its progress files (its Spark UI if the lake is remote) and
`financelake status --check` (broker, stale streams, lag, the last training run),
`financelake dashboard` through Streamlit's health endpoint, `financelake produce` through
Kafka, anything else through `image`. A `financelake` command line is parsed by the CLI itself
(with this container's FINANCELAKE_* variables), so the check looks where the process does.
Exit status 0 is healthy, 1 unhealthy; one line says why. The package is imported only by the
checks that need it, so an `http` probe stays a quick, plain-Python call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from financelake.config import Settings

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
PROGRESS_MAX_AGE_S = 120.0  # Spark reports progress at least every 10 s, even without data
HTTP_TIMEOUT_S = 5.0


class Unhealthy(Exception):
    """The checked service is not (yet) healthy; the message says why."""


@dataclass(frozen=True)
class Check:
    """One named probe: `run` returns a short description or raises Unhealthy."""

    name: str
    run: Callable[[], str]


# Probes ---------------------------------------------------------------------------------------
def check_http(url: str) -> str:
    """GET `url`: 200, and for a Spark master/worker's JSON, ALIVE / registered."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            body = response.read()
    except (urllib.error.URLError, OSError) as exc:
        raise Unhealthy(f"{url} did not answer: {exc}") from exc
    if url.rstrip("/").endswith("/json"):
        try:
            state = json.loads(body)
        except ValueError as exc:
            raise Unhealthy(f"{url} answered something other than JSON") from exc
        if "status" in state and state["status"] != "ALIVE":
            raise Unhealthy(f"Spark master at {url} is {state['status']}")
        if "masterurl" in state and not state["masterurl"]:
            raise Unhealthy(f"Spark worker at {url} is not registered with a master yet")
    return f"{url} answers"


def check_progress(lake_root: str, max_age_s: float = PROGRESS_MAX_AGE_S) -> str:
    """The newest progress file of the pipeline's streams is younger than `max_age_s`."""
    folder = Path(lake_root) / "_status" / "streams"  # see financelake.streams.progress
    files = list(folder.glob("*.json"))
    if not files:
        raise Unhealthy(f"no stream has reported progress in {folder} yet")
    age = time.time() - max(path.stat().st_mtime for path in files)
    if age > max_age_s:
        raise Unhealthy(f"the streams last reported progress {age:.0f} s ago (> {max_age_s:.0f})")
    return f"streams reported progress {age:.0f} s ago"


def check_kafka(argv: Sequence[str] = ()) -> str:
    """The broker of `financelake <argv>` (or of the environment) answers and has the topic."""
    from financelake.cli import parse_only
    from financelake.config import Settings
    from financelake.errors import FinanceLakeError
    from financelake.kafka.client import describe_cluster

    settings = parse_only(argv)[1] if argv else Settings()
    try:
        topics = describe_cluster(settings, timeout_s=HTTP_TIMEOUT_S)
    except FinanceLakeError as exc:
        raise Unhealthy(str(exc)) from exc
    if settings.topic not in topics:
        raise Unhealthy(f"topic {settings.topic!r} does not exist on {settings.bootstrap_servers}")
    return f"topic {settings.topic} on {settings.bootstrap_servers}"


def check_image() -> str:
    """The package imports and the Delta/Kafka jars are where the settings say."""
    from financelake.config import Settings
    from financelake.errors import SetupError
    from financelake.spark import spark_jars

    jars_dir = Settings().jars_dir
    try:
        count = len(spark_jars(jars_dir))
    except SetupError as exc:
        raise Unhealthy(str(exc)) from exc
    return f"financelake installed, {count} Spark jars in {jars_dir}"


# What does this container run? ----------------------------------------------------------------
def financelake_args(argv: Sequence[str]) -> list[str] | None:
    """The arguments of a `financelake` command line (console script, -m or __main__.py)."""
    for index, arg in enumerate(argv[:3]):
        path = Path(arg)
        if path.name == "financelake":
            return list(argv[index + 1 :])
        if path.name == "__main__.py" and path.parent.name == "financelake":
            return list(argv[index + 1 :])
    return None


def option(argv: Sequence[str], name: str, default: str) -> str:
    """The value after `name` in a command line, else `default`."""
    for flag, value in pairwise(argv):
        if flag == name:
            return value
    return default


def detect(cmdlines: Sequence[Sequence[str]]) -> Check:
    """The check that fits the processes running in this container."""
    for argv in cmdlines:
        if MASTER_CLASS in argv:
            url = f"http://127.0.0.1:{option(argv, '--webui-port', '8080')}/json/"
            return Check("spark master", partial(check_http, url))
        if WORKER_CLASS in argv:
            url = f"http://127.0.0.1:{option(argv, '--webui-port', '8081')}/json/"
            return Check("spark worker", partial(check_http, url))
    for argv in cmdlines:
        args = financelake_args(argv)
        if args is not None:
            return _financelake_check(args)
    return Check("image", check_image)


def _financelake_check(argv: list[str]) -> Check:
    from financelake.cli import parse_only

    args, settings = parse_only(argv)
    if args.command == "dashboard":
        return Check(
            "dashboard", partial(check_http, f"http://127.0.0.1:{args.port}/_stcore/health")
        )
    if args.command == "produce":
        return Check("producer", partial(check_kafka, argv))
    if args.command == "run" and not args.available_now:
        return pipeline_check(settings)
    return Check("image", check_image)


def check_status(settings: Settings) -> str:
    """`financelake status --check` with the pipeline's own settings finds nothing wrong."""
    from financelake.status.check import check_lake

    result = check_lake(settings)
    if not result.healthy:
        raise Unhealthy(result.line)
    return f"status --check: {result.line}"


def pipeline_check(settings: Settings, max_age_s: float = PROGRESS_MAX_AGE_S) -> Check:
    """The streams ran lately (progress files of a local lake; the driver's Spark UI for a
    remote one), then `status --check`. Status alone would call a pipeline that has not run
    a batch yet healthy, so the progress probe goes first."""
    if settings.is_local_lake:
        running = partial(check_progress, settings.lake_root, max_age_s)
    else:
        running = partial(check_http, "http://127.0.0.1:4040/api/v1/applications")
    return Check("pipeline", lambda: f"{running()}; {check_status(settings)}")


def running_cmdlines(proc: Path = Path("/proc")) -> list[list[str]]:
    """Command lines of the other processes in this container (its PID namespace)."""
    own = os.getpid()
    cmdlines = []
    pids = sorted(int(entry.name) for entry in proc.iterdir() if entry.name.isdigit())
    for pid in pids:
        if pid == own:
            continue
        try:
            raw = (proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue  # the process ended meanwhile
        argv = [part.decode(errors="replace") for part in raw.split(b"\0") if part]
        if argv:
            cmdlines.append(argv)
    return cmdlines


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="healthcheck.py", description=__doc__.split("\n")[0])
    modes = parser.add_subparsers(dest="mode", metavar="MODE")
    modes.add_parser("auto", help="check what this container runs (the default)")
    http = modes.add_parser("http", help="the URL answers (Spark JSON: alive, registered)")
    http.add_argument("url")
    pipeline = modes.add_parser("pipeline", help="the pipeline's streams report progress")
    pipeline.add_argument("--max-age", type=float, default=PROGRESS_MAX_AGE_S)
    modes.add_parser("kafka", help="the broker and topic of FINANCELAKE_* answer")
    modes.add_parser("image", help="the package and the JVM jars are in place")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    if args.mode == "http":
        check = Check("http", partial(check_http, args.url))
    elif args.mode == "pipeline":
        from financelake.config import Settings

        check = pipeline_check(Settings(), args.max_age)
    elif args.mode == "kafka":
        check = Check("kafka", check_kafka)
    elif args.mode == "image":
        check = Check("image", check_image)
    else:
        check = detect(running_cmdlines())
    try:
        print(f"healthy ({check.name}): {check.run()}")
    except Unhealthy as exc:
        print(f"unhealthy ({check.name}): {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
