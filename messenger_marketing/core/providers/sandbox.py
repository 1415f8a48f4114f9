"""Sandbox: messages stay inside Odoo, so every feature works with no token at all.

The simulator writes as a customer through the same inbound path a webhook uses, and
reads the bot's answers from the outbox. A file the customer sends is referenced by a
``data:`` URL (the simulator's upload) or an http(s) URL, which ``fetch_media`` reads as a
provider's file API would: an answer of 429 or 5xx may mend on a later try, any other
refusal will not.
"""

import base64
import binascii

import httpx

from .base import (
    SENT,
    FetchedFile,
    InboundEvent,
    InboundMedia,
    MediaError,
    Provider,
    SendResult,
    WebhookRejectedError,
)

SECRET_HEADER = "X-Messenger-Sandbox-Secret"
KINDS = {"start", "message", "button", "contact", "blocked", "other"}  # see InboundEvent


class SandboxProvider(Provider):
    code = "sandbox"
    label = "Sandbox"
    brand_color = "#6C757D"
    icon = "fa-flask"
    selection_label = "Sandbox (no messenger, for trying)"
    default_rate_limit = 1000.0
    default_per_chat_interval = 0.0
    has_idempotency_key = True  # nothing leaves Odoo: a resend cannot reach anyone twice
    paced = False  # ...and no provider limit to keep: the simulator answers at once
    remote = False
    # what the sandbox takes as files: those of the largest platform (Telegram's bots)
    media_limits = {"photo": 10 * 1024 * 1024, "document": 50 * 1024 * 1024, "audio": 50 * 1024 * 1024}
    media_limits["video"] = media_limits["document"]

    async def send(self, message):
        return SendResult(message.key, SENT, provider_message_id=f"sandbox-{message.key}")

    def verify_webhook(self, headers, body):
        self.check_secret(headers.get(SECRET_HEADER), self.config.webhook_secret, "missing or wrong sandbox secret")

    def parse_webhook(self, body):
        """A sandbox webhook body is a JSON object with the InboundEvent fields."""
        data = self.load_json(body)
        try:
            if not isinstance(data, dict):
                raise TypeError("not an object")
            fields = InboundEvent.__dataclass_fields__
            event = InboundEvent(**{k: str(v) if fields[k].type is str else v for k, v in data.items() if k in fields})
            if not isinstance(event.media, list):
                raise TypeError("media is not a list")
            names = InboundMedia.__dataclass_fields__
            event.media = [InboundMedia(**{k: v for k, v in m.items() if k in names}) for m in event.media]
        except (ValueError, TypeError) as exc:
            raise WebhookRejectedError(400, "malformed sandbox event") from exc
        if event.kind not in KINDS:
            raise WebhookRejectedError(400, "unknown sandbox event kind")
        return [event]

    async def fetch_media(self, media):
        ref = media.ref or ""
        if ref.startswith("data:"):
            header, _sep, data = ref.partition(",")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise MediaError("the file's data is not base64", retryable=False) from exc
            mimetype = header[5:].split(";")[0] or media.mimetype
            return FetchedFile(raw, mimetype, media.filename)
        if not ref.startswith(("http://", "https://")):
            raise MediaError("no file at this reference", retryable=False)
        try:
            async with httpx.AsyncClient(timeout=self.config.request_timeout) as client:
                answer = await client.get(ref)
        except httpx.HTTPError as exc:
            raise MediaError(f"the file could not be read: {exc.__class__.__name__}") from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise MediaError(f"the file server answered {answer.status_code}")
        if answer.status_code != 200:
            raise MediaError(f"the file server answered {answer.status_code}", retryable=False)
        mimetype = answer.headers.get("content-type", "").split(";")[0] or media.mimetype
        return FetchedFile(answer.content, mimetype, media.filename)

    def deep_link(self, payload):
        return f"/start {payload}"

    def set_webhook(self, url):
        return None

    def delete_webhook(self):
        return None

    def test_connection(self):
        return {}
