"""`financelake status`: the lake, its streams and its models at a glance, without a JVM.

`report` assembles a typed `StatusReport` from the read layer (`financelake.lake`), `streams`
works out each streaming query's last batch and lag, `text` renders the report as plain text.
"""

from financelake.status.report import StatusReport, collect_status, status_report
from financelake.status.text import render_status

__all__ = ["StatusReport", "collect_status", "render_status", "status_report"]
