from __future__ import annotations

import pytest

from prodloop.durations import format_duration, parse_duration
from prodloop.errors import ValidationError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("1h30m", 5400.0),
        (" 5M ", 300.0),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "1x", "h", "-1h", "1h 30m", "1.h", "1hh"])
def test_bad_duration_names_the_text(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_duration(text, field="slos.latency.alert_for")
    assert repr(text) in caught.value.message
    assert caught.value.field == "slos.latency.alert_for"


@pytest.mark.parametrize("seconds", [90.0, 1800.0, 3600.0, 604800.0, 86400.0 * 3, 0.5, 0.0])
def test_format_duration_round_trips(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
