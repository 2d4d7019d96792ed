"""Settings for other feeds: the field map and the future guard."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from financelake.config import Settings


def test_a_field_map_renames_only_the_fields_it_names() -> None:
    settings = Settings(field_map=" symbol=s, price=p ,volume=v,timestamp=t")
    assert settings.message_fields == {
        "symbol": "s",
        "price": "p",
        "volume": "v",
        "open": "open",
        "high": "high",
        "low": "low",
        "timestamp": "t",
        "trade_id": "trade_id",
    }
    assert Settings().message_fields["symbol"] == "symbol"


@pytest.mark.parametrize(
    "text", ["sym=s", "symbol", "symbol=", "symbol=s,symbol=t", "symbol=s,price=s", "price=symbol"]
)
def test_a_bad_field_map_is_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="field map"):
        Settings(field_map=text)


def test_max_future_defaults_to_five_minutes_and_is_an_interval() -> None:
    assert Settings().max_future_seconds == 300
    assert Settings(max_future="1 day").max_future_seconds == 86400
    with pytest.raises(ValidationError):
        Settings(max_future="soon")
