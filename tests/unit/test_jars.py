"""`financelake setup` without the network: the shipped pom, pruning, the stamp, no Maven."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import pytest

from financelake.cli import main
from financelake.errors import SetupError
from financelake.jars import prune_shipped_jars, resolve_jars


def test_the_pom_ships_inside_the_package() -> None:
    pom = importlib.resources.files("financelake").joinpath("jvm/pom.xml").read_text()
    assert "<id>spark</id>" in pom and "<id>kafka</id>" in pom
    assert "${jars.dir}/spark" in pom  # the folder comes from `financelake setup`


def test_jars_that_pyspark_ships_are_pruned(tmp_path: Path) -> None:
    delta = "delta-spark_4.2_2.13-4.4.0.jar"
    for name in ("jackson-core-2.13.5.jar", delta, "scala-library-2.13.1.jar"):
        (tmp_path / name).touch()
    assert prune_shipped_jars(tmp_path) == [delta]
    assert sorted(path.name for path in tmp_path.iterdir()) == [delta]


def test_without_maven_setup_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn here
    with pytest.raises(SetupError, match="Maven"):
        resolve_jars(tmp_path / "jars")
    assert not (tmp_path / "jars").exists()


def test_setup_resolves_into_the_jars_dir_setting_and_is_free_the_second_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A fake `mvn` that "resolves" one jar per profile into -Djars.dir, and counts its calls.
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "mvn"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {calls}\n'
        'for arg in "$@"; do case "$arg" in -Djars.dir=*) dir="${arg#-Djars.dir=}";; '
        "-P*) profile=${arg#-P};; esac; done\n"
        'mkdir -p "$dir/$profile" && touch "$dir/$profile/$profile-artifact-1.0.jar"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    jars = tmp_path / "cache" / "jars"
    monkeypatch.setenv("FINANCELAKE_JARS_DIR", str(jars))
    assert main(["setup"]) == 0
    assert "resolved into" in capsys.readouterr().out
    assert sorted(path.name for path in jars.rglob("*.jar")) == [
        "kafka-artifact-1.0.jar",
        "spark-artifact-1.0.jar",
    ]
    assert len(calls.read_text().splitlines()) == 2
    assert main(["setup"]) == 0
    assert "up to date" in capsys.readouterr().out
    assert len(calls.read_text().splitlines()) == 2  # no second Maven run
    assert not [path for path in jars.parent.iterdir() if path.name != "jars"]  # no leftovers
