"""The market feed: tick generators (pure) and the publisher that sends them to Kafka."""

from financelake.market.publisher import PublishReport, produce, publish
from financelake.market.replay import Bar, Replay, replay_file, replay_ticks
from financelake.market.simulator import (
    DEFAULT_MODEL,
    DEFAULT_SYMBOLS,
    MODELS,
    Model,
    Tick,
    simulate_ticks,
)

__all__ = [
    "DEFAULT_MODEL",
    "DEFAULT_SYMBOLS",
    "MODELS",
    "Bar",
    "Model",
    "PublishReport",
    "Replay",
    "Tick",
    "produce",
    "publish",
    "replay_file",
    "replay_ticks",
    "simulate_ticks",
]
