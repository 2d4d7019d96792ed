"""The Dockerfile, .dockerignore and the containers' health check, without a Docker engine.

The Dockerfile is parsed into its stages and checked for what the image promises: the install
step is the set-up script `make` runs (so the image gets the same package and jars), Maven stays
in the build stage, pinned base images, a non-root user, a health check, and the `financelake`
CLI as entrypoint. The health check script is run for real against local servers and files.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from support import load_healthcheck

from financelake.cli import parse_only
from financelake.config import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


# A small Dockerfile reader ---------------------------------------------------------------------
@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [arg for instr, arg in self.instructions if instr == keyword]


def read_dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) of the Dockerfile; continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], parts[0])
            stages.append(Stage(base, name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return global_args, stages


def env_of(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for arg in stage.args("ENV"):
        env.update(item.split("=", 1) for item in shlex.split(arg))
    return env


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return read_dockerfile()[1]


@pytest.fixture(scope="module")
def final(stages: list[Stage]) -> Stage:
    return stages[-1]


# The Dockerfile ---------------------------------------------------------------------------------
def test_the_install_step_is_the_set_up_script_make_runs(stages: list[Stage]) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(r"^setup:\n\tscripts/setup\.sh\s*$", makefile, re.MULTILINE)
    build = stages[0]
    runs = build.args("RUN")
    assert any(re.search(r"(^|\s)scripts/setup\.sh --no-venv(\s|$)", run) for run in runs)
    copies = " ".join(build.args("COPY"))
    for source in ("jvm/pom.xml", "scripts/", "pyproject.toml", "src/"):
        assert source in copies.split(), source


def test_maven_is_installed_in_the_build_stage_only(stages: list[Stage], final: Stage) -> None:
    build_runs = " ".join(stages[0].args("RUN"))
    assert re.search(r"apt-get install\b.*\bmaven\b", build_runs)
    final_runs = " ".join(final.args("RUN"))
    assert "maven" not in final_runs
    assert "openjdk-17-jre-headless" in final_runs, "a Java 17 runtime, not a JDK"


def test_base_images_are_pinned_by_tag(stages: list[Stage]) -> None:
    for stage in stages:
        _, _, tag = stage.base.partition(":")
        assert tag and tag != "latest", stage.base
        assert re.match(r"^\d+\.\d+\.\d+", tag), f"{stage.base}: pin a full version"
    assert stages[-1].base == stages[0].base, "build and run on the same interpreter"


def test_the_image_runs_as_a_non_root_user(final: Stage) -> None:
    users = final.args("USER")
    assert users and users[-1] not in ("root", "0", "0:0")
    assert any("useradd --uid 10001 --gid finance" in run for run in final.args("RUN"))


def test_the_image_has_a_healthcheck_and_the_cli_as_entrypoint(final: Stage) -> None:
    healthcheck = final.args("HEALTHCHECK")
    assert len(healthcheck) == 1 and "CMD" in healthcheck[0]
    assert '"/app/docker/healthcheck.py"' in healthcheck[0]
    assert [json.loads(arg) for arg in final.args("ENTRYPOINT")] == [["financelake"]]
    (command,) = [json.loads(arg) for arg in final.args("CMD")]
    with pytest.raises(SystemExit) as exited:
        parse_only(command)  # `financelake --help`: the real CLI accepts it
    assert exited.value.code == 0


def test_jars_are_baked_in_where_the_settings_look(stages: list[Stage], final: Stage) -> None:
    env = env_of(final)
    assert env["FINANCELAKE_JARS_DIR"] == "/app/.jars"
    assert stages[0].args("WORKDIR") == ["/app"]  # jvm/pom.xml writes to ../.jars from jvm/
    assert "--from=build /app /app" in final.args("COPY")
    assert "--from=build /opt/venv /opt/venv" in final.args("COPY")
    # The build fails if the jars are missing, rather than the first container.
    assert any("healthcheck.py image" in run for run in final.args("RUN"))


def test_spark_home_is_the_installed_pyspark_of_the_image(final: Stage) -> None:
    env = env_of(final)
    minor = ".".join(final.base.split(":")[1].split(".")[:2])  # 3.11.14-slim-... -> 3.11
    assert env["SPARK_HOME"] == f"/opt/venv/lib/python{minor}/site-packages/pyspark"
    assert env["PYSPARK_PYTHON"] == "/opt/venv/bin/python"
    assert env["PATH"].startswith("/opt/venv/bin:")
    assert env["FINANCELAKE_LAKE_ROOT"] == "/data/lake"


def test_build_trust_comes_as_optional_secrets_and_nothing_secret_is_baked_in(
    stages: list[Stage], final: Stage
) -> None:
    (install,) = [run for run in stages[0].args("RUN") if "scripts/setup.sh" in run]
    for secret in ("ca-bundle", "java-cacerts"):
        assert f"--mount=type=secret,id={secret}" in install
        assert f"if [ -f /run/secrets/{secret} ]" in install, "optional: builds without it too"
    assert "PIP_CERT=/run/secrets/ca-bundle" in install
    assert "-Djavax.net.ssl.trustStore=/run/secrets/java-cacerts" in install
    for stage in stages:
        declared = [*env_of(stage), *(arg.split("=")[0] for arg in stage.args("ARG"))]
        for name in declared:
            assert not re.search(r"PASSWORD|SECRET|TOKEN|SASL|CERT", name), (stage.name, name)
    assert not any("/run/secrets" in run for run in final.args("RUN"))
    # No `# syntax=` line: BuildKit's built-in frontend, nothing pulled but the base image.
    assert not DOCKERFILE.read_text().startswith("# syntax")


# .dockerignore ----------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> str:
    """A .dockerignore pattern as a regex: `**/` any directories, `*` and `?` within one."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] in "*?":
            regex, i = regex + ("[^/]*" if pattern[i] == "*" else "[^/]"), i + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return regex


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; a pattern also matches a path's parents."""
    result = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!").rstrip("/"))
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            result = not negate
    return result


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_local(
    stages: list[Stage],
) -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for stage in stages:
        for copy in stage.args("COPY"):
            if not copy.startswith("--from"):
                sources += copy.split()[:-1]
    for source in sources:
        assert not ignored(source.rstrip("/") + ("/x.py" if source.endswith("/") else ""), patterns)
    for local in (".venv/bin/python", ".jars/spark/x.jar", "lake/silver/x", ".git/HEAD", "tests/x"):
        assert ignored(local, patterns), local
    assert ignored("src/financelake/__pycache__/cli.cpython-311.pyc", patterns)


