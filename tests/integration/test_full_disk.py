"""The lake's disk fills up while the service runs: it stops with an error that names the full
disk and says what to do; once space is freed, a restart takes every tick exactly once.

The lake, with the stream checkpoints under it as by default, lives on a 64 MB tmpfs, so the
checkpoint and the tables run out of space together, as they would on a real disk.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import START, read_table, run_cli, start_service

from financelake.config import Settings
from financelake.market.publisher import publish
from financelake.market.simulator import simulate_ticks

# A service start, a failure and a drain: minutes on a busy machine, so `make faults`.
pytestmark = pytest.mark.faults
DISK_MB = 64


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 MB tmpfs mounted for this test (root only), always unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a small tmpfs, which needs root")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"could not mount a {DISK_MB} MB tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def _fill(disk: Path) -> Path:
    """Write one file until the file system has no space left; return it."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
        small = b"\0" * 4096  # the last partial megabyte too
        try:
            while True:
                out.write(small)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
    return filler


def test_a_full_disk_stops_the_service_clearly_and_a_restart_completes_exactly_once(
    settings: Settings, small_disk: Path, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"lake_root": str(small_disk / "lake")})
    assert settings.checkpoint_path("ingest").startswith(str(small_disk))  # same file system
    ticks = list(
        simulate_ticks(("AAPL", "MSFT", "GOOG"), model="trend", seed=5, start=START,
                       count=4000, tick_interval_s=1.0)
    )  # fmt: skip
    assert publish(ticks[:2000], settings).ok

    log = tmp_path / "service.log"
    service = start_service(settings, log, silver_rows=2000)
    try:
        filler = _fill(small_disk)
        assert publish(ticks[2000:], settings).ok  # the broker's disk is not the lake's
        exit_code = service.wait(timeout=240)
    finally:
        if service.poll() is None:
            os.killpg(service.pid, signal.SIGKILL)
            service.wait()
    output = log.read_text()
    assert exit_code == 1, output[-4000:]
    assert "the disk holding the lake" in output and "No space left on device" in output, output
    assert "Free space on it" in output

    filler.unlink()
    drained = run_cli(["run", "--available-now"], settings, timeout=600)
    assert drained.returncode == 0, drained.stderr[-3000:]

    bronze = read_table(settings, "bronze")
    assert len(bronze) == 4000
    assert bronze.groupby(["partition", "offset"]).size().max() == 1
    silver = read_table(settings, "silver")
    assert sorted(zip(silver.symbol, silver.price, strict=True)) == sorted(
        (t.symbol, t.price) for t in ticks
    )
    assert silver.groupby(["symbol", "event_time"]).size().max() == 1
    assert read_table(settings, "quarantine").empty
