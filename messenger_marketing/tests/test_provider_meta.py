import time

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import ProvidersSetupMixin, WebhookMixin, binding_payload

LOGGER = "odoo.addons.messenger_marketing.controllers.webhook"


class MetaMessagingMixin(ProvidersSetupMixin, WebhookMixin):
    """What Messenger and Instagram share: the Send API, the window, the messaging webhook."""

    platform = ""
    webhook_object = ""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel, cls.fake = cls.setup_graph(cls.env, cls.platform)
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova"})
        cls.stamp = 1700000000000

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def messaging(self, *items):
        entry = {"id": self.fake.account_id, "time": self.stamp, "messaging": list(items)}
        return {"object": self.webhook_object, "entry": [entry]}

    def item(self, sender="2900000001", **content):
        type(self).stamp += 1
        return {
            "sender": {"id": sender},
            "recipient": {"id": self.fake.account_id},
            "timestamp": self.stamp,
            **content,
        }

    def text_item(self, text, sender="2900000001", **message):
        type(self).stamp += 1
        return self.item(sender, message={"mid": f"m_in{self.stamp}", "text": text, **message})

    def send_scripted(self, chat_id, *answers, kind="service", inbound_hours_ago=1.0):
        contact = self.make_contact(self.channel, chat_id, inbound_hours_ago=inbound_hours_ago)
        if answers:
            self.fake.script(*answers)
        return contact, contact._send("Hello", kind=kind)

    # -- shared tests ----------------------------------------------------------------------
    def test_error_classes(self):
        contact, unavailable = self.send_scripted("3000000001", ("error", 551, 1545041))
        self.dispatch_channel(self.channel)
        self.assertEqual((unavailable.state, unavailable.failure_type, contact.state), ("failed", "blocked", "blocked"))
        contact2, gone = self.send_scripted("3000000002", ("error", 200, 2018108))
        self.dispatch_channel(self.channel)
        self.assertEqual((gone.failure_type, contact2.state), ("blocked", "blocked"))
        _contact, closed = self.send_scripted("3000000003", ("error", 10, 2018278))
        self.dispatch_channel(self.channel)
        self.assertEqual((closed.state, closed.failure_type), ("failed", "window"))
        self.fake.reset()
        _contact, busy = self.send_scripted("3000000004", ("http", 503))
        self.dispatch_channel(self.channel)
        self.assertEqual((busy.state, busy.attempts, len(self.fake.sent)), ("sent", 2, 1))
        before = fields.Datetime.now()
        _contact, throttled = self.send_scripted("3000000005", ("error", 613))
        self.dispatch_channel(self.channel, budget=2)
        self.assertEqual((throttled.state, throttled.attempts), ("queued", 1))
        self.assertGreaterEqual((throttled.next_attempt_at - before).total_seconds(), 29)
        _contact, app_limit = self.send_scripted("3000000006", ("error", 4))
        self.dispatch_channel(self.channel, budget=2)
        self.assertEqual(app_limit.state, "queued")
        _contact, token = self.send_scripted("3000000007", ("error", 190, None, 401))
        self.dispatch_channel(self.channel)
        self.assertEqual((token.state, token.failure_type), ("failed", "rejected"))
        self.assertIn("access token", token.failure_reason)

    def test_rate_limit_respected(self):
        limit = int(self.channel.rate_limit)
        self.fake.set(rate_limit=limit)
        contacts = self.env["messenger.contact"].create(
            [
                {
                    "name": f"P{i}",
                    "channel_id": self.channel.id,
                    "chat_id": str(3100000000 + i),
                    "last_inbound_at": fields.Datetime.now(),
                }
                for i in range(limit * 2)
            ]
        )
        messages = contacts._send("Hello", kind="service")
        self.dispatch_channel(self.channel, budget=30)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        times = sorted(at for _chat, at in self.fake.requests)
        self.assertGreater((len(times) - 1) / (times[-1] - times[0]), limit * 0.7)

    def test_get_challenge_and_signatures(self):
        token = self.channel.webhook_secret
        ok = self.meta_get(self.channel, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "42"})
        self.assertEqual((ok.status_code, ok.text), (200, "42"))
        body = self.messaging(self.text_item("Hi"))
        with self.assertLogs(LOGGER, "WARNING") as logs:
            wrong = self.meta_get(
                self.channel, {"hub.mode": "subscribe", "hub.verify_token": "no", "hub.challenge": "1"}
            )
            forged = self.meta_post(self.channel, body, signature="sha256=deadbeef")
            missing = self.meta_post(self.channel, body, signature="")
            broken = self.meta_post(self.channel, None, raw=b'{"object": "page", "entry": [{')
            other_object = self.meta_post(self.channel, {"object": "user", "entry": []})
            bad_item = self.meta_post(self.channel, self.messaging({"message": {"mid": "m_1", "text": "no sender"}}))
        statuses = [r.status_code for r in (wrong, forged, missing, broken, other_object, bad_item)]
        self.assertEqual(statuses, [403, 403, 403, 400, 400, 400])
        self.assertFalse(self.events_of(self.channel))
        self.assertNotIn(token, "".join(logs.output))
        self.assertNotIn(self.channel.app_secret, "".join(logs.output))
        self.assertEqual(self.meta_post(self.channel, body).status_code, 200)
        self.assertEqual(self.meta_post(self.channel, body).status_code, 200, "a replay is acknowledged…")
        contact = self.contact_of(self.channel, "2900000001")
        self.assertEqual(contact.message_ids_messenger.body, "Hi", "…and handled once")
        self.assertTrue(contact.last_inbound_at)

    def test_quick_reply_and_echo(self):
        self.meta_post(self.channel, self.messaging(self.text_item("Stop news", quick_reply={"payload": "unsub"})))
        contact = self.contact_of(self.channel, "2900000001")
        self.assertEqual((contact.state, contact.consent_log_ids[:1].method), ("unsubscribed", "button"))
        echo = self.text_item("What we sent", sender=self.fake.account_id, is_echo=True)
        self.meta_post(self.channel, self.messaging(echo))
        self.assertFalse(self.contact_of(self.channel, self.fake.account_id), "our own messages are not a person")

    def test_referral_link_binds_partner(self):
        payload = binding_payload(self.channel, self.partner)
        self.assertTrue(self.channel._deep_link(payload).endswith(f"?ref={payload}"))
        referral = self.item("2900000005", referral={"ref": payload, "source": "SHORTLINK", "type": "OPEN_THREAD"})
        self.meta_post(self.channel, self.messaging(referral))
        contact = self.contact_of(self.channel, "2900000005")
        self.assertEqual(contact.partner_id, self.partner)
        self.assertIn("deep_link", contact.consent_log_ids.mapped("method"))
        self.dispatch_channel(self.channel)
        self.assertEqual(self.fake.texts("2900000005"), [self.channel.welcome_message])


