"""compose.yaml, checked as far as a machine without a Docker engine allows.

The files are validated by the real Compose CLI (`docker compose config`, or the standalone
`docker-compose` binary the `dev` extra installs); every `financelake`
command in it is parsed by the real CLI with the service's environment (as Compose interpolates
it from an empty shell), so a renamed flag or an invalid setting fails here, not in a container.
The Spark, Kafka, volume and health-check wiring is checked for consistency.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import compose_cli, load_healthcheck

from financelake.cli import parse_only
from financelake.config import REPO_ROOT, Settings
from financelake.kafka.broker import EmbeddedBroker

COMPOSE = REPO_ROOT / "compose.yaml"
EXTERNAL = REPO_ROOT / "docker" / "compose.external.yaml"
TEST_OVERRIDE = REPO_ROOT / "docker" / "compose.test.yaml"
OUR_IMAGE = "financelake:0.1.0"
HEALTHCHECK = "/app/docker/healthcheck.py"
LAKE_USERS = ("pipeline", "spark-worker", "dashboard")  # driver, executors, reader


# Loading the way Compose does -------------------------------------------------------------------
class Reset:
    """`!reset`: the override removes the value."""


class Override:
    """`!override value`: the override replaces the value instead of merging into it."""

    def __init__(self, value: Any) -> None:
        self.value = value


class _ComposeLoader(yaml.SafeLoader):
    """yaml's safe loader plus Compose's merge tags."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    assert isinstance(node, yaml.MappingNode), "only mappings are overridden here"
    return Override(loader.construct_mapping(node, deep=True))


_ComposeLoader.add_constructor("!reset", _reset)
_ComposeLoader.add_constructor("!override", _override)


def load(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=_ComposeLoader)
    return document


def plain(value: Any) -> Any:
    """The document as plain data (`!reset` keys gone, `!override` values plain)."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if not isinstance(item, Reset)}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


_UNION_KEYS = {"ports", "volumes", "expose", "networks", "dns"}  # lists Compose merges


def merge(base: Any, override: Any, key: str = "") -> Any:
    """Compose's merge of an override file: mappings merge, a few lists are united, other
    values are replaced; `!reset` removes and `!override` replaces."""
    if isinstance(override, Override):
        return copy.deepcopy(override.value)
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            if isinstance(value, Reset):
                merged.pop(name, None)
            else:
                merged[name] = merge(base.get(name), value, name)
        return merged
    if key in _UNION_KEYS and isinstance(base, list) and isinstance(override, list):
        return base + [item for item in override if item not in base]
    return copy.deepcopy(override)


_VARIABLE = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(value: Any, shell: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` and `$$`."""
    if isinstance(value, dict):
        return {key: interpolate(item, shell) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, shell) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        current = shell.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-") and missing:
            return str(arg)
        if op in (":?", "?") and missing:
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def resolved(shell: Mapping[str, str] | None = None, *overrides: Path) -> dict[str, Any]:
    """compose.yaml (plus override files), interpolated from `shell` (default: empty)."""
    document: Any = load(COMPOSE)
    for path in overrides:
        document = merge(document, load(path))
    result: dict[str, Any] = interpolate(plain(document), shell or {})
    return result


def enabled(config: Mapping[str, Any]) -> dict[str, Any]:
    """The services `docker compose up` starts (no profile)."""
    return {name: svc for name, svc in config["services"].items() if not svc.get("profiles")}


def service_settings(
    service: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Settings]:
    """Parse a service's `financelake` command with its environment, as the container would."""
    for name in [n for n in os.environ if n.startswith("FINANCELAKE_")]:
        monkeypatch.delenv(name)
    for name, value in (service.get("environment") or {}).items():
        if value is not None:  # a bare key is unset when the shell does not define it
            monkeypatch.setenv(name, str(value))
    return parse_only([str(arg) for arg in service["command"]])


