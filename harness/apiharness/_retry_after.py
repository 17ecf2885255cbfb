"""The ``Retry-After`` header (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

``Retry-After = HTTP-date / delay-seconds``, and an HTTP-date (RFC 9110 §5.6.7) comes in three
formats, all of which a recipient must accept::

    Sun, 06 Nov 1994 08:49:37 GMT    ; IMF-fixdate (the one senders use)
    Sunday, 06-Nov-94 08:49:37 GMT   ; obsolete RFC 850 format
    Sun Nov  6 08:49:37 1994         ; ANSI C's asctime() format

Parsing is strict and case-sensitive, as the grammar is; anything else (including a negative or
fractional number) is invalid and ignored, which RFC 9110 permits for a malformed field. A date
in the past means "retry now" (0 seconds). A two-digit RFC 850 year more than 50 years in the
future is taken as the most recent past year with the same last two digits (§5.6.7).

Hand-written: :func:`email.utils.parsedate_to_datetime` is lenient (it accepts RFC 5322 dates
with other zones, missing weekdays and more), so it would not agree with the RFC on what is
valid. The weekday is checked for spelling but not against the date, as RFC 9110 does not ask
recipients to.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime

__all__ = ["parse_http_date", "parse_retry_after", "parse_retry_after_ms"]

_DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_DAY_LONG = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH = "(?P<month>" + "|".join(_MONTHS) + ")"
_TIME = r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"

_IMF_FIXDATE = re.compile(
    rf"{_DAY}, (?P<day>[0-9]{{2}}) {_MONTH} (?P<year>[0-9]{{4}}) {_TIME} GMT", re.ASCII
)
_RFC850 = re.compile(
    rf"{_DAY_LONG}, (?P<day>[0-9]{{2}})-{_MONTH}-(?P<year>[0-9]{{2}}) {_TIME} GMT", re.ASCII
)
_ASCTIME = re.compile(
    rf"{_DAY} {_MONTH} (?P<day>[0-9]{{2}}| [0-9]) {_TIME} (?P<year>[0-9]{{4}})", re.ASCII
)
_DELTA = re.compile(r"[0-9]+", re.ASCII)
# retry-after-ms: milliseconds, possibly fractional (the OpenAI and Anthropic SDKs read it with
# float(), openai-python and anthropic-sdk-python src/*/_base_client.py _calculate_retry_timeout).
_MILLIS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,6})?", re.ASCII)

# Beyond this a delta is "forever" for every purpose; it also keeps int -> float from overflowing.
_MAX_DELTA_DIGITS = 15


def _two_digit_year(yy: int, now: float) -> int:
    # The one year with these last two digits in (current - 50, current + 50]: anything later
    # would be "more than 50 years in the future" (RFC 9110 §5.6.7), anything earlier is not
    # the most recent past year with those digits.
    current = datetime.fromtimestamp(now, tz=UTC).year
    year = current - current % 100 + yy
    if year > current + 50:
        year -= 100
    elif year <= current - 50:
        year += 100
    return year


def parse_http_date(value: str, *, now: float) -> float | None:
    """Epoch seconds of an HTTP-date in any of its three formats, or None if it is not one.

    ``now`` (epoch seconds) is needed only to place a two-digit RFC 850 year.

    >>> parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", now=0)
    784111777.0
    """
    match = _IMF_FIXDATE.fullmatch(value) or _ASCTIME.fullmatch(value)
    if match is not None:
        year = int(match["year"])
    else:
        match = _RFC850.fullmatch(value)
        if match is None:
            return None
        year = _two_digit_year(int(match["year"]), now)
    month = _MONTHS.index(match["month"]) + 1
    day, hour = int(match["day"]), int(match["hour"])
    minute, second = int(match["minute"]), int(match["second"])
    # time-of-day is 00:00:00 - 23:59:60; 60 is a leap second, which timegm handles as :59 + 1.
    if hour > 23 or minute > 59 or second > 60:
        return None
    try:
        datetime(year, month, day, tzinfo=UTC)
    except ValueError:  # day 31 of a 30-day month, year 0000 ...
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))


def parse_retry_after(value: str | bytes | None, *, now: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` value, or None if absent or invalid.

    ``now`` is the current wall-clock time in epoch seconds (``get_clock().time()``). Never
    raises, whatever the input.

    >>> parse_retry_after("120", now=0)
    120.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", now=30)
    30.0
    >>> parse_retry_after("soon", now=0) is None
    True
    """
    value = _field_text(value)
    if value is None:
        return None
    if _DELTA.fullmatch(value):
        digits = value.lstrip("0") or "0"
        if len(digits) > _MAX_DELTA_DIGITS:
            return float(10**_MAX_DELTA_DIGITS)
        return float(int(digits))
    when = parse_http_date(value, now=now)
    if when is None:
        return None
    return max(0.0, when - now)


def parse_retry_after_ms(value: str | bytes | None) -> float | None:
    """Seconds to wait according to a ``retry-after-ms`` value, or None if absent or invalid.

    The header is not standard: OpenAI and Anthropic send it beside ``Retry-After`` with the
    wait in milliseconds, and their SDKs read it first. Never raises, whatever the input.

    >>> parse_retry_after_ms("1500")
    1.5
    >>> parse_retry_after_ms("-1") is None
    True
    """
    value = _field_text(value)
    if value is None or not _MILLIS.fullmatch(value):
        return None
    return float(value) / 1000


def _field_text(value: str | bytes | None) -> str | None:
    """A header value as text, without the optional whitespace around it (RFC 9110 §5.5)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value.strip(" \t")
