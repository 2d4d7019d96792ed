"""The embedded single-node Kafka broker (KRaft: broker and controller in one JVM).

Started from the jars that set-up resolved into `.jars/kafka`, on 127.0.0.1, with its data,
configuration, pid file and log under one data directory, so several can run side by side.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import psutil
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from financelake.errors import BrokerError, PortInUseError, SetupError

log = logging.getLogger(__name__)

_LOG4J = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 2
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class SaslUser:
    """A SASL/PLAIN user the broker accepts on its client listener."""

    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class EmbeddedBroker:
    """One broker+controller: `start`, `stop`, `is_running`, addressed by data dir and port."""

    data_dir: Path
    port: int = 9092
    jars_dir: Path = Path(".jars")
    controller_port: int | None = None
    heap: str = "512m"
    sasl_users: tuple[SaslUser, ...] = ()
    start_timeout_s: float = 60.0
    # Set in a container network: clients elsewhere connect to advertised_host:port, so the
    # client listener binds every interface (the controller stays on 127.0.0.1).
    advertised_host: str | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def _pid_path(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def _ctrl_port(self) -> int:
        return self.controller_port or self.port + 1

    @property
    def _client_protocol(self) -> str:
        return "SASL_PLAINTEXT" if self.sasl_users else "PLAINTEXT"

    # Life cycle ----------------------------------------------------------------------------
    def start(self) -> None:
        """Format (first time) and start the broker; return once it answers metadata requests."""
        if self.is_running():
            log.info("broker already running at %s", self.address)
            return
        command = self._prepare()
        with open(self.data_dir / "broker.out", "ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._pid_path.write_text(str(process.pid))
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise BrokerError(
                    f"the Kafka broker exited with code {process.returncode} while starting; "
                    f"see {self.log_path} and {self.data_dir / 'broker.out'}"
                )
            if self._answers_metadata(timeout_s=1.0):
                log.info("broker up at %s (pid %d)", self.address, process.pid)
                return
        self._kill(process.pid, signal.SIGKILL)
        raise BrokerError(
            f"the Kafka broker did not answer at {self.address} within "
            f"{self.start_timeout_s:.0f} s; see {self.log_path}"
        )

    def run_foreground(self) -> NoReturn:
        """Format (first time) and become the broker's JVM (exec), e.g. as a container's main
        process: SIGTERM then reaches Kafka itself, whose shutdown hook stops it cleanly."""
        command = self._prepare()
        self._pid_path.write_text(str(os.getpid()))  # exec keeps the pid: `kafka status` works
        os.execvp(command[0], command)

    def _prepare(self) -> list[str]:
        """Check the ports, write the configuration, format a new data dir: the JVM's command."""
        for port in (self.port, self._ctrl_port):
            _require_free_port(port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        properties = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self._format(properties)
        return [
            "java",
            f"-Xms{self.heap}",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp",
            self._classpath(),
            *self._jaas_option(),
            "kafka.Kafka",
            str(properties),
        ]

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop gracefully: SIGTERM, SIGKILL after the timeout. False if it was not running."""
        pid = self.pid()
        if pid is None or not _alive(pid):
            self._pid_path.unlink(missing_ok=True)
            return False
        self._kill(pid, signal.SIGTERM)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout=timeout_s)
        if _alive(pid):
            log.warning("broker pid %d ignored SIGTERM for %.0f s; killing it", pid, timeout_s)
            self._kill(pid, signal.SIGKILL)
        self._pid_path.unlink(missing_ok=True)
        return True

    def is_running(self) -> bool:
        """The broker's process is alive and it answers a metadata request."""
        pid = self.pid()
        return pid is not None and _alive(pid) and self._answers_metadata(timeout_s=3.0)

    def client_config(self) -> dict[str, str]:
        """librdkafka settings for a client of this broker (the first SASL user, if any)."""
        config = {"bootstrap.servers": self.address, "security.protocol": self._client_protocol}
        if self.sasl_users:
            user = self.sasl_users[0]
            config |= {
                "sasl.mechanism": "PLAIN",
                "sasl.username": user.username,
                "sasl.password": user.password,
            }
        return config

    # Internals -----------------------------------------------------------------------------
    def _classpath(self) -> str:
        folder = self.jars_dir / "kafka"
        if not any(folder.glob("kafka_2.13-*.jar")):
            raise SetupError(
                f"the Kafka broker jars are missing from {folder}. Run `financelake setup` "
                "(`make setup` in a clone) and try again."
            )
        return f"{folder}/*"

    def _write_config(self) -> Path:
        protocol = self._client_protocol
        listen = "0.0.0.0" if self.advertised_host else "127.0.0.1"
        lines = [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers=127.0.0.1:{self._ctrl_port}",
            f"listeners=CLIENT://{listen}:{self.port},CONTROLLER://127.0.0.1:{self._ctrl_port}",
            f"advertised.listeners=CLIENT://{self.advertised_host or '127.0.0.1'}:{self.port}",
            "controller.listener.names=CONTROLLER",
            f"listener.security.protocol.map=CLIENT:{protocol},CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=CLIENT",
            f"log.dirs={self.data_dir / 'logs'}",
            "num.partitions=4",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "log.segment.bytes=268435456",
        ]
        if self.sasl_users:
            lines += [
                "sasl.enabled.mechanisms=PLAIN",
                "sasl.mechanism.inter.broker.protocol=PLAIN",
            ]
        path = self.data_dir / "server.properties"
        path.write_text("\n".join(lines) + "\n")
        (self.data_dir / "log4j2.properties").write_text(_LOG4J.format(log=self.log_path))
        if self.sasl_users:
            jaas = self.data_dir / "jaas.conf"
            jaas.touch(mode=0o600)  # it holds the passwords: readable by the broker's user only
            jaas.chmod(0o600)
            jaas.write_text(self._jaas())
        return path

    def _jaas(self) -> str:
        first = self.sasl_users[0]
        users = " ".join(f'user_{u.username}="{_jaas_quote(u.password)}"' for u in self.sasl_users)
        return (
            "KafkaServer {\n"
            "  org.apache.kafka.common.security.plain.PlainLoginModule required\n"
            f'  username="{_jaas_quote(first.username)}" '
            f'password="{_jaas_quote(first.password)}" {users};\n'
            "};\n"
        )

    def _jaas_option(self) -> list[str]:
        if not self.sasl_users:
            return []
        return [f"-Djava.security.auth.login.config={self.data_dir / 'jaas.conf'}"]

    def _format(self, properties: Path) -> None:
        cluster_id = _kafka_cluster_id()
        result = subprocess.run(
            [
                "java",
                "-cp",
                self._classpath(),
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
                "kafka.tools.StorageTool",
                "format",
                # One token: an id starting with "-" would otherwise read as an option.
                f"--cluster-id={cluster_id}",
                "--config",
                str(properties),
                "--standalone",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"formatting {self.data_dir} failed: {result.stderr or result.stdout}"
            )

    def _answers_metadata(self, timeout_s: float) -> bool:
        with socket.socket() as probe:
            probe.settimeout(timeout_s)
            if probe.connect_ex(("127.0.0.1", self.port)) != 0:
                return False
        try:
            AdminClient({**self.client_config(), "log_level": 0}).list_topics(timeout=timeout_s)
        except KafkaException:
            return False
        return True

    def pid(self) -> int | None:
        """The broker JVM's pid as its data dir records it, or None."""
        try:
            return int(self._pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    @staticmethod
    def _kill(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)


def _kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 chars)."""
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _jaas_quote(value: str) -> str:
    """A value for a double-quoted JAAS option (backslash and quote escaped)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _require_free_port(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUseError(
                f"port {port} on 127.0.0.1 is already in use; stop what holds it or choose "
                "another with --port (the controller uses --port + 1)",
                port,
            ) from exc


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (and the next one too)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            _require_free_port(port + 1)
        except BrokerError:
            continue
        return port
    raise BrokerError("found no pair of free ports on 127.0.0.1")
