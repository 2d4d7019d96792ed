"""`financelake sql`: SQL over the lake's Delta tables without a JVM.

delta-rs's QueryBuilder runs the query on Apache DataFusion, in process and offline; each table
of the lake that exists is registered under its name (`gold`, `quarantine`, ...).
"""

from __future__ import annotations

import io
import json
import logging
from typing import Literal

import pyarrow as pa
import pyarrow.csv
from deltalake import DeltaTable, QueryBuilder
from deltalake.exceptions import DeltaError, TableNotFoundError

from financelake.config import TABLES, Settings
from financelake.errors import FinanceLakeError

log = logging.getLogger(__name__)

OutputFormat = Literal["table", "csv", "json"]


class QueryError(FinanceLakeError):
    """The SQL statement could not be planned or run."""


def query_lake(settings: Settings, sql: str) -> pa.Table:
    """Run one SQL statement over the lake's existing tables; the whole result, in memory."""
    builder = QueryBuilder()
    registered = []
    for name in TABLES:
        try:
            table = DeltaTable(settings.table_path(name))
        except TableNotFoundError:
            continue
        builder.register(name, table)
        registered.append(name)
    log.debug("tables registered for SQL: %s", registered)
    try:
        return pa.table(builder.execute(sql).read_all())
    except DeltaError as exc:  # DataFusion's parse, plan and run errors all arrive as this
        known = ", ".join(registered) or "none yet"
        raise QueryError(f"{exc}\n(tables in {settings.lake_root}: {known})") from exc


def render(result: pa.Table, output: OutputFormat) -> str:
    """The result as an aligned text table, CSV with a header, or a JSON array of objects."""
    if output == "csv":
        buffer = io.BytesIO()
        pyarrow.csv.write_csv(_plain_strings(result), buffer)
        return buffer.getvalue().decode().rstrip("\n")
    rows = result.to_pylist()
    if output == "json":
        return json.dumps(rows, default=str, indent=2)
    header = result.column_names
    cells = [["" if row[name] is None else str(row[name]) for name in header] for row in rows]
    widths = [max(len(text) for text in column) for column in zip(header, *cells, strict=True)]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in (header, ["-" * width for width in widths], *cells)
    ]
    lines.append(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")
    return "\n".join(lines)


def _plain_strings(result: pa.Table) -> pa.Table:
    # DataFusion returns string_view columns, which Arrow's CSV writer does not take yet.
    return result.cast(
        pa.schema(
            pa.field(field.name, pa.string()) if pa.types.is_string_view(field.type) else field
            for field in result.schema
        )
    )
