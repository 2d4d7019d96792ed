"""Project exceptions. Each message says what went wrong and what to do about it."""


class FinanceLakeError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class SetupError(FinanceLakeError):
    """Something set-up provides is missing (the JVM jars, Maven to resolve them)."""


class ConfigError(FinanceLakeError):
    """The settings file is missing or is not valid TOML."""


class BrokerError(FinanceLakeError):
    """The embedded Kafka broker could not be started, reached or stopped."""


class PortInUseError(BrokerError):
    """A port the embedded broker needs is taken; `port` lets a caller name its own flag."""

    def __init__(self, message: str, port: int) -> None:
        super().__init__(message)
        self.port = port


class KafkaUnavailableError(FinanceLakeError):
    """A Kafka cluster did not answer, refused our credentials, or lacks the topic."""


class LakeError(FinanceLakeError):
    """The lake root cannot be written, or a table it should hold is missing."""


class StreamFailedError(FinanceLakeError):
    """A streaming query stopped with an exception."""


class CheckpointLostError(FinanceLakeError):
    """A stream's checkpoint is missing while its table holds data: starting would duplicate."""


class ClosedBarTickError(FinanceLakeError):
    """A Silver tick fell into a Gold bar that its symbol's clock had already closed."""