@tagged("post_install", "-at_install")
class TestMessenger(MetaMessagingMixin, HttpCase):
    platform = "messenger"
    webhook_object = "page"

    def test_quick_replies_and_button_template(self):
        self.assertEqual((self.channel.rate_limit, self.channel.per_chat_interval), (40.0, 1.0))
        choice = self.make_contact(self.channel, "3200000001")._send(
            "Deliver today?", buttons=[[{"text": "Yes", "payload": "yes"}, {"text": "Later", "payload": "later"}]]
        )
        promo = self.make_contact(self.channel, "3200000002")._send(
            "Spring sale", kind="marketing", buttons=[[{"text": "See chairs", "url": "https://shop.example.com"}]]
        )
        phone = self.make_contact(self.channel, "3200000003")._send(
            "Share your number?", buttons=[[{"text": "Share", "request_contact": True}]]
        )
        self.dispatch_channel(self.channel)
        self.assertEqual({choice.state, promo.state, phone.state}, {"sent"})
        first = self.fake.bodies("3200000001")[0]
        self.assertEqual(first["messaging_type"], "RESPONSE")
        self.assertEqual([q["payload"] for q in first["message"]["quick_replies"]], ["yes", "later"])
        template = self.fake.bodies("3200000002")[0]["message"]["attachment"]["payload"]
        self.assertEqual(template["template_type"], "button")
        self.assertEqual(
            [(b["type"], b.get("url") or b.get("payload")) for b in template["buttons"]],
            [("web_url", "https://shop.example.com"), ("postback", "unsub")],
        )
        self.assertEqual(
            self.fake.bodies("3200000003")[0]["message"]["quick_replies"][0]["content_type"], "user_phone_number"
        )
        self.assertTrue(choice.provider_message_id.startswith("m_"))

    def test_window_message_tags_and_refusal_before_any_call(self):
        late = self.make_contact(self.channel, "3300000001", inbound_hours_ago=30)
        update = late._send("Your order shipped", kind="transactional")
        promo = late._send("Spring sale", kind="marketing")
        reply = late._send("Thanks for your question", kind="service")
        self.fake.close_window(late.chat_id)
        self.dispatch_channel(self.channel, budget=10)
        self.assertEqual(update.state, "sent")
        sent = self.fake.bodies(late.chat_id)
        self.assertEqual(len(sent), 1, "only the tagged order update was sent")
        self.assertEqual((sent[0]["messaging_type"], sent[0]["tag"]), ("MESSAGE_TAG", "POST_PURCHASE_UPDATE"))
        for refused in (promo, reply):
            self.assertEqual((refused.state, refused.failure_type), ("failed", "window"))
            self.assertIn("24-hour window", refused.failure_reason)

    def test_postbacks_receipts_and_phone(self):
        payload = binding_payload(self.channel, self.partner)
        self.assertEqual(self.channel._deep_link(payload), f"https://m.me/fakeshop?ref={payload}")
        get_started = {"mid": "m_pb1", "title": "Get Started", "payload": "GET_STARTED"}
        get_started["referral"] = {"ref": payload, "source": "SHORTLINK", "type": "OPEN_THREAD"}
        self.meta_post(self.channel, self.messaging(self.item("2900000002", postback=get_started)))
        contact = self.contact_of(self.channel, "2900000002")
        self.assertEqual(contact.partner_id, self.partner)
        self.meta_post(
            self.channel, self.messaging(self.item("2900000002", postback={"mid": "m_pb2", "payload": "unsub"}))
        )
        self.assertEqual(contact.state, "unsubscribed")
        shared = self.text_item("+7 912 345 67 89", sender="2900000002", quick_reply={"payload": "+7 912 345 67 89"})
        self.meta_post(self.channel, self.messaging(shared))
        self.assertEqual(contact.phone, "+79123456789")
        # delivery and read receipts carry a watermark: every message sent before it
        first = contact._send("first")
        self.dispatch_channel(self.channel)
        watermark = int(time.time() * 1000) + 1000
        delivery = {"mids": [first.provider_message_id], "watermark": watermark}
        self.meta_post(self.channel, self.messaging(self.item("2900000002", delivery=delivery)))
        self.assertEqual(first.state, "delivered")
        self.meta_post(self.channel, self.messaging(self.item("2900000002", read={"watermark": watermark})))
        self.assertEqual(first.state, "read")
        self.meta_post(self.channel, self.messaging(self.item("2900000002", delivery={"watermark": watermark + 1})))
        self.assertEqual(first.state, "read", "never back from read to delivered")

    def test_configuration_calls(self):
        self.channel.bot_username = False
        self.channel.action_test_connection()
        self.assertEqual(self.channel.bot_username, "fakeshop")
        self.channel.action_register_webhook()
        subscribe = next(c for c in self.fake.calls if c[1].endswith("subscribed_apps"))
        self.assertEqual(subscribe[0], "POST")
        self.assertIn("messaging_referrals", subscribe[2]["subscribed_fields"])
        self.channel.token = "expired"
        with self.assertRaisesRegex(UserError, "access token expired or was revoked"):
            self.channel.action_test_connection()


