import hashlib
import hmac
import json
import urllib.parse
from datetime import timedelta

import requests

from odoo import fields
from odoo.tests.common import TransactionCase

from .fakes.graph_server import FakeGraph
from .fakes.max_server import FakeMax
from .fakes.telegram_server import FakeTelegram
from .fakes.vk_server import CONFIRMATION_CODE, FakeVk


def meta_signature(app_secret, body):
    """The ``X-Hub-Signature-256`` of a webhook body, as Meta signs it."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def binding_payload(channel, partner):
    """The start parameter of a new binding link of the partner on the channel."""
    return channel.env["messenger.binding.link"].create({"channel_id": channel.id, "partner_id": partner.id}).payload


class TelegramSetupMixin:
    """A Telegram channel pointed at a fake Bot API server on 127.0.0.1."""

    @classmethod
    def setup_telegram(cls, env, **channel_vals):
        cls.fake = FakeTelegram().start()
        cls.addClassCleanup(cls.fake.stop)
        # short backoff so retries fall due within the test's dispatch run
        env["ir.config_parameter"].sudo().set_param("messenger_marketing.retry_base_seconds", "0.2")
        vals = {
            "name": "Test bot",
            "provider": "telegram",
            "token": cls.fake.token,
            "api_base_url": cls.fake.url,
            "bot_username": "fake_shop_bot",
            "request_timeout": 2.0,
            **channel_vals,
        }
        return env["messenger.channel"].create(vals)


class MessengerCase(TelegramSetupMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def make_contacts(self, count, state="subscribed", start=1000):
        return self.env["messenger.contact"].create(
            [
                {"name": f"Person {i}", "channel_id": self.channel.id, "chat_id": str(start + i), "state": state}
                for i in range(count)
            ]
        )

    def dispatch(self, budget=60):
        """A dispatcher run, then the conversation cron it triggers (which shows what it
        sent in the conversations)."""
        sent = self.env["messenger.dispatcher"]._dispatch(time_budget=budget, channel_ids=self.channel.ids)
        self.env["messenger.message"]._cron_show_in_conversation()
        return sent


# requests' own send, before Odoo's test framework wraps it (see _request_handler)
_REQUESTS_SEND = requests.Session.send


class ProvidersSetupMixin:
    """Channels of the other providers, each pointed at its fake API in a process of its own."""

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        # Odoo's test framework raises every requests timeout under 10 s to 10 s; the fakes
        # run on 127.0.0.1 and the timeout tests need the channel's own timeout.
        if urllib.parse.urlsplit(request.url).hostname == "127.0.0.1":
            return _REQUESTS_SEND(session, request, **kwargs)
        return super()._request_handler(session, request, **kwargs)

    @classmethod
    def _fast_retries(cls, env):
        env["ir.config_parameter"].sudo().set_param("messenger_marketing.retry_base_seconds", "0.2")

    @classmethod
    def setup_vk(cls, env, **channel_vals):
        fake = FakeVk().start()
        cls.addClassCleanup(fake.stop)
        cls._fast_retries(env)
        channel = env["messenger.channel"].create(
            {
                "name": "VK community",
                "provider": "vk",
                "token": fake.token,
                "vk_group_id": fake.group_id,
                "vk_confirmation_code": CONFIRMATION_CODE,
                "api_base_url": fake.url,
                "bot_username": "fake_shop",
                "request_timeout": 2.0,
                **channel_vals,
            }
        )
        return channel, fake

    @classmethod
    def setup_max(cls, env, **channel_vals):
        fake = FakeMax().start()
        cls.addClassCleanup(fake.stop)
        cls._fast_retries(env)
        vals = {
            "name": "MAX bot",
            "provider": "max",
            "token": fake.token,
            "api_base_url": fake.url,
            "bot_username": "fake_shop_bot",
            "request_timeout": 2.0,
        }
        return env["messenger.channel"].create({**vals, **channel_vals}), fake

    @classmethod
    def setup_graph(cls, env, platform, **channel_vals):
        fake = FakeGraph(platform).start()
        cls.addClassCleanup(fake.stop)
        cls._fast_retries(env)
        account_field = {
            "whatsapp": "whatsapp_phone_number_id",
            "messenger": "facebook_page_id",
            "instagram": "instagram_account_id",
        }[platform]
        vals = {
            "name": f"{platform} account",
            "provider": platform,
            "token": fake.token,
            "app_secret": fake.app_secret,
            account_field: fake.account_id,
            "api_base_url": fake.url,
            "bot_username": {"whatsapp": "15550100200", "messenger": "fakeshop", "instagram": "fake.shop"}[platform],
            "request_timeout": 2.0,
        }
        if platform == "whatsapp":
            vals["whatsapp_account_id"] = fake.waba_id
        channel = env["messenger.channel"].create({**vals, **channel_vals})
        return channel, fake

    def make_contact(self, channel, chat_id, inbound_hours_ago=1.0, **vals):
        """A subscribed contact who last wrote ``inbound_hours_ago`` hours ago (None: never)."""
        last = fields.Datetime.now() - timedelta(hours=inbound_hours_ago) if inbound_hours_ago is not None else False
        return self.env["messenger.contact"].create(
            {
                "name": f"Person {chat_id}",
                "channel_id": channel.id,
                "chat_id": str(chat_id),
                "last_inbound_at": last,
                **vals,
            }
        )

    def dispatch_channel(self, channel, budget=20):
        """One dispatcher run on the channel. A pause that an earlier step's "retry after"
        or outage left on the channel row is lifted, as if it had run out: each step tests
        its own answer."""
        self.env.cr.execute("UPDATE messenger_channel SET pacing_next_slot = NULL WHERE id = %s", [channel.id])
        channel.invalidate_recordset(["pacing_next_slot"])
        sent = self.env["messenger.dispatcher"]._dispatch(time_budget=budget, channel_ids=channel.ids)
        self.env["messenger.message"]._cron_show_in_conversation()
        return sent


class WebhookMixin:
    """Posting to a channel's webhook over real HTTP (HttpCase)."""

    def webhook_path(self, channel):
        return f"/messenger/webhook/{channel.webhook_key}"

    def post_raw(self, channel, body, headers=None):
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.url_open(
            self.webhook_path(channel), data=body, headers={"Content-Type": "application/json", **(headers or {})}
        )

    def meta_post(self, channel, payload, signature=None, raw=None):
        """POST a Meta webhook, signed with the channel's app secret unless ``signature``
        says otherwise ("" for none)."""
        body = raw if raw is not None else json.dumps(payload).encode()
        if signature is None:
            signature = meta_signature(channel.app_secret, body)
        headers = {"X-Hub-Signature-256": signature} if signature else {}
        return self.post_raw(channel, body, headers)

    def meta_get(self, channel, params):
        return self.url_open(f"{self.webhook_path(channel)}?{urllib.parse.urlencode(params)}")

    def contact_of(self, channel, chat_id):
        return self.env["messenger.contact"].search([("channel_id", "=", channel.id), ("chat_id", "=", str(chat_id))])

    def events_of(self, channel):
        return self.env["messenger.webhook.event"].search([("channel_id", "=", channel.id)])
