"""Values that cross the public boundary: record ids in public addresses, and the links
customers and visitors are sent to."""

import re
from urllib.parse import urlsplit

# The largest id PostgreSQL's integer column holds.
PG_INT_MAX = 2147483647
# ASCII digits only: Python's \d and str.isdigit() also take "١٢٣" and "²".
_ID = re.compile(r"[0-9]{1,10}")


def parse_id(text):
    """The record id that ``text`` spells, or None when it is not one: empty, signed, not
    ASCII digits, zero, or beyond PostgreSQL's integer (a long string of digits would
    otherwise fail int() or the query)."""
    if not isinstance(text, str) or not _ID.fullmatch(text):
        return None
    value = int(text)
    return value if 0 < value <= PG_INT_MAX else None


def is_web_url(value):
    """True for an absolute http(s) address. Other schemes (javascript:, data:, vbscript:)
    run code or show forged content when a visitor opens them; a control character or a
    space lets a browser read the scheme differently than this check."""
    if not isinstance(value, str) or not value or any(ord(c) <= 32 or ord(c) == 127 for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unbalanced [ in the host
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