@tagged("post_install", "-at_install")
class TestInstagram(MetaMessagingMixin, HttpCase):
    platform = "instagram"
    webhook_object = "instagram"

    def test_quick_replies_links_and_length(self):
        self.assertEqual((self.channel.rate_limit, self.channel.per_chat_interval), (20.0, 1.0))
        contact = self.make_contact(self.channel, "3400000001")
        promo = contact._send(
            "Spring sale", kind="marketing", buttons=[[{"text": "See chairs", "url": "https://shop.example.com"}]]
        )
        self.dispatch_channel(self.channel)
        self.assertEqual(promo.state, "sent")
        message = self.fake.bodies(contact.chat_id)[0]["message"]
        self.assertEqual(message["text"], "Spring sale\n\nSee chairs: https://shop.example.com")
        self.assertEqual(
            message["quick_replies"], [{"content_type": "text", "title": "Unsubscribe", "payload": "unsub"}]
        )
        # Instagram takes 1000 characters: a longer text goes in parts
        parts = contact._send("word " * 450)
        self.assertEqual(len(parts), 3)
        self.assertTrue(all(len(p.body) <= 1000 for p in parts))

    def test_window_refuses_everything_before_any_call(self):
        late = self.make_contact(self.channel, "3500000001", inbound_hours_ago=25)
        never = self.make_contact(self.channel, "3500000002", inbound_hours_ago=None)
        messages = late._send("Your order shipped", kind="transactional") | never._send("Hi", kind="service")
        self.dispatch_channel(self.channel)
        self.assertEqual(set(messages.mapped("failure_type")), {"window"})
        self.assertEqual(self.fake.requests, [])

    def test_seen_receipt_reads_earlier_messages(self):
        self.assertEqual(self.channel._deep_link("p1-abc"), "https://ig.me/m/fake.shop?ref=p1-abc")
        contact = self.make_contact(self.channel, "3600000001")
        first = contact._send("first")
        self.dispatch_channel(self.channel)
        second = contact._send("second")
        self.dispatch_channel(self.channel)
        self.meta_post(self.channel, self.messaging(self.item("3600000001", read={"mid": first.provider_message_id})))
        self.assertEqual((first.state, second.state), ("read", "sent"))
        self.meta_post(self.channel, self.messaging(self.item("3600000001", read={"mid": second.provider_message_id})))
        self.assertEqual((first.state, second.state), ("read", "read"))