def financelake_services(config: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in config["services"].items():
        if service.get("image") == OUR_IMAGE and "entrypoint" not in service:
            yield name, service


@pytest.fixture(scope="module")
def compose() -> list[str]:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose CLI here: compose files not validated")
    return cli


def compose_config(
    compose: list[str], *files: Path, shell: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`compose -f ... config`: Compose's own parse, merge, interpolation and schema validation
    (without `--quiet`, which skips the schema check in Compose 2.40). Compose reports a schema
    violation on stderr and still exits 0, so callers check both."""
    args = [*compose, "--project-directory", str(REPO_ROOT)]
    for path in files:
        args += ["-f", str(path)]
    env = {"PATH": os.environ.get("PATH", ""), **(shell or {})}
    return subprocess.run([*args, "config"], capture_output=True, text=True, env=env)


# The Compose CLI's own validation -------------------------------------------------------------
def test_compose_yaml_is_valid_for_the_compose_cli(compose: list[str]) -> None:
    result = compose_config(compose, COMPOSE)
    assert (result.returncode, result.stderr) == (0, "")


def test_the_external_override_is_valid_for_the_compose_cli(compose: list[str]) -> None:
    result = compose_config(compose, COMPOSE, EXTERNAL, shell={"SPARK_DRIVER_HOST": "10.0.0.5"})
    assert (result.returncode, result.stderr) == (0, "")


def test_the_compose_cli_catches_a_mistake(compose: list[str], tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    depends_on:", "    depend_on:", 1))
    result = compose_config(compose, broken)
    assert "additional properties 'depend_on' not allowed" in result.stderr


# The financelake commands ---------------------------------------------------------------------
def test_every_financelake_command_parses_with_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = resolved()
    parsed = {
        name: service_settings(service, monkeypatch)
        for name, service in financelake_services(config)
    }
    assert set(parsed) == {"kafka", "producer", "pipeline", "dashboard"}
    for _, settings in parsed.values():
        assert settings.bootstrap_servers == "kafka:9092"
        assert settings.lake_root == "/data/lake"
        assert settings.topic == "stock_prices"
        assert settings.security_protocol == "PLAINTEXT" and settings.sasl_password is None

    args, settings = parsed["pipeline"]
    assert args.command == "run" and not args.available_now
    assert settings.spark_master == "spark://spark-master:7077"
    assert settings.spark_driver_memory == "1g"
    args, _ = parsed["producer"]
    assert (args.command, args.count, args.rate) == ("produce", 0, 50.0)
    args, _ = parsed["dashboard"]
    assert (args.command, args.host, args.port) == ("dashboard", "0.0.0.0", 8501)
    args, settings = parsed["kafka"]
    assert (args.command, args.action, args.foreground) == ("kafka", "start", True)
    assert settings.kafka_data_dir == Path("/data/kafka")


def test_settings_from_the_shell_reach_every_financelake_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shell = {
        "FINANCELAKE_BOOTSTRAP_SERVERS": "broker-1.example:9093",
        "FINANCELAKE_SPARK_MASTER": "spark://spark.example:7077",
        "FINANCELAKE_SECURITY_PROTOCOL": "SASL_SSL",
        "FINANCELAKE_SASL_MECHANISM": "SCRAM-SHA-512",
        "FINANCELAKE_SASL_USERNAME": "finance",
        "FINANCELAKE_SASL_PASSWORD": "s3cret",
    }
    config = resolved(shell)
    for name, service in financelake_services(config):
        # A bare key takes the shell's value: emulate what Compose hands the container.
        service["environment"] = {
            key: (shell.get(key) if value is None else value)
            for key, value in service["environment"].items()
        }
        _, settings = service_settings(service, monkeypatch)
        assert settings.bootstrap_servers == "broker-1.example:9093", name
        assert settings.security_protocol == "SASL_SSL"
        assert settings.sasl_mechanism == "SCRAM-SHA-512"
        assert settings.sasl_password is not None
        assert settings.sasl_password.get_secret_value() == "s3cret"
        assert "s3cret" not in repr(settings)
        if name == "pipeline":
            assert settings.spark_master == "spark://spark.example:7077"


def test_healthchecks_of_our_services_are_valid_healthcheck_commands() -> None:
    parser = load_healthcheck().build_parser()
    for name, service in resolved()["services"].items():
        test = service["healthcheck"]["test"]
        if name == "kafka":  # the broker answers `kafka status` (no topic needed yet)
            assert test[:2] == ["CMD", "financelake"]
            assert parse_only(test[2:])[0].action == "status"
            continue
        assert test[:3] == ["CMD", "python", HEALTHCHECK], name
        parser.parse_args(test[3:])  # exits (fails the test) on an unknown mode


# The wiring -----------------------------------------------------------------------------------
def test_spark_master_worker_and_driver_agree() -> None:
    services = resolved()["services"]
    master, worker = services["spark-master"], services["spark-worker"]
    assert master["entrypoint"] == worker["entrypoint"] == ["spark-class"]
    assert master["image"] == worker["image"] == OUR_IMAGE  # the pyspark the driver runs
    assert master["command"][0] == "org.apache.spark.deploy.master.Master"
    assert worker["command"][0] == "org.apache.spark.deploy.worker.Worker"

    def flag(command: list[str], name: str) -> str:
        return command[command.index(name) + 1]

    url = f"spark://{flag(master['command'], '--host')}:{flag(master['command'], '--port')}"
    assert worker["command"][1] == url
    assert flag(services["pipeline"]["command"], "--master") == url
    assert f":{flag(master['command'], '--webui-port')}/json/" in master["healthcheck"]["test"][-1]
    assert f":{flag(worker['command'], '--webui-port')}/json/" in worker["healthcheck"]["test"][-1]
    assert "--host" not in worker["command"], "replicas must advertise their own address"
    # The executors the worker grants must fit the default executor memory of the pipeline.
    assert flag(worker["command"], "--memory") == "2g"
    assert "spark.executor.memory=1g" in services["pipeline"]["environment"]["PYSPARK_SUBMIT_ARGS"]
    assert services["pipeline"]["environment"]["PYSPARK_SUBMIT_ARGS"].endswith("pyspark-shell")


def test_the_lake_volume_is_mounted_at_the_same_path_wherever_spark_or_readers_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = resolved()
    mounts = {}
    for name in LAKE_USERS:
        service = config["services"][name]
        lake = [v for v in service["volumes"] if v.split(":")[0] == "lake"]
        assert len(lake) == 1, name
        mounts[name] = lake[0].split(":")[1]
    assert set(mounts.values()) == {"/data"}
    assert "lake" in config["volumes"]
    _, settings = service_settings(config["services"]["pipeline"], monkeypatch)
    assert Path(settings.lake_root).parent == Path("/data")
    assert config["services"]["dashboard"]["volumes"] == ["lake:/data:ro"]


def test_every_service_is_on_finance_net_with_a_healthcheck() -> None:
    config = resolved()
    assert config["networks"]["finance-net"]["name"] == "finance-net"
    for name, service in config["services"].items():
        assert service["networks"] == ["finance-net"], name
        assert service["healthcheck"]["test"][0] == "CMD", name
        assert service["restart"] == "unless-stopped", name


def test_services_wait_for_healthy_dependencies() -> None:
    services = resolved()["services"]
    order = {name: set(svc.get("depends_on", {})) for name, svc in services.items()}
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency]
    assert order["pipeline"] == {"kafka", "producer", "spark-worker"}
    assert order["producer"] == {"kafka"}
    assert order["spark-worker"] == {"spark-master"}
    assert order["dashboard"] == {"pipeline"}


def test_kafka_is_our_embedded_broker_reachable_as_the_default_bootstrap_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka = resolved()["services"]["kafka"]
    assert kafka["image"] == OUR_IMAGE, "the same Kafka as the embedded broker of local runs"
    args, settings = service_settings(kafka, monkeypatch)
    assert (args.action, args.foreground, args.advertised_host) == ("start", True, "kafka")
    assert f"{args.advertised_host}:{args.port}" == settings.bootstrap_servers == "kafka:9092"
    assert kafka["volumes"] == [f"kafka-data:{settings.kafka_data_dir}"]
    probe, _ = parse_only(kafka["healthcheck"]["test"][2:])
    assert (probe.port, probe.kafka_data_dir) == (args.port, args.kafka_data_dir)
    # Other containers reach it: the client listener binds every interface, advertises `kafka`.
    broker = EmbeddedBroker(tmp_path, port=args.port, advertised_host=args.advertised_host)
    properties = broker._write_config().read_text().splitlines()
    assert "listeners=CLIENT://0.0.0.0:9092,CONTROLLER://127.0.0.1:9093" in properties
    assert "advertised.listeners=CLIENT://kafka:9092" in properties


def test_published_ports_listen_on_localhost_only() -> None:
    published = {name: service.get("ports", []) for name, service in resolved()["services"].items()}
    assert "127.0.0.1:8501:8501" in published["dashboard"]
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), (name, port)


def test_images_are_pinned_and_ours_is_built_once_from_this_repository() -> None:
    for name, service in resolved()["services"].items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        if service["image"] == OUR_IMAGE:
            assert service["build"] == {"context": "."}, name


# The override for an existing Kafka and Spark --------------------------------------------------
def test_the_external_override_starts_only_our_services(monkeypatch: pytest.MonkeyPatch) -> None:
    shell = {
        "FINANCELAKE_BOOTSTRAP_SERVERS": "broker-1.example:9092",
        "FINANCELAKE_SPARK_MASTER": "spark://spark.example:7077",
        "SPARK_DRIVER_HOST": "10.0.0.5",
    }
    config = resolved(shell, EXTERNAL)
    up = enabled(config)
    assert set(up) == {"producer", "pipeline", "dashboard"}
    for name, service in up.items():
        assert set(service.get("depends_on", {})) <= set(up), name

    pipeline = up["pipeline"]
    submit = pipeline["environment"]["PYSPARK_SUBMIT_ARGS"]
    assert "spark.driver.host=10.0.0.5" in submit and submit.endswith("pyspark-shell")
    assert {"7078:7078", "7079:7079"} <= set(pipeline["ports"])
    _, settings = service_settings(pipeline, monkeypatch)
    assert settings.spark_master == "spark://spark.example:7077"
    assert settings.bootstrap_servers == "broker-1.example:9092"


def test_the_external_override_refuses_to_start_without_a_driver_address() -> None:
    with pytest.raises(KeyError, match="SPARK_DRIVER_HOST"):
        resolved({}, EXTERNAL)


# The test-only override: host networking, loopback only -------------------------------------
def test_the_test_override_is_valid_for_the_compose_cli(compose: list[str]) -> None:
    result = compose_config(compose, COMPOSE, TEST_OVERRIDE)
    assert (result.returncode, result.stderr) == (0, "")


def listening_ports(config: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Every fixed port the test stack listens on, by what listens."""
    services = config["services"]

    def flag(command: list[str], name: str) -> int:
        return int(command[command.index(name) + 1])

    master, worker = services["spark-master"]["command"], services["spark-worker"]["command"]
    broker, _ = service_settings(services["kafka"], monkeypatch)
    dashboard, _ = service_settings(services["dashboard"], monkeypatch)
    submit = services["pipeline"]["environment"]["PYSPARK_SUBMIT_ARGS"]
    return {
        "kafka": broker.port,
        "kafka controller": broker.port + 1,
        "spark master": flag(master, "--port"),
        "spark master ui": flag(master, "--webui-port"),
        "spark worker": flag(worker, "--port"),
        "spark worker ui": flag(worker, "--webui-port"),
        "driver ui": int(re.search(r"spark\.ui\.port=(\d+)", submit).group(1)),  # type: ignore[union-attr]
        "dashboard": dashboard.port,
    }


def test_the_test_stack_stays_on_loopback_on_ports_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = resolved({}, TEST_OVERRIDE)
    for name, service in config["services"].items():
        assert service["network_mode"] == "host", name
        assert "networks" not in service and "ports" not in service, name
        assert "hostname" not in service, name
        assert service["environment"]["SPARK_LOCAL_IP"] == "127.0.0.1", name
    ports = listening_ports(config, monkeypatch)
    assert len(set(ports.values())) == len(ports), ports
    # Below the ephemeral range, so no outgoing connection on the host can hold one.
    assert all(1024 < port < 32768 for port in ports.values()), ports

    services = config["services"]
    for name, service in financelake_services(config):
        _, settings = service_settings(service, monkeypatch)
        assert settings.bootstrap_servers == f"127.0.0.1:{ports['kafka']}", name
    master_url = f"spark://127.0.0.1:{ports['spark master']}"
    assert services["spark-worker"]["command"][1] == master_url
    _, pipeline = service_settings(services["pipeline"], monkeypatch)
    assert pipeline.spark_master == master_url
    worker = services["spark-worker"]["command"]
    assert worker[worker.index("--host") + 1] == "127.0.0.1"
    probes = {name: " ".join(svc["healthcheck"]["test"]) for name, svc in services.items()}
    assert f"127.0.0.1:{ports['spark master ui']}/json/" in probes["spark-master"]
    assert f"127.0.0.1:{ports['spark worker ui']}/json/" in probes["spark-worker"]
    assert f"127.0.0.1:{ports['dashboard']}/_stcore/health" in probes["dashboard"]
    assert f"--port {ports['kafka']}" in probes["kafka"]
