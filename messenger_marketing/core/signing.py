"""Signed payloads for deep links (``t.me/<bot>?start=<payload>``).

Telegram allows 64 characters from ``[A-Za-z0-9_-]`` in a start parameter, so the
signature is a truncated HMAC-SHA256 in URL-safe base64 (72 bits: forging one takes
2^71 guesses on average, each of them a visible webhook call).
"""

import base64
import hashlib
import hmac
import re

SIGNATURE_LENGTH = 12
_VALUE = re.compile(r"^[A-Za-z0-9]{1,40}$")


def _signature(secret, value):
    digest = hmac.new(secret.encode(), value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_LENGTH]


def sign(secret, value):
    """Return ``value-signature``; ``value`` is alphanumeric (it carries no separator)."""
    if not _VALUE.match(value):
        raise ValueError("A signed payload value must be 1 to 40 letters or digits.")
    return f"{value}-{_signature(secret, value)}"


def verify(secret, payload):
    """Return the signed value, or None when the payload is malformed or tampered with."""
    value, sep, signature = (payload or "").partition("-")
    if not sep or not _VALUE.match(value):
        return None
    if not hmac.compare_digest(signature, _signature(secret, value)):
        return None
    return value
