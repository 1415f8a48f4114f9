"""MAX end to end against its fake Bot API: webhooks over real HTTP with the bodies of
dev.max.ru's Update objects, sends through the dispatcher, files by upload."""

import asyncio
import itertools
import json
import threading
import time

import requests

import odoo
from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.tests import BaseCase, HttpCase, tagged
from odoo.tests.common import get_db_name

from ..core.providers import ChannelConfig, OutgoingMessage
from ..core.providers.base import InboundMedia, MediaError, OutgoingFile
from ..core.providers.max import SECRET_HEADER, MaxError, MaxProvider
from .common import ProvidersSetupMixin, WebhookMixin, binding_payload
from .fakes.max_server import FakeMax

LOGGER = "odoo.addons.messenger_marketing.controllers.webhook"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n" + b"0" * 64 + b"\n%%EOF"
_stamps = itertools.count(1_700_000_000_000)


def user(user_id, name="Anna"):
    return {"user_id": user_id, "first_name": name, "last_name": "", "username": None, "is_bot": False}


@tagged("post_install", "-at_install")
class TestMax(ProvidersSetupMixin, WebhookMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel, cls.fake = cls.setup_max(cls.env)
        cls.partner = cls.env["res.partner"].create({"name": "Ivan Petrov", "email": "ivan@example.com"})

    def setUp(self):
        super().setUp()
        self.fake.reset()

    # -- webhooks --------------------------------------------------------------------------
    def post_update(self, update, secret=None):
        headers = {SECRET_HEADER: self.channel.webhook_secret if secret is None else secret}
        if secret is False:
            headers = {}
        return self.post_raw(self.channel, {"timestamp": next(_stamps), **update}, headers)

    def message_created(self, text, user_id=901, attachments=None, mid=None):
        body = {"mid": mid or f"mid.{next(_stamps):x}", "seq": 1, "text": text, "attachments": attachments}
        recipient = {"chat_id": user_id + 1, "chat_type": "dialog", "user_id": 5550001}
        message = {"sender": user(user_id), "recipient": recipient, "timestamp": next(_stamps), "body": body}
        return {"update_type": "message_created", "message": message, "user_locale": "ru"}

    def test_defaults_follow_the_platform(self):
        self.assertEqual((self.channel.rate_limit, self.channel.per_chat_interval), (30.0, 1.0))
        self.assertEqual(MaxProvider.default_api_base_url, "https://platform-api2.max.ru")
        payload = binding_payload(self.channel, self.partner)
        self.assertEqual(self.channel._deep_link(payload), f"https://max.ru/fake_shop_bot?start={payload}")

    def test_start_with_a_payload_binds_and_welcomes(self):
        payload = binding_payload(self.channel, self.partner)
        started = {"update_type": "bot_started", "chat_id": 9021, "user": user(902, "Ivan"), "payload": payload}
        response = self.post_update(started)
        self.assertEqual(response.status_code, 200, response.text)
        contact = self.contact_of(self.channel, 902)
        self.assertEqual((contact.partner_id, contact.name), (self.partner, "Ivan"))
        self.assertIn("deep_link", contact.consent_log_ids.mapped("method"))
        self.dispatch_channel(self.channel)
        self.assertEqual(self.fake.texts("902"), [self.channel.welcome_message])
        # the same update again (MAX retries until it gets a 200) is handled once
        self.post_raw(self.channel, {**started, "timestamp": 1}, {SECRET_HEADER: self.channel.webhook_secret})
        self.post_raw(self.channel, {**started, "timestamp": 1}, {SECRET_HEADER: self.channel.webhook_secret})
        self.assertEqual(len(self.events_of(self.channel).filtered(lambda e: e.event_id.endswith("-1"))), 1)

    def test_start_text_message_and_contact(self):
        self.post_update(self.message_created("Do you ship to Omsk?", user_id=903))
        contact = self.contact_of(self.channel, 903)
        self.assertEqual(contact.message_ids_messenger.body, "Do you ship to Omsk?")
        vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nTEL;TYPE=cell:+79123456789\r\nEND:VCARD"
        shared = {"type": "contact", "payload": {"vcf_info": vcf, "max_info": user(903)}}
        self.post_update(self.message_created("", user_id=903, attachments=[shared]))
        self.assertEqual(contact.phone, "+79123456789")

    def test_a_button_press_is_answered(self):
        contact = self.make_contact(self.channel, 904)
        press = {
            "update_type": "message_callback",
            "callback": {"timestamp": 1, "callback_id": "cb-777", "payload": "size_m", "user": user(904)},
            "message": None,
        }
        self.assertEqual(self.post_update(press).status_code, 200)
        self.assertIn("[button] size_m", contact.message_ids_messenger.mapped("body"))
        self.assertEqual(self.fake.state()["answers"], [{"callback_id": "cb-777", "body": {"notification": "✓"}}])
        self.assertEqual(self.fake.sent, [], "the answer is no message in the chat")
        # MAX down: the press is still taken, the answer's failure only logged
        self.fake.refuse(1)
        again = {**press, "callback": {**press["callback"], "callback_id": "cb-778"}}
        with self.assertLogs("odoo.addons.messenger_marketing.core.providers.max", "WARNING"):
            self.assertEqual(self.post_update(again).status_code, 200)
        self.assertEqual(contact.message_ids_messenger.mapped("body").count("[button] size_m"), 2)
        self.wait_for_the_fake()

    def wait_for_the_fake(self):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                return self.fake.state()
            except OSError:
                time.sleep(0.1)
        raise AssertionError("the fake MAX API did not come back")

    def test_bot_stopped_blocks(self):
        contact = self.make_contact(self.channel, 905)
        waiting = contact._send("Your order is on its way", kind="transactional")
        self.post_update({"update_type": "bot_stopped", "chat_id": 9051, "user": user(905)})
        self.assertEqual(contact.state, "blocked")
        self.assertEqual(contact.consent_log_ids[:1].method, "provider")
        self.assertEqual(waiting.state, "cancelled")
        # a stop MAX reports only on sending: 403, the contact is blocked too
        other = self.make_contact(self.channel, 906)
        refused = other._send("Hello")
        self.fake.block("906")
        self.dispatch_channel(self.channel)
        self.assertEqual((refused.state, refused.failure_type, other.state), ("failed", "blocked", "blocked"))
        # removed from a group chat: that chat is blocked; an update the product does not use is only recorded
        self.post_update({"update_type": "bot_removed", "chat_id": -7001, "user": user(905), "is_channel": False})
        self.assertEqual(self.contact_of(self.channel, -7001).state, "blocked")
        self.assertEqual(
            self.post_update({"update_type": "dialog_muted", "chat_id": 1, "user": user(905)}).status_code, 200
        )
        self.assertEqual(self.events_of(self.channel).filtered(lambda e: "dialog_muted" in e.event_id).kind, "other")

    def test_a_group_chat_is_written_to_by_its_chat_id(self):
        update = self.message_created("Who ships to Omsk?", user_id=908)
        update["message"]["recipient"] = {"chat_id": -70008, "chat_type": "chat"}
        self.post_update(update)
        group = self.contact_of(self.channel, -70008)
        self.assertTrue(group)
        person = self.make_contact(self.channel, 909)
        to_group, to_person = group._send("We do, from Monday"), person._send("Your order shipped")
        self.dispatch_channel(self.channel)
        self.assertEqual((to_group.state, to_person.state), ("sent", "sent"), to_group.failure_reason)
        sent = {s["text"]: (s["chat_id"], s["user_id"]) for s in self.fake.sent}
        self.assertEqual(sent["We do, from Monday"], ("-70008", ""))
        self.assertEqual(sent["Your order shipped"], ("", "909"))

    def test_forged_or_missing_secret_is_403(self):
        update = self.message_created("hi", user_id=907)
        with self.assertLogs(LOGGER, "WARNING") as logs:
            forged = self.post_update(update, secret="guess")
            near = self.post_update(update, secret=self.channel.webhook_secret[:-1])
            missing = self.post_update(update, secret=False)
            broken = self.post_raw(self.channel, b'{"update_type": ', {SECRET_HEADER: self.channel.webhook_secret})
            no_type = self.post_update({"update_type": 5})
            bad_shape = self.post_update({"update_type": "message_created", "message": {"sender": {}}})
        statuses = [r.status_code for r in (forged, near, missing, broken, no_type, bad_shape)]
        self.assertEqual(statuses, [403, 403, 403, 400, 400, 400])
        self.assertFalse(self.events_of(self.channel))
        self.assertFalse(self.contact_of(self.channel, 907))
        self.assertNotIn(self.channel.webhook_secret, "".join(logs.output))

    # -- sending ---------------------------------------------------------------------------
    def test_order_confirmation_arrives(self):
        contact = self.make_contact(self.channel, 910, partner_id=self.partner.id)
        product = self.env["product.product"].create({"name": "Oak desk", "list_price": 250.0, "type": "consu"})
        order = self.env["sale.order"].create(
            {"partner_id": self.partner.id, "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})]}
        )
        order.action_confirm()
        message = self.env["messenger.message"].search([("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        self.assertEqual((message.contact_id, message.kind), (contact, "transactional"))
        self.dispatch_channel(self.channel)
        self.assertEqual(message.state, "sent", message.failure_reason)
        sent = self.fake.sent[0]
        self.assertIn(order.name, sent["text"])
        self.assertEqual(message.provider_message_id, sent["mid"])
        keyboard = sent["attachments"][-1]
        self.assertEqual(keyboard["type"], "inline_keyboard")
        row = keyboard["payload"]["buttons"][0]
        self.assertEqual(row[0]["type"], "link")
        self.assertIn(f"/my/orders/{order.id}", row[0]["url"])
        self.assertEqual((row[1]["type"], row[1]["payload"]), ("callback", "contact_us"))
        self.assertIn("Sent", message.chatter_log_id.body)

    def test_html_markup_and_request_contact(self):
        contact = self.make_contact(self.channel, 911)
        contact._send(
            "<p>Your <b>order</b> <script>x</script></p>",
            text_format="html",
            buttons=[[{"text": "Share my number", "request_contact": True}]],
        )
        self.dispatch_channel(self.channel)
        sent = self.fake.sent[0]
        self.assertEqual(sent["format"], "html")
        self.assertIn("<b>order</b>", sent["text"])
        self.assertNotIn("<script>", sent["text"])
        button = sent["attachments"][0]["payload"]["buttons"][0][0]
        self.assertEqual(button, {"type": "request_contact", "text": "Share my number"})

    def send_direct(self, *messages):
        provider = MaxProvider(ChannelConfig(token=self.fake.token, api_base_url=self.fake.url, request_timeout=5.0))

        async def run():
            await provider.open()
            try:
                return [await provider.send(m) for m in messages]
            finally:
                await provider.close()

        return asyncio.run(run())

    def test_a_picture_and_a_pdf_go_by_upload(self):
        picture = OutgoingMessage(1, "920", "The desk", attachment=OutgoingFile("photo", "desk.png", "image/png", PNG))
        invoice = OutgoingMessage(
            2,
            "920",
            "Your invoice",
            buttons=[[{"text": "Pay", "url": "https://shop.example.com/pay"}]],
            attachment=OutgoingFile("document", "invoice.pdf", "application/pdf", PDF),
        )
        results = self.send_direct(picture, invoice)
        self.assertEqual([r.outcome for r in results], ["sent", "sent"], [r.reason for r in results])
        uploads = self.fake.state()["uploads"]
        self.assertEqual(
            [(u["type"], u["filename"], u["mimetype"], u["size"]) for u in uploads],
            [("image", "desk.png", "image/png", len(PNG)), ("file", "invoice.pdf", "application/pdf", len(PDF))],
        )
        self.assertEqual(uploads[1]["head"], PDF[:8].hex())
        sent = self.fake.sent
        image = sent[0]["attachments"][0]
        self.assertEqual(image["type"], "image")
        self.assertEqual([p["token"] for p in image["payload"]["photos"].values()], [uploads[0]["token"]])
        self.assertEqual(sent[0]["text"], "The desk")
        # a file goes alone: then the text with its buttons
        self.assertEqual(
            [(a["type"], a["payload"]["token"]) for a in sent[1]["attachments"]], [("file", uploads[1]["token"])]
        )
        self.assertEqual((sent[2]["text"], sent[2]["attachments"][0]["type"]), ("Your invoice", "inline_keyboard"))

    def test_inbound_files_are_parsed_and_fetched(self):
        self.fake.put_file("/files/photo-1.jpg", "image/jpeg", "jpeg bytes")
        update = self.message_created(
            "Look",
            attachments=[
                {
                    "type": "image",
                    "payload": {"photo_id": 1, "token": "t", "url": f"{self.fake.url}/files/photo-1.jpg"},
                },
                {
                    "type": "file",
                    "payload": {"token": "f", "url": f"{self.fake.url}/files/gone.pdf"},
                    "filename": "a.pdf",
                    "size": 10,
                },
                {"type": "location", "latitude": 55.75, "longitude": 37.62},
            ],
        )
        provider = self.channel._provider()
        (event,) = provider.parse_webhook(json.dumps({"timestamp": 1, **update}).encode())
        self.assertEqual((event.kind, event.text), ("message", "Look"))
        self.assertEqual([m.kind for m in event.media], ["photo", "document", "location"])
        self.assertEqual((event.media[1].filename, event.media[1].size), ("a.pdf", 10))
        self.assertEqual((event.media[2].latitude, event.media[2].longitude), (55.75, 37.62))
        fetched = asyncio.run(provider.fetch_media(event.media[0]))
        self.assertEqual((fetched.data, fetched.mimetype), (b"jpeg bytes", "image/jpeg"))
        with self.assertRaises(MediaError) as gone:
            asyncio.run(provider.fetch_media(event.media[1]))
        self.assertFalse(gone.exception.retryable)
        with self.assertRaises(MediaError):
            asyncio.run(provider.fetch_media(InboundMedia("photo")))

    def test_a_photo_and_a_voice_note_become_attachments_in_the_conversation(self):
        self.fake.put_file("/files/photo-2.jpg", "image/jpeg", "jpeg bytes")
        self.fake.put_file("/files/voice-2.ogg", "audio/ogg", "ogg bytes")
        update = self.message_created(
            "",
            user_id=933,
            attachments=[
                {
                    "type": "image",
                    "payload": {"photo_id": 2, "token": "t", "url": f"{self.fake.url}/files/photo-2.jpg"},
                },
                {"type": "audio", "payload": {"token": "a", "url": f"{self.fake.url}/files/voice-2.ogg"}},
            ],
        )
        self.assertEqual(self.post_update(update).status_code, 200)
        contact = self.env["messenger.contact"].search([("channel_id", "=", self.channel.id), ("chat_id", "=", "933")])
        message = contact.message_ids_messenger.filtered(lambda m: m.direction == "in")
        self.assertEqual(message.media_ids.mapped("state"), ["pending", "pending"], "nothing fetched in the webhook")
        self.env["messenger.media"]._cron_fetch(auto_commit=False)
        attachments = message.discuss_message_id.attachment_ids.sorted("id")
        self.assertEqual(attachments.mapped("raw"), [b"jpeg bytes", b"ogg bytes"])
        self.assertEqual(attachments.mapped("mimetype"), ["image/jpeg", "audio/ogg"])
        self.assertEqual(attachments.mapped("file_size"), [10, 9])

    def test_rate_limit_is_respected(self):
        contacts = self.env["messenger.contact"].create(
            [{"name": f"P{i}", "channel_id": self.channel.id, "chat_id": str(20000 + i)} for i in range(90)]
        )
        messages = contacts._send("Your order shipped", kind="transactional")
        self.dispatch_channel(self.channel, budget=40)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake.sent), 90)
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        times = sorted(at for _chat, at in self.fake.requests)
        rate = (len(times) - 1) / (times[-1] - times[0])
        self.assertGreater(rate, 20)
        self.assertLessEqual(rate, 30.5)

    def test_error_classes(self):
        def scripted(chat_id, *answers, kind="service"):
            contact = self.make_contact(self.channel, chat_id)
            self.fake.script(*answers)
            return contact._send("Hello", kind=kind)

        # too many requests, an internal error, a bad gateway, a file not processed yet: retried, then sent
        retried = {930: ("error", 429, "too.many.requests"), 931: ("error", 503, "unavailable"), 932: ("http", 502)}
        for chat_id, answer in retried.items():
            self.fake.reset()
            message = scripted(chat_id, answer)
            self.dispatch_channel(self.channel)
            self.assertEqual((message.state, message.attempts), ("sent", 2), answer)
            self.assertEqual(len(self.fake.sent), 1, answer)
        rate_limited = MaxProvider.classify_error(1, MaxError(429, retry_after=7))
        self.assertEqual((rate_limited.outcome, rate_limited.retry_after), ("transient", 7.0))
        # a wrong token and a bad request fail at once, with the reason
        auth = scripted(933, ("error", 401, "verify.token"))
        bad = scripted(934, ("error", 400, "proto.payload"))
        self.dispatch_channel(self.channel)
        self.assertEqual((auth.state, auth.failure_type, auth.attempts), ("failed", "rejected", 1))
        self.assertIn("token is wrong", auth.failure_reason)
        self.assertEqual((bad.state, bad.failure_type), ("failed", "rejected"))
        # no answer in time: a marketing message may have arrived, a person decides
        self.channel.request_timeout = 0.5
        late = scripted(935, ("slow", 1.0), kind="marketing")
        self.dispatch_channel(self.channel)
        self.assertEqual((late.state, late.failure_type), ("uncertain", "interrupted"))
        self.channel.request_timeout = 2.0

    # -- configuration ---------------------------------------------------------------------
    def test_configuration_calls(self):
        self.channel.bot_username = False
        self.channel.action_test_connection()
        self.assertEqual(self.channel.bot_username, "fake_shop_bot")
        # MAX takes only HTTPS: said before anything is asked of it
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "http://shop.example.com")
        with self.assertRaisesRegex(UserError, "HTTPS"):
            self.channel.action_register_webhook()
        self.assertFalse(self.fake.state()["subscriptions"])
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", "https://shop.example.com")
        self.channel.invalidate_recordset(["webhook_url"])
        self.channel.action_register_webhook()
        (subscription,) = self.fake.state()["subscriptions"]
        self.assertEqual(subscription["url"], self.channel.webhook_url)
        self.assertEqual(subscription["secret"], self.channel.webhook_secret)
        self.assertEqual(
            set(subscription["update_types"]),
            {"message_created", "message_callback", "bot_started", "bot_stopped", "bot_removed"},
        )
        self.channel.action_unregister_webhook()
        self.assertFalse(self.fake.state()["subscriptions"])
        self.channel.token = "wrong"
        with self.assertRaisesRegex(UserError, "token is wrong"):
            self.channel.action_test_connection()
        self.channel.token = self.fake.token


@tagged("post_install", "-at_install")
class TestMaxAnswerAfterCommit(BaseCase):
    """Over real transactions: a button press is stored and committed before MAX is
    called to answer it, so that a slow answer holds no row the webhook wrote."""

    def setUp(self):
        super().setUp()
        self.fake = FakeMax().start()
        self.addCleanup(self.fake.stop)
        self.registry = odoo.modules.registry.Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            vals = {"name": "MAX commit", "provider": "max", "token": self.fake.token, "api_base_url": self.fake.url}
            channel = env["messenger.channel"].create(vals)
            self.channel_id, self.key, self.secret = channel.id, channel.webhook_key, channel.webhook_secret
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["messenger.channel"].browse(self.channel_id).unlink()

    def test_the_press_is_committed_before_the_answer(self):
        self.fake.set(answer_delay=2.0)
        press = {
            "update_type": "message_callback",
            "timestamp": next(_stamps),
            "callback": {"timestamp": 1, "callback_id": "cb-commit", "payload": "size_m", "user": user(905)},
            "message": None,
        }
        url = f"http://127.0.0.1:{odoo.tools.config['http_port']}/messenger/webhook/{self.key}"
        responses = []
        poster = threading.Thread(
            target=lambda: responses.append(
                requests.post(url, json=press, headers={SECRET_HEADER: self.secret}, timeout=30)
            )
        )
        poster.start()
        self.addCleanup(poster.join, 30)
        deadline = time.monotonic() + 20
        while not any(call[1] == "/answers" for call in self.fake.state()["calls"]):
            self.assertLess(time.monotonic(), deadline, "MAX was never asked to answer the press")
            time.sleep(0.05)
        # MAX is answering (slowly): the press is in the database for everyone already
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM messenger_webhook_event WHERE channel_id = %s AND event_id LIKE %s",
                [self.channel_id, "%cb-commit%"],
            )
            self.assertEqual(cr.fetchone()[0], 1, "the press waits for MAX's answer uncommitted")
        poster.join(30)
        self.assertEqual(responses[0].status_code, 200, responses[0].text)
        self.assertEqual([a["callback_id"] for a in self.fake.state()["answers"]], ["cb-commit"])
