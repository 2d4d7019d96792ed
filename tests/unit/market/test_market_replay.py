from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from financelake.errors import FinanceLakeError
from financelake.market.replay import replay_ticks
from financelake.market.simulator import Tick

DAILY = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.15,188.44,183.89,185.64,184.94,82488700
2024-01-03,184.22,185.88,183.43,184.25,183.55,58414500
2024-01-04,182.15,183.09,180.88,181.91,181.22,71983600
2024-01-05,181.99,182.76,180.17,181.18,180.50,62303300

2024-01-08,182.09,185.60,182.09,185.60,184.90,59144500
2024-01-09,182.73,185.15,182.73,185.14,184.44,3
2024-01-10,184.35,184.35,184.35,184.35,183.65,1
2024-01-11,186.54,187.05,186.54,187.05,186.33,2
"""

INTRADAY = """datetime,open,high,low,close,volume
2024-01-02 09:30:00-05:00,187.15,187.40,186.90,187.00,1200000
2024-01-02 09:31:00-05:00,187.00,187.10,186.20,186.25,800000
2024-01-02 09:33:00-05:00,186.25,186.80,186.25,186.70,450001
"""


def write(tmp_path: Path, text: str, name: str = "AAPL.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def bars_of(ticks: list[Tick], interval: str) -> pd.DataFrame:
    """The Gold view of the ticks: OHLCV per bar of `interval`."""
    df = pd.DataFrame(ticks, columns=list(Tick._fields))
    df["bar"] = pd.to_datetime(df["timestamp"], format="ISO8601").dt.floor(interval)
    return df.groupby("bar").agg(
        Open=("price", "first"),
        High=("price", "max"),
        Low=("price", "min"),
        Close=("price", "last"),
        Volume=("volume", "sum"),
    )


def assert_valid(ticks: list[Tick]) -> None:
    for tick in ticks:
        assert tick.volume >= 1
        assert tick.low <= tick.price <= tick.high
        assert tick.low <= tick.open <= tick.high
    stamps = [tick.timestamp for tick in ticks]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_daily_bars_are_reproduced_exactly(tmp_path: Path) -> None:
    ticks = list(replay_ticks(write(tmp_path, DAILY), "AAPL"))
    assert_valid(ticks)
    assert {tick.symbol for tick in ticks} == {"AAPL"}
    expected = pd.read_csv(tmp_path / "AAPL.csv", parse_dates=["Date"]).set_index("Date")
    bars = bars_of(ticks, "1D")
    pd.testing.assert_frame_equal(bars, expected[bars.columns], check_names=False, check_freq=False)
    # Volumes below four still reproduce the bar with fewer ticks.
    assert [t.price for t in ticks if t.timestamp.startswith("2024-01-10")] == [184.35]
    assert len([t for t in ticks if t.timestamp.startswith("2024-01-11")]) == 2


def test_ticks_follow_a_plausible_path_inside_the_bar(tmp_path: Path) -> None:
    ticks = list(replay_ticks(write(tmp_path, DAILY), "AAPL"))
    down_bar, up_bar, jan4 = ticks[:4], ticks[4:8], ticks[8:12]
    assert [t.price for t in down_bar] == [187.15, 188.44, 183.89, 185.64]  # high first
    assert [t.high for t in down_bar] == [187.15, 188.44, 188.44, 188.44]
    assert [t.low for t in down_bar] == [187.15, 187.15, 183.89, 183.89]
    assert {t.open for t in down_bar} == {187.15}
    assert [t.price for t in up_bar] == [184.22, 183.43, 185.88, 184.25]  # low first
    assert [t.timestamp for t in jan4] == [
        f"2024-01-04T{hour}:00:00.000000" for hour in ("03", "09", "15", "21")
    ]  # tick i of 4 at (i + ½) / 4 of the day
    assert sum(t.volume for t in jan4) == 71983600
    jan9 = [t for t in ticks if t.timestamp.startswith("2024-01-09")]
    assert [(t.price, t.volume) for t in jan9] == [(182.73, 1), (185.15, 1), (185.14, 1)]


def test_intraday_with_offsets_is_converted_to_utc_and_interval_inferred(tmp_path: Path) -> None:
    ticks = list(replay_ticks(write(tmp_path, INTRADAY), "AAPL"))
    assert_valid(ticks)
    bars = bars_of(ticks, "1min")
    assert list(pd.DatetimeIndex(bars.index).strftime("%H:%M")) == ["14:30", "14:31", "14:33"]
    assert bars["Volume"].tolist() == [1200000, 800000, 450001]
    assert bars["Close"].tolist() == [187.00, 186.25, 186.70]
    assert bars["High"].tolist() == [187.40, 187.10, 186.80]


def test_daily_files_stamped_at_local_midnight_keep_their_dates(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n"
    text += "2024-01-02 00:00:00-05:00,10,11,9,10.5,100\n"
    text += "2024-01-03 00:00:00-05:00,10.5,12,10,11,100\n"
    ticks = list(replay_ticks(write(tmp_path, text), "X"))
    assert pd.DatetimeIndex(bars_of(ticks, "1D").index).strftime("%Y-%m-%d").tolist() == [
        "2024-01-02",
        "2024-01-03",
    ]


def test_explicit_interval_and_unsorted_rows(tmp_path: Path) -> None:
    text = "Timestamp,Open,High,Low,Close,Volume\n"
    text += "2024-01-02T10:05:00,10,11,9,10.5,100\n"
    text += "2024-01-02T10:00:00,10,11,9,10.5,100\n"
    ticks = list(replay_ticks(write(tmp_path, text), "X", bar_seconds=60))
    assert ticks[0].timestamp.startswith("2024-01-02T10:00")
    assert all(t.timestamp < "2024-01-02T10:01" or t.timestamp >= "2024-01-02T10:05" for t in ticks)
    assert len(bars_of(ticks, "1min")) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("Date,Open,High,Low,Close\n2024-01-02,1,1,1,1\n", "AAPL.csv:1: missing column(s) Volume"),
        ("When,Open,High,Low,Close,Volume\n", ":1: missing column(s) Date"),
        ("Date,Open,High,Low,Close,Volume\n", "has a header but no rows"),
        (
            "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n2024-01-03,null,2,1,1,5\n",
            "AAPL.csv:3: Open 'null' is not a positive number",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n01/03/2024,1,2,1,1,5\n",
            "AAPL.csv:3: time '01/03/2024' is not an ISO-8601",
        ),
        ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,1.5\n", ":2: Volume '1.5'"),
        ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1.5,1,5\n", ":2: inconsistent bar"),
        (
            "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,3\n",
            ":2: Volume 3 is too small",
        ),
        ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1\n", ":2: row has no Volume value"),
        (
            "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n2024-01-02,1,2,1,1,5\n",
            "lines 2 and 3 are both bars",
        ),
        ("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n", "holds a single bar"),
    ],
)
def test_bad_files_are_refused_with_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FinanceLakeError, match=r"AAPL\.csv") as caught:
        replay_ticks(write(tmp_path, text), "AAPL")
    assert message in str(caught.value)


def test_bars_closer_than_the_interval_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1,1,5\n2024-01-03,1,2,1,1,5\n"
    )
    with pytest.raises(FinanceLakeError, match="lines 2 and 3 are closer than the bar interval"):
        replay_ticks(path, "AAPL", bar_seconds=2 * 86400)
    with pytest.raises(FinanceLakeError, match=r"cannot read .*nope\.csv"):
        replay_ticks(tmp_path / "nope.csv", "AAPL")
