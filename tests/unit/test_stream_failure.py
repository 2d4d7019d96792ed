"""A stopped stream's error says what to do when the cause is known (a full disk)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from financelake.config import Settings
from financelake.pipeline import is_transient, stream_failure


@dataclass
class _StoppedQuery:
    """The two things `stream_failure` asks of a StreamingQuery."""

    name: str
    error: Exception | None

    def exception(self) -> Exception | None:
        return self.error


def _failure(error: Exception | None) -> str:
    query: Any = _StoppedQuery("ingest", error)
    return str(stream_failure(query, Settings(lake_root="/data/lake")))


def test_a_full_disk_is_named_with_the_lake_and_what_to_do() -> None:
    deep = RuntimeError(
        "Job aborted due to stage failure: ... java.io.IOException: No space left on device\n"
        "\tat java.base/java.io.FileOutputStream.writeBytes(Native Method)"
    )
    message = _failure(deep)
    assert message.startswith("stream 'ingest' stopped: the disk holding the lake /data/lake")
    assert "ENOSPC" in message and "Free space on it" in message and "--lake-root" in message


def test_other_failures_keep_their_own_message() -> None:
    assert _failure(ValueError("boom")) == "stream 'ingest' stopped: boom"
    assert _failure(None) == "stream 'ingest' stopped: without an error (stopped from outside)"


def test_only_a_python_worker_start_timeout_counts_as_transient() -> None:
    timeout = (
        "Job aborted due to stage failure: ... org.apache.spark.SparkException: "
        "Python worker failed to connect back."
    )
    assert is_transient(timeout)
    assert is_transient(
        "java.net.SocketTimeoutException: Timed out while waiting for the "
        "Python worker to connect back"
    )
    assert not is_transient("No space left on device")
    assert not is_transient("ClosedBarTickError: a Silver tick of 'AAPL' falls into a bar")
    assert not is_transient(None)
