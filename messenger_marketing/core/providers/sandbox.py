"""Sandbox: messages stay inside Odoo, so every feature works with no token at all.

The simulator writes as a customer through the same inbound path a webhook uses, and
reads the bot's answers from the outbox.
"""

from .base import SENT, InboundEvent, Provider, SendResult, WebhookRejectedError

SECRET_HEADER = "X-Messenger-Sandbox-Secret"
KINDS = {"start", "message", "button", "contact", "blocked", "other"}  # see InboundEvent


class SandboxProvider(Provider):
    code = "sandbox"
    label = "Sandbox"
    selection_label = "Sandbox (no messenger, for trying)"
    default_rate_limit = 1000.0
    default_per_chat_interval = 0.0
    has_idempotency_key = True  # nothing leaves Odoo: a resend cannot reach anyone twice
    paced = False  # ...and no provider limit to keep: the simulator answers at once
    remote = False

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
        except (ValueError, TypeError) as exc:
            raise WebhookRejectedError(400, "malformed sandbox event") from exc
        if event.kind not in KINDS:
            raise WebhookRejectedError(400, "unknown sandbox event kind")
        return [event]

    def deep_link(self, payload):
        return f"/start {payload}"

    def set_webhook(self, url):
        return None

    def delete_webhook(self):
        return None

    def test_connection(self):
        return {}
