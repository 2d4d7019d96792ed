"""Whether the service's broker and topic answer: before the streams start, and while they run.

Spark's Kafka source rides out a broker outage by itself: a trigger's offset requests wait and
retry until the broker is back, and the stream goes on from its checkpoint. Meanwhile nothing
fails and nothing moves, so without a look of its own the service would keep saying `running`.
`BrokerWatch` asks every few seconds and records `waiting` (and why) while Kafka does not
answer, and `running` again once it does, in the state file `status` reads.
"""

from __future__ import annotations

import logging
import threading

from financelake.config import Settings
from financelake.errors import KafkaUnavailableError
from financelake.kafka.client import require_topic
from financelake.service_state import ServiceState, write_state

log = logging.getLogger(__name__)

# How long one look for the broker and topic may take, and how often the watch looks.
PROBE_S = 2.0
WATCH_EVERY_S = 5.0


def kafka_problem(settings: Settings) -> str | None:
    """Why the broker or the topic is not there (one quick look), or None when both are."""
    try:
        require_topic(settings.model_copy(update={"kafka_timeout_s": PROBE_S}))
    except KafkaUnavailableError as exc:
        return str(exc)
    return None


class BrokerWatch:
    """A daemon thread recording `waiting` in the service state while Kafka does not answer."""

    def __init__(
        self,
        settings: Settings,
        every_s: float = WATCH_EVERY_S,
        *,
        spark_ui_url: str | None = None,
        metrics_url: str | None = None,
    ) -> None:
        self._settings = settings
        self._every_s = every_s
        # Kept in every state the watch records, as the service wrote them at its start.
        self._addresses = {"spark_ui_url": spark_ui_url, "metrics_url": metrics_url}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="broker-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop looking; returns once the thread can no longer write the state file."""
        self._stop.set()
        self._thread.join(timeout=PROBE_S + 5)

    def _watch(self) -> None:
        down = False  # Kafka answered at the service's start
        while not self._stop.wait(self._every_s):
            problem = kafka_problem(self._settings)
            # A change of state only: the wording of librdkafka's errors varies look to look.
            if (problem is not None) == down or self._stop.is_set():
                continue
            down = problem is not None
            if problem is None:
                log.info("Kafka answers again; the streams resume from their checkpoints")
                state, detail = ServiceState.RUNNING, ""
            else:
                log.warning("waiting for Kafka (the streams resume once it is back): %s", problem)
                state, detail = ServiceState.WAITING, problem
            write_state(
                self._settings.lake_root,
                state,
                detail,
                local=self._settings.is_local_lake,
                **self._addresses,
            )