# The health check -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    return load_healthcheck()


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, Any]]]:
    """A local HTTP server answering each path with the JSON in `pages` (404 otherwise)."""
    pages: dict[str, Any] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in pages:
                self.send_error(404)
                return
            body = json.dumps(pages[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", pages
    httpd.shutdown()
    httpd.server_close()


def test_http_check_knows_a_live_master_and_a_registered_worker(
    healthcheck: ModuleType, server: tuple[str, dict[str, Any]]
) -> None:
    base, pages = server
    pages["/master/json/"] = {"status": "ALIVE", "aliveworkers": 1}
    pages["/standby/json/"] = {"status": "STANDBY"}
    pages["/worker/json/"] = {"masterurl": "spark://spark-master:7077"}
    pages["/lonely/json/"] = {"masterurl": ""}
    pages["/_stcore/health"] = "ok"
    assert healthcheck.main(["http", f"{base}/master/json/"]) == 0
    assert healthcheck.main(["http", f"{base}/worker/json/"]) == 0
    assert healthcheck.main(["http", f"{base}/_stcore/health"]) == 0
    for unhealthy in ("/standby/json/", "/lonely/json/", "/missing"):
        assert healthcheck.main(["http", base + unhealthy]) == 1, unhealthy
    assert healthcheck.main(["http", "http://127.0.0.1:1/json/"]) == 1


def test_pipeline_check_wants_recent_progress(
    healthcheck: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINANCELAKE_LAKE_ROOT", str(tmp_path))
    # `status --check` comes after the progress probe; with a real broker in
    # tests/integration/test_status_dashboard.py, here it finds nothing wrong.
    monkeypatch.setattr(healthcheck, "check_status", lambda settings: "status --check: ok")
    assert healthcheck.main(["pipeline"]) == 1  # nothing reported yet
    from financelake.lake.progress import progress_dir

    folder = progress_dir(str(tmp_path))
    assert folder is not None
    progress = folder / "ingest.json"  # where the service writes it
    progress.parent.mkdir(parents=True)
    progress.write_text("{}")
    assert healthcheck.main(["pipeline"]) == 0
    stale = time.time() - 10 * 60
    os.utime(progress, (stale, stale))
    assert healthcheck.main(["pipeline", "--max-age", "300"]) == 1


def test_auto_detection_checks_what_the_container_runs(healthcheck: ModuleType) -> None:
    python, cli = "/opt/venv/bin/python", "/opt/venv/bin/financelake"
    java = ["/usr/bin/java", "-cp", "/opt/venv/lib/python3.11/site-packages/pyspark/jars/*"]
    cases = {
        "spark master": [*java, healthcheck.MASTER_CLASS, "--host", "m", "--webui-port", "8090"],
        "spark worker": [*java, healthcheck.WORKER_CLASS, "spark://m:7077", "--cores", "1"],
        "dashboard": [python, cli, "dashboard", "--host", "0.0.0.0", "--port", "8502"],
        "producer": [python, cli, "produce", "--count", "0"],
        "pipeline": [python, "-m", "financelake", "run", "--master", "spark://m:7077"],
        "image": ["/usr/bin/sleep", "infinity"],
    }
    checks = {
        name: healthcheck.detect([["docker-init", "--"], argv]) for name, argv in cases.items()
    }
    assert {name: check.name for name, check in checks.items()} == {name: name for name in cases}
    assert checks["spark master"].run.args == ("http://127.0.0.1:8090/json/",)
    assert checks["spark worker"].run.args == ("http://127.0.0.1:8081/json/",)
    assert checks["dashboard"].run.args == ("http://127.0.0.1:8502/_stcore/health",)
    assert checks["producer"].run.args == (["produce", "--count", "0"],)
    # A one-shot drain is a job, not a service: only the image is checked.
    one_shot = [python, cli, "run", "--available-now"]
    assert healthcheck.detect([one_shot]).name == "image"


def test_the_image_check_finds_the_jars(
    healthcheck: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert healthcheck.main(["image"]) == 0  # this checkout's .jars, from `make setup`
    monkeypatch.setenv("FINANCELAKE_JARS_DIR", str(tmp_path))
    assert healthcheck.main(["image"]) == 1
