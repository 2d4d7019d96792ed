"""The driver's class-data archive: used only when current, recorded again when stale."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from financelake import class_archive
from financelake.class_archive import archive_path, usable_archive
from financelake.config import Settings
from financelake.spark import _driver_options


def _recorded(jars_dir: Path, stamp: str | None = None) -> Path:
    """An archive beside jars stamped "jars-1", stamped `stamp` (default: as recorded now)."""
    (jars_dir / ".stamp").write_text("jars-1\n")
    archive = archive_path(jars_dir)
    archive.write_bytes(b"archive")
    (jars_dir / ".jsa-stamp").write_text((stamp or class_archive._stamp(jars_dir)) + "\n")
    return archive


def test_an_archive_is_used_only_while_its_jars_and_jdk_are_the_ones_it_was_recorded_for(
    tmp_path: Path,
) -> None:
    archive = _recorded(tmp_path)
    assert usable_archive(tmp_path) == archive
    on = Settings(jars_dir=tmp_path)
    assert f"-XX:SharedArchiveFile={archive}" in _driver_options(on, None)
    assert "SharedArchiveFile" not in _driver_options(
        on.model_copy(update={"class_archive": False}), None
    )

    (tmp_path / ".stamp").write_text("jars-2\n")  # new jars: the archive is stale
    assert usable_archive(tmp_path) is None
    assert "SharedArchiveFile" not in _driver_options(on, None)


def test_a_stale_archive_is_recorded_again_and_a_failed_recording_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _recorded(tmp_path, "an-older-jdk")
    monkeypatch.setattr(class_archive.sys, "executable", "false")  # the recording run fails

    said = class_archive.record_archive(tmp_path)

    assert "not recorded" in said
    assert not archive_path(tmp_path).exists()
    assert usable_archive(tmp_path) is None


def test_the_tests_driver_maps_the_archive_setup_recorded(spark: SparkSession) -> None:
    settings = Settings()
    archive = usable_archive(settings.jars_dir)
    assert archive is not None, (
        f"`financelake setup` recorded no current archive in {settings.jars_dir}"
    )
    runtime = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()  # type: ignore[union-attr]
    assert f"-XX:SharedArchiveFile={archive}" in list(runtime.getInputArguments())
