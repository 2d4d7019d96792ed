from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from financelake.errors import FinanceLakeError
from financelake.market.replay import replay_file, replay_ticks
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


MULTI = """Date,Symbol,Open,High,Low,Close,Volume
2024-01-02,AAPL,187.15,188.44,183.89,185.64,82488700
2024-01-02,MSFT,370.0,371.0,366.5,370.6,25258600
2024-01-03,AAPL,184.22,185.88,183.43,184.25,58414500
2024-01-03,MSFT,369.0,373.2,369.0,370.6,23083500
2024-01-04,MSFT,368.0,370.0,365.0,367.9,20901500
"""


def test_a_multi_symbol_file_is_sent_in_event_time_order_whole(tmp_path: Path) -> None:
    replay = replay_file(write(tmp_path, MULTI))
    stamps = [t.timestamp for t in replay.ticks if isinstance(t, Tick)]
    assert len(stamps) == len(replay.ticks) and stamps == sorted(stamps)
    ticks = [t for t in replay.ticks if isinstance(t, Tick)]
    assert {t.symbol for t in ticks} == {"AAPL", "MSFT"}
    msft = bars_of([t for t in ticks if t.symbol == "MSFT"], "1D")
    assert list(msft.Close) == [370.6, 370.6, 367.9]
    assert list(msft.Volume) == [25258600, 23083500, 20901500]
    assert replay.rows == 5
    assert replay.rows_sent(len(ticks)) == 5 and replay.rows_sent(0) == 0
    assert replay.describe(len(ticks)).startswith(f"replayed 5 of 5 rows ({len(ticks)} of ")


def test_a_parquet_file_with_an_unnamed_date_index_replays_like_its_csv(tmp_path: Path) -> None:
    frame = pd.read_csv(write(tmp_path, DAILY), index_col="Date", parse_dates=True)
    frame.index.name = None  # what many exports look like
    frame.to_parquet(tmp_path / "aapl.parquet")
    frame.to_csv(tmp_path / "aapl_indexed.csv")  # first column has no name
    from_csv = replay_ticks(write(tmp_path, DAILY), "AAPL")
    assert replay_ticks(tmp_path / "aapl.parquet", "AAPL") == from_csv
    assert replay_ticks(tmp_path / "aapl_indexed.csv", "AAPL") == from_csv


def test_a_trade_file_replays_as_trade_ticks_without_ohlc(tmp_path: Path) -> None:
    text = "timestamp,symbol,price,volume\n"
    text += "2024-01-02T14:30:00.250Z,AAPL,187.1,100\n"
    text += "2024-01-02T14:30:00.250Z,AAPL,187.2,50\n"  # another trade at the same time
    text += "2024-01-02T14:29:59,MSFT,370.0,10\n"
    replay = replay_file(write(tmp_path, text, "trades.csv"))
    assert replay.ticks == [
        {"symbol": "MSFT", "price": 370.0, "volume": 10, "timestamp": "2024-01-02T14:29:59.000000"},
        {
            "symbol": "AAPL",
            "price": 187.1,
            "volume": 100,
            "timestamp": "2024-01-02T14:30:00.250000",
        },
        {"symbol": "AAPL", "price": 187.2, "volume": 50, "timestamp": "2024-01-02T14:30:00.250000"},
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("t.csv", "timestamp,price\n2024-01-02,1\n", "t.csv:1: missing column(s) Volume"),
        ("b.csv", "Date,Open,High,Low,Volume\n2024-01-02,1,1,1,1\n", "missing column(s) Close"),
        ("s.csv", "Date,Symbol,Open,High,Low,Close,Volume\n2024-01-02, ,1,1,1,1,1\n", "Symbol"),
        ("p.parquet", "not parquet", "cannot read"),
    ],
)
def test_unreadable_files_and_missing_columns_name_file_and_column(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    with pytest.raises(FinanceLakeError, match=name.replace(".", r"\.")) as caught:
        replay_file(write(tmp_path, text, name), bar_seconds=86400)
    assert message in str(caught.value)


def test_a_symbol_is_refused_for_a_file_with_a_symbol_column(tmp_path: Path) -> None:
    with pytest.raises(FinanceLakeError, match="has a Symbol column"):
        replay_file(write(tmp_path, MULTI), "AAPL")
