import json

from odoo.tests import HttpCase, tagged

from .common import TelegramSetupMixin, binding_payload


@tagged("post_install", "-at_install")
class TestTelegramWebhook(TelegramSetupMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova", "phone": "+7 912 345-67-89"})
        cls.update_id = 1000

    def post(self, update, secret=None, key=None, raw=None):
        headers = {"Content-Type": "application/json"}
        secret = self.channel.webhook_secret if secret is None else secret
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = raw if raw is not None else json.dumps(update).encode()
        return self.url_open(f"/messenger/webhook/{key or self.channel.webhook_key}", data=body, headers=headers)

    def message_update(self, text, chat_id=555, **extra):
        TestTelegramWebhook.update_id += 1
        user = {
            "id": chat_id,
            "is_bot": False,
            "first_name": "Olga",
            "last_name": "P",
            "username": "olga",
            "language_code": "ru",
        }
        message = {
            "message_id": self.update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": user,
            **extra,
        }
        if text is not None:
            message["text"] = text
        return {"update_id": self.update_id, "message": message}

    def contact(self, chat_id=555):
        return self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", str(chat_id))]
        )

    def events(self):
        return self.env["messenger.webhook.event"].search([("channel_id", "=", self.channel.id)])

    def test_valid_message_creates_contact_and_stores_it(self):
        response = self.post(self.message_update("Hello, do you deliver to Kazan?"))
        self.assertEqual(response.status_code, 200)
        contact = self.contact()
        self.assertEqual(
            (contact.name, contact.username, contact.lang, contact.state), ("Olga P", "olga", "ru", "subscribed")
        )
        incoming = contact.message_ids_messenger
        self.assertEqual(
            (incoming.direction, incoming.state, incoming.body), ("in", "received", "Hello, do you deliver to Kazan?")
        )
        self.assertIn("do you deliver to Kazan", contact.discuss_channel_id.message_ids[:1].body)
        self.assertEqual(contact.discuss_channel_id.message_ids[:1].author_guest_id, contact.guest_id)

    def test_forged_or_missing_secret_is_refused_and_stores_nothing(self):
        with self.assertLogs("odoo.addons.messenger_marketing.controllers.webhook", "WARNING") as logs:
            forged = self.post(self.message_update("hi"), secret="not-the-secret")
            missing = self.post(self.message_update("hi"), secret="")
        self.assertEqual((forged.status_code, missing.status_code), (403, 403))
        self.assertFalse(self.contact())
        self.assertFalse(self.events())
        self.assertNotIn(self.channel.webhook_secret, "".join(logs.output))
        self.assertNotIn(self.channel.token, "".join(logs.output))

    def test_unknown_channel_key(self):
        with self.assertLogs("odoo.addons.messenger_marketing.controllers.webhook", "WARNING"):
            response = self.post(self.message_update("hi"), key="no-such-key")
        self.assertEqual(response.status_code, 404)
        self.assertFalse(self.contact())

    def test_malformed_json_is_refused(self):
        with self.assertLogs("odoo.addons.messenger_marketing.controllers.webhook", "WARNING"):
            broken = self.post(None, raw=b'{"update_id": 1, "message": ')
            not_update = self.post(None, raw=b"[1, 2, 3]")
            bad_shape = self.post({"update_id": 77, "message": {"chat": "not an object"}})
        self.assertEqual((broken.status_code, not_update.status_code, bad_shape.status_code), (400, 400, 400))
        self.assertFalse(self.events())

    def test_replayed_update_is_acknowledged_once(self):
        update = self.message_update("Same update twice")
        first, second = self.post(update), self.post(update)
        self.assertEqual((first.status_code, second.status_code), (200, 200))
        self.assertEqual(len(self.contact().message_ids_messenger), 1)
        self.assertEqual(len(self.events()), 1)

    def test_unknown_update_type_is_acknowledged(self):
        TestTelegramWebhook.update_id += 1
        response = self.post({"update_id": self.update_id, "poll": {"id": "1", "question": "?"}})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(self.events().kind, "other")
        self.assertFalse(self.contact())

    def test_start_with_signed_payload_binds_partner_and_welcomes(self):
        payload = binding_payload(self.channel, self.partner)
        link = self.channel._deep_link(payload)
        self.assertEqual(link, f"https://t.me/fake_shop_bot?start={payload}")
        self.assertLessEqual(len(payload), 64)
        response = self.post(self.message_update(f"/start {payload}"))
        self.assertEqual(response.status_code, 200)
        contact = self.contact()
        self.assertEqual(contact.partner_id, self.partner)
        self.assertIn("deep_link", contact.consent_log_ids.mapped("method"))
        welcome = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(welcome.state, "queued")
        # nothing went to Telegram inside the webhook; the dispatcher sends it
        self.assertEqual(self.fake.texts(), [])
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids)
        self.assertEqual(self.fake.texts("555"), [welcome.body])
        self.assertIn("STOP", welcome.body)

    def test_start_with_tampered_payload_binds_nobody(self):
        other = self.env["res.partner"].create({"name": "Someone else"})
        other_link = self.env["messenger.binding.link"].create({"channel_id": self.channel.id, "partner_id": other.id})
        payload = binding_payload(self.channel, self.partner)
        # the other customer's link id under this link's signature
        tampered = f"b{other_link.id}-{payload.partition('-')[2]}"
        with self.assertLogs("odoo.addons.messenger_marketing.models.messenger_binding_link", "WARNING"):
            response = self.post(self.message_update(f"/start {tampered}"))
        self.assertEqual(response.status_code, 200)
        contact = self.contact()
        self.assertTrue(contact)
        self.assertFalse(contact.partner_id)

    def test_stop_words_unsubscribe_and_confirm(self):
        for index, word in enumerate(["STOP", " Стоп! ", "отписаться"]):
            chat = 700 + index
            self.post(self.message_update("/start", chat_id=chat))
            self.post(self.message_update(word, chat_id=chat))
            contact = self.contact(chat)
            self.assertEqual(contact.state, "unsubscribed", word)
            self.assertEqual(contact.consent_log_ids[:1].method, "stop_word")
            last = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")[:1]
            self.assertEqual(last.body, self.channel.unsubscribe_message)
        # a sentence that merely contains the word does not unsubscribe
        self.post(self.message_update("please don't stop sending", chat_id=800))
        self.assertEqual(self.contact(800).state, "subscribed")
        # /start subscribes again
        self.post(self.message_update("/start", chat_id=700))
        self.assertEqual(self.contact(700).state, "subscribed")

    def test_unsubscribe_button_answers_the_callback(self):
        self.post(self.message_update("/start"))
        TestTelegramWebhook.update_id += 1
        response = self.post(
            {
                "update_id": self.update_id,
                "callback_query": {
                    "id": "cb-1",
                    "data": "unsub",
                    "chat_instance": "x",
                    "from": {"id": 555, "is_bot": False, "first_name": "Olga"},
                    "message": {"message_id": 1, "date": 1700000000, "chat": {"id": 555, "type": "private"}},
                },
            }
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.json(), {"method": "answerCallbackQuery", "callback_query_id": "cb-1"})
        contact = self.contact()
        self.assertEqual(contact.state, "unsubscribed")
        self.assertEqual(contact.consent_log_ids[:1].method, "button")

    def test_shared_phone_links_partner(self):
        self.post(
            self.message_update(None, contact={"phone_number": "79123456789", "first_name": "Olga", "user_id": 555})
        )
        self.assertEqual(self.contact().partner_id, self.partner)
        self.assertEqual(self.contact().phone, "+79123456789")

    def test_someone_elses_phone_is_not_bound(self):
        self.post(
            self.message_update(None, contact={"phone_number": "79123456789", "first_name": "Olga", "user_id": 999})
        )
        self.assertFalse(self.contact().partner_id)

    def test_unknown_phone_creates_partner(self):
        self.post(self.message_update(None, chat_id=556, contact={"phone_number": "+44 20 7183 8750", "user_id": 556}))
        partner = self.contact(556).partner_id
        self.assertEqual(partner.name, "Olga P")
        self.assertEqual(partner.phone, "+442071838750")

    def test_bot_blocked_event(self):
        self.post(self.message_update("/start"))
        TestTelegramWebhook.update_id += 1
        self.post(
            {
                "update_id": self.update_id,
                "my_chat_member": {
                    "chat": {"id": 555, "type": "private"},
                    "from": {"id": 555, "is_bot": False, "first_name": "Olga"},
                    "date": 1700000000,
                    "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True, "first_name": "b"}},
                    "new_chat_member": {"status": "kicked", "user": {"id": 1, "is_bot": True, "first_name": "b"}},
                },
            }
        )
        self.assertEqual(self.contact().state, "blocked")
