"""`financelake setup`: resolve the JVM jars with Maven, once, into the jars folder.

The pom ships inside the package (financelake/jvm/pom.xml), so a wheel installed anywhere can
do this. Two classpaths, from two Maven profiles: `spark` (Delta, the Spark-Kafka connector)
and `kafka` (the embedded broker). A stamp of the pom and the pyspark version makes a second
run free; a run resolves into a fresh folder and swaps it in only when complete.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pyspark

from financelake.errors import SetupError

log = logging.getLogger(__name__)

PROFILES = ("spark", "kafka")
_STAMP = ".stamp"
_VERSIONED_JAR = re.compile(r"^(?P<name>.+?)-\d[\w.\-]*\.jar$")


def installed_stamp(jars_dir: Path) -> str | None:
    """The stamp of the jars resolved into `jars_dir` (None: none resolved there)."""
    path = jars_dir / _STAMP
    return path.read_text().strip() if path.is_file() else None


def resolve_jars(jars_dir: Path) -> str:
    """Resolve the jars into `jars_dir` unless they are there already; say what was done."""
    pom = importlib.resources.files("financelake").joinpath("jvm/pom.xml").read_bytes()
    stamp = hashlib.sha256(pom + pyspark.__version__.encode()).hexdigest()[:16]
    if installed_stamp(jars_dir) == stamp:
        return f"JVM jars up to date in {jars_dir}"
    maven = shutil.which("mvn")
    if maven is None:
        raise SetupError(
            "Maven (`mvn`) is needed once, to resolve the JVM jars from Maven Central: install it "
            "(apt-get install maven, brew install maven) and run `financelake setup` again."
        )
    jars_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=jars_dir.parent, prefix=f".{jars_dir.name}-") as work:
        staging = Path(work) / "jars"
        (Path(work) / "pom.xml").write_bytes(pom)  # Maven may write beside its pom
        for profile in PROFILES:
            log.info("resolving the %s jars from Maven Central", profile)
            _maven(maven, Path(work) / "pom.xml", profile, staging)
        kept = prune_shipped_jars(staging / "spark")
        (staging / _STAMP).write_text(stamp + "\n")
        if jars_dir.exists():
            shutil.rmtree(jars_dir)
        staging.rename(jars_dir)
    return f"JVM jars resolved into {jars_dir}: {len(kept)} added to Spark ({', '.join(kept)})"


def _maven(maven: str, pom: Path, profile: str, jars_dir: Path) -> None:
    command = [
        maven, "--quiet", "--batch-mode", "-f", str(pom), f"-P{profile}",
        f"-Djars.dir={jars_dir}", "dependency:copy-dependencies",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SetupError(
            f"Maven could not resolve the {profile} jars (exit {result.returncode}); is Maven "
            f"Central reachable?\n{(result.stdout + result.stderr).strip()[-2000:]}"
        )


def prune_shipped_jars(folder: Path) -> list[str]:
    """Drop jars pyspark already ships, so Spark's classpath holds one copy of each library.

    Delta and the connector declare libraries (jackson, hadoop, parquet, scala, ...) that the
    pyspark wheel carries in newer versions; loading both would mix versions at run time.
    """
    shipped = {_artifact(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    for jar in folder.glob("*.jar"):
        if _artifact(jar) in shipped:
            jar.unlink()
    return sorted(jar.name for jar in folder.glob("*.jar"))


def _artifact(jar: Path) -> str:
    match = _VERSIONED_JAR.match(jar.name)
    return match.group("name") if match else jar.stem
