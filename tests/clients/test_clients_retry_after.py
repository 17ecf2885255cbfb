"""Retry-After parsing against RFC 9110 §10.2.3 and the three HTTP-date formats of §5.6.7."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apiharness.clients import parse_http_date, parse_retry_after

# RFC 9110 §5.6.7 gives this instant in all three formats.
RFC_INSTANT = 784111777.0
NOW_2030 = datetime(2030, 1, 1, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "Sun Nov 06 08:49:37 1994",
    ],
)
def test_the_rfc_example_in_every_format(text: str) -> None:
    assert parse_http_date(text, now=RFC_INSTANT) == RFC_INSTANT


def test_delta_seconds_and_dates() -> None:
    assert parse_retry_after("120", now=0) == 120.0
    assert parse_retry_after(" 0 ", now=0) == 0.0
    assert parse_retry_after(b"7", now=0) == 7.0
    assert parse_retry_after("Fri, 31 Dec 1999 23:59:59 GMT", now=946684799.0 - 30) == 30.0


def test_a_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now=NOW_2030) == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "1.5",
        "+3",
        "1e3",
        "٣",  # an Arabic-Indic digit: str.isdigit() says yes, the grammar's DIGIT says no
        "soon",
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "sun, 06 Nov 1994 08:49:37 GMT",  # HTTP-date is case-sensitive
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",  # IMF-fixdate's day is two digits
        "Sun, 31 Nov 1994 08:49:37 GMT",  # no 31st of November
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 08:60:00 GMT",
        "Sun, 06 Nov 1994 08:49:61 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT extra",
        "Sun, 06-Nov-94 08:49:37 GMT",  # RFC 850 needs the long day name
        "Sunday, 06 Nov 1994 08:49:37 GMT",
        "Sun Nov 6 08:49:37 1994",  # asctime pads a one-digit day with a space
        "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
    ],
)
def test_invalid_values_are_ignored(text: str) -> None:
    assert parse_retry_after(text, now=0) is None


def test_absent_header() -> None:
    assert parse_retry_after(None, now=0) is None


def test_leap_second_is_accepted() -> None:
    midnight = parse_http_date("Sat, 01 Jan 2000 00:00:00 GMT", now=0)
    assert parse_http_date("Fri, 31 Dec 1999 23:59:60 GMT", now=0) == midnight


def test_two_digit_years_more_than_fifty_years_ahead_are_in_the_past() -> None:
    # RFC 9110 §5.6.7: "more than 50 years in the future" -> the most recent past such year.
    y1999 = parse_http_date("Friday, 01-Jan-99 00:00:00 GMT", now=NOW_2030)
    y2070 = parse_http_date("Wednesday, 01-Jan-70 00:00:00 GMT", now=NOW_2030)
    assert y1999 == calendar.timegm((1999, 1, 1, 0, 0, 0))
    assert y2070 == calendar.timegm((2070, 1, 1, 0, 0, 0))


def test_huge_delta_seconds_do_not_overflow() -> None:
    value = parse_retry_after("9" * 400, now=0)
    assert value is not None
    assert value >= 1e15


@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1"))), st.floats(0, 4e9))
def test_never_raises_on_arbitrary_text(text: str, now: float) -> None:
    result = parse_retry_after(text, now=now)
    assert result is None or result >= 0


@given(st.integers(min_value=0, max_value=10**12))
def test_delta_seconds_agree_with_the_rfc(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=12345.0) == float(seconds)


when = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0, tzinfo=UTC))


def _formats(moment: datetime) -> list[str]:
    return [
        moment.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        moment.strftime("%a %b ") + f"{moment.day:>2}" + moment.strftime(" %H:%M:%S %Y"),
    ]


@given(when, st.floats(min_value=0, max_value=4e9))
def test_valid_dates_agree_with_the_rfc(moment: datetime, now: float) -> None:
    expected = moment.timestamp()
    for text in _formats(moment):
        assert parse_http_date(text, now=now) == expected
        assert parse_retry_after(text, now=now) == max(0.0, expected - now)


@given(when)
def test_rfc850_dates_within_fifty_years_agree_with_the_rfc(moment: datetime) -> None:
    text = moment.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    now = moment.replace(year=max(1970, moment.year - 10), month=1, day=1).timestamp()
    assert parse_http_date(text, now=now) == moment.timestamp()
