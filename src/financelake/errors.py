"""Project exceptions. Each message says what went wrong and what to do about it."""


class FinanceLakeError(Exception):
    """Base class: the CLI prints these as one clear line and exits non-zero."""


class SetupError(FinanceLakeError):
    """Something `make setup` provides is missing (the venv, the JVM jars)."""


class BrokerError(FinanceLakeError):
    """The embedded Kafka broker could not be started, reached or stopped."""


class KafkaUnavailableError(FinanceLakeError):
    """A Kafka cluster did not answer, refused our credentials, or lacks the topic."""


class LakeError(FinanceLakeError):
    """The lake root cannot be written, or a table it should hold is missing."""


class StreamFailedError(FinanceLakeError):
    """A streaming query stopped with an exception."""


class ClosedBarTickError(FinanceLakeError):
    """A Silver tick fell into a Gold bar that its symbol's clock had already closed."""
