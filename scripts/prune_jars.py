"""Drop resolved jars that pyspark already ships, so Spark's classpath holds one copy of each.

The connector and Delta declare libraries (jackson, hadoop, parquet, scala, ...) that the
pyspark wheel carries in newer versions; loading both would mix versions at run time.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pyspark

_VERSIONED = re.compile(r"^(?P<name>.+?)-\d[\w.\-]*\.jar$")


def artifact(jar: Path) -> str:
    match = _VERSIONED.match(jar.name)
    return match.group("name") if match else jar.stem


def main(folder: str) -> None:
    shipped = {artifact(jar) for jar in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    for jar in sorted(Path(folder).glob("*.jar")):
        if artifact(jar) in shipped:
            jar.unlink()
    kept = sorted(jar.name for jar in Path(folder).glob("*.jar"))
    print(f"setup: {len(kept)} jars added to Spark: {', '.join(kept)}")


if __name__ == "__main__":
    main(sys.argv[1])
