"""Pure parts of the chatbot flow engine: button payloads and reading what people type.

Nothing here knows about Odoo models, so each piece is easy to test on its own.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

PAYLOAD_PREFIX = "flow:"
MAX_PAYLOAD_BYTES = 64  # Telegram's limit for a button's callback_data
# [0-9], not \d: \d also matches other scripts' digits, which int() reads as well
_PAYLOAD = re.compile(r"^flow:([0-9]{1,12}):([A-Za-z0-9_]{1,32})$")


@dataclass
class FlowAnswer:
    """What a person answered to a waiting step: a press of one of the step's buttons
    (``token``), free ``text``, or a ``phone`` number shared with the messenger's button."""

    text: str = ""
    token: str = ""
    phone: str = ""


def button_payload(step_id, token):
    """The callback payload of a step's button: ``flow:<step id>:<token>``."""
    payload = f"{PAYLOAD_PREFIX}{int(step_id)}:{token}"
    if not _PAYLOAD.match(payload) or len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"Not a valid flow button token: {token!r}")
    return payload


def is_flow_payload(payload):
    return (payload or "").startswith(PAYLOAD_PREFIX)


def parse_button_payload(payload):
    """``(step_id, token)`` of a flow button payload, or None when it is malformed."""
    match = _PAYLOAD.match(payload or "")
    return (int(match[1]), match[2]) if match else None


# -- e-mail --------------------------------------------------------------------------
_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)


def clean_email(text):
    """The address a person typed, lower-cased, or None when it is not one address."""
    text = (text or "").strip().strip(".").lower()
    return text if _EMAIL.match(text) else None


# -- callback time -------------------------------------------------------------------
# Longer phrases first: "послезавтра" contains "завтра".
_DAY_WORDS = (
    ("day after tomorrow", 2),
    ("послезавтра", 2),
    ("tomorrow", 1),
    ("завтра", 1),
    ("today", 0),
    ("сегодня", 0),
)
_NOW_WORDS = ("asap", "now", "as soon as possible", "сейчас", "как можно скорее", "срочно")
_CLOCK = re.compile(r"(?<![\d./:])(\d{1,2})[:.](\d{2})(?![\d./:])\s*(am|pm)?", re.IGNORECASE)
_HOUR = re.compile(r"(?:\b(?:at|в|к)\s+(\d{1,2})(?!\d)\s*(am|pm)?)|(?:(?<![\d.:])(\d{1,2})\s*(am|pm)\b)", re.IGNORECASE)
_DATE = re.compile(r"(?<![\d.:/])(\d{1,2})[./](\d{1,2})(?:[./](\d{2}|\d{4}))?(?![\d:])")
_ISO_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")


def _hour(value, meridiem):
    hour = int(value)
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem.lower() == "pm" else 0)
    return hour


def _time_of_day(text):
    """(hour, minute, span in the text) of the last valid hh:mm, else of "at 15" / "3 pm"."""
    found = None
    for match in _CLOCK.finditer(text):
        hour = _hour(match[1], match[3])
        if hour is not None and hour < 24 and int(match[2]) < 60:
            found = (hour, int(match[2]), match.span())
    if found:
        return found
    match = _HOUR.search(text)
    hour = _hour(match[1] or match[3], match[2] or match[4]) if match else None
    return (hour, 0, match.span()) if hour is not None and hour < 24 else None


class _BadDateError(ValueError):
    pass


def _date(year, month, day):
    try:
        return datetime(year, month, day).date()
    except ValueError as exc:
        raise _BadDateError from exc


def _explicit_day(text, now, time_span):
    """The date written in the text (ISO, or day.month[.year]), or None; raises _BadDateError
    for a date that does not exist."""
    iso = _ISO_DATE.search(text)
    if iso:
        return _date(int(iso[1]), int(iso[2]), int(iso[3]))
    for match in _DATE.finditer(text):
        if match.start() >= time_span[0] and match.end() <= time_span[1]:
            continue  # "15.30" was read as the time
        year = int(match[3]) if match[3] else now.year
        day = _date(year + (2000 if year < 100 else 0), int(match[2]), int(match[1]))
        if not match[3] and day < now.date():
            day = day.replace(year=day.year + 1)  # "05.01" said in December
        return day
    return None


def parse_callback_time(text, now):
    """The local time a person asks to be called at, from answers such as "15:30",
    "tomorrow 10:00", "завтра в 9", "3 pm" or "25.12 14:00"; ``now`` is the local time.

    Returns a naive datetime, ``now`` for "now"/"asap", or None when no time can be read
    or the time has passed. A time of day without a date that has passed today means
    tomorrow."""
    text = " ".join((text or "").lower().split())
    if any(word == text.strip(" !.") for word in _NOW_WORDS):
        return now
    found = _time_of_day(text)
    if not found:
        return None
    hour, minute, span = found
    try:
        day = _explicit_day(text, now, span)
    except _BadDateError:
        return None
    offset = next((days for word, days in _DAY_WORDS if word in text), None)
    explicit = day is not None or offset is not None
    if day is None:
        day = now.date() + timedelta(days=offset or 0)
    when = datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)
    if when <= now:
        if explicit:
            return None
        when += timedelta(days=1)  # "9:00" said at ten: tomorrow morning
    return when
