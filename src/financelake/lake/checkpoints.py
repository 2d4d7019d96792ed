"""A streaming query's checkpoint, read without Spark: its last committed batch and offsets.

The layout is Spark's: `commits/<N>` marks batch N done, `offsets/<N>` holds a version line,
the batch metadata, then one offset per source. The offsets are Spark's JSON, as Kafka's
`{topic: {partition: offset}}` or Delta's `{reservoirVersion, index, ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from financelake.config import Settings, local_path
from financelake.lake.values import integer

# Delta's streaming source marks "every file of this version was read" with an index near
# Long.MaxValue; any index this large means the version is done.
DELTA_END_INDEX = 2**62


@dataclass(frozen=True)
class CheckpointState:
    """The last committed micro-batch of a query, from its checkpoint folder."""

    batch_id: int
    committed_at: datetime
    offsets: list[Any]  # one parsed offset per source, None where the source had none


def read_checkpoint(settings: Settings, query: str) -> CheckpointState | None:
    """The newest committed batch of `query`'s checkpoint (local lakes only), or None."""
    root = local_path(settings.checkpoint_path(query))
    if root is None:
        return None
    batches = _numbered(root / "commits")
    if not batches:
        return None
    batch_id, commit = batches[-1]
    offsets: list[Any] = []
    try:
        committed_at = datetime.fromtimestamp(commit.stat().st_mtime, tz=UTC)
        for line in (root / "offsets" / str(batch_id)).read_text().splitlines()[2:]:
            offsets.append(parse_offset(line) if line.strip() not in ("", "-") else None)
    except FileNotFoundError:
        return None
    return CheckpointState(batch_id=batch_id, committed_at=committed_at, offsets=offsets)


def _numbered(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    return sorted((int(path.name), path) for path in folder.iterdir() if path.name.isdigit())


def parse_offset(value: Any) -> Any:
    """An offset as Spark reports it: a JSON object, or a string holding one."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def kafka_offsets(offset: Any) -> dict[str, dict[int, int]] | None:
    """{topic: {partition: offset}} if `offset` is a Kafka source offset, else None."""
    if not isinstance(offset, Mapping) or not offset:
        return None
    parsed: dict[str, dict[int, int]] = {}
    for topic, partitions in offset.items():
        if not isinstance(partitions, Mapping):
            return None
        try:
            parsed[str(topic)] = {int(p): int(o) for p, o in partitions.items()}
        except (TypeError, ValueError):
            return None
    return parsed


def delta_first_unread(offset: Any) -> int | None:
    """First Delta version a Delta source has not fully read, from its offset; else None."""
    if not isinstance(offset, Mapping) or "reservoirVersion" not in offset:
        return None
    version = integer(offset.get("reservoirVersion"))
    index = integer(offset.get("index"))
    if version is None:
        return None
    return version + 1 if index is not None and index >= DELTA_END_INDEX else version
