"""The catalog is the one list of tables: Settings, sinks and the schemas module agree with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from financelake import schemas
from financelake.catalog import CATALOG, STREAMED_TABLES, WriteMode, retention_properties, table
from financelake.config import TABLES, Settings, local_path
from financelake.maintenance import vacuum_retain_hours


def test_every_table_is_declared_once_with_its_schema_and_how_it_is_written() -> None:
    assert tuple(CATALOG) == TABLES
    assert set(STREAMED_TABLES) <= set(CATALOG)
    assert set(schemas.RESULT_TABLES) == set(CATALOG) - set(STREAMED_TABLES) - {"maintenance"}
    assert table("gold").schema is schemas.GOLD
    assert table("gold").write_mode is WriteMode.APPEND
    assert table("gold_live").write_mode is WriteMode.REPLACE
    assert table("gold_live").properties["delta.autoOptimize.autoCompact"] == "true"
    assert table("silver").partition_by == ("date",)
    assert table("silver").properties["delta.checkpointInterval"] == "100"
    assert table("gold_ml").partition_by == ()
    assert table("gold_predictions").partition_by == ("date",)  # the predicted bar's date
    assert "date" in schemas.GOLD_PREDICTIONS.fieldNames()
    assert all(entry.description for entry in CATALOG.values())


def test_table_path_knows_only_catalog_tables(tmp_path: Path) -> None:
    settings = Settings(lake_root=str(tmp_path))
    assert settings.table_path("gold_rl") == f"{tmp_path}/gold_rl"
    with pytest.raises(ValueError, match="unknown table 'golden'"):
        settings.table_path("golden")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/data/lake", Path("/data/lake")),
        ("relative/lake", Path("relative/lake")),
        ("file:/data/lake", Path("/data/lake")),
        ("file:///data/lake", Path("/data/lake")),
        ("file://localhost/data/my%20lake", Path("/data/my lake")),
        ("file://otherhost/data/lake", None),
        ("s3a://bucket/lake", None),
        ("abfss://c@account.dfs.core.windows.net/lake", None),
    ],
)
def test_local_path_of_lake_locations(uri: str, expected: Path | None) -> None:
    assert local_path(uri) == expected


@pytest.mark.parametrize("root", ["file:{}", "file://{}", "{}"])
def test_a_file_uri_lake_is_local_and_becomes_a_plain_path(tmp_path: Path, root: str) -> None:
    settings = Settings(lake_root=root.format(tmp_path))

    assert settings.lake_root == str(tmp_path)
    assert settings.is_local_lake
    assert local_path(settings.lake_root) == tmp_path


def test_a_remote_lake_is_not_local() -> None:
    settings = Settings(lake_root="s3a://bucket/lake/")

    assert settings.lake_root == "s3a://bucket/lake"
    assert not settings.is_local_lake
    assert local_path(settings.table_path("gold")) is None


@pytest.mark.parametrize(
    ("vacuum", "log", "tombstones", "retain_hours"),
    [
        ("7 days", "1 day", "1 day", 168),  # the defaults: RETAIN, whole hours, exact
        ("0 seconds", "1 day", "0 seconds", 0),  # tests
        ("2 hours", "1 day", "2 hours", 2),
        ("10 minutes", "10 minutes", "10 minutes", None),  # the soak: the table's property
        ("90 minutes", "1 day", "90 minutes", None),
        ("90 minutes", "1 hour", "1 hour", 2),  # longer than the log's: rounded up, never down
    ],
)
def test_vacuum_retention_is_never_rounded_down(
    vacuum: str, log: str, tombstones: str, retain_hours: int | None
) -> None:
    """Delta rounds VACUUM's RETAIN to whole hours; a sub-hour retention goes through the
    tables' tombstone retention instead (its removed files are kept to the millisecond)."""
    settings = Settings(vacuum_retention=vacuum, log_retention=log)
    assert settings.tombstone_retention == tombstones
    properties = retention_properties(settings.log_retention, settings.tombstone_retention)
    assert properties["delta.deletedFileRetentionDuration"] == f"interval {tombstones}"
    assert properties["delta.logRetentionDuration"] == f"interval {log}"
    assert vacuum_retain_hours(settings) == retain_hours
