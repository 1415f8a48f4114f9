import json

from odoo.tests import TransactionCase, tagged

from .common import ProvidersSetupMixin, TelegramSetupMixin


@tagged("post_install", "-at_install")
class TestAllProviders(ProvidersSetupMixin, TelegramSetupMixin, TransactionCase):
    """The same order message and the same campaign over the seven providers: the features
    write one message, each provider renders it in its own way."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.channels = {
            "sandbox": env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"}),
            "telegram": cls.setup_telegram(env),
        }
        cls.fakes = {"telegram": cls.fake}
        cls.channels["vk"], cls.fakes["vk"] = cls.setup_vk(env)
        cls.channels["max"], cls.fakes["max"] = cls.setup_max(env)
        for platform in ("whatsapp", "messenger", "instagram"):
            cls.channels[platform], cls.fakes[platform] = cls.setup_graph(env, platform)
        chats = {
            "sandbox": "s-1",
            "telegram": "9001",
            "vk": "9002",
            "max": "9003",
            "whatsapp": "79123456780",
            "messenger": "2900000009",
            "instagram": "17800000009",
        }
        cls.partners = {}
        cls.contacts = {}
        for code, channel in cls.channels.items():
            partner = env["res.partner"].create({"name": f"Customer on {code}", "email": f"{code}@example.com"})
            cls.partners[code] = partner
            cls.contacts[code] = cls.make_contact(cls, channel, chats[code], partner_id=partner.id)
        cls.product = env["product.product"].create({"name": "Oak desk", "list_price": 250.0, "type": "consu"})

    def setUp(self):
        super().setUp()
        for fake in self.fakes.values():
            fake.reset()

    def dispatch_all(self):
        ids = [channel.id for channel in self.channels.values()]
        return self.env["messenger.dispatcher"]._dispatch(time_budget=20, channel_ids=ids)

    def sent_to(self, code):
        """What the provider's fake received for the contact on that channel."""
        fake, chat = self.fakes[code], self.contacts[code].chat_id
        if code == "telegram":
            return [s for s in fake.sent if s["chat_id"] == chat]
        if code == "vk":
            return [s for s in fake.sent if s["peer_id"] == chat]
        if code == "max":
            return [s for s in fake.sent if s["user_id"] == chat]
        return fake.bodies(chat)

    def test_order_confirmation_on_every_provider(self):
        orders = {
            code: self.env["sale.order"].create(
                {
                    "partner_id": partner.id,
                    "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 2})],
                }
            )
            for code, partner in self.partners.items()
        }
        for order in orders.values():
            order.action_confirm()
        messages = self.env["messenger.message"].search(
            [("res_model", "=", "sale.order"), ("res_id", "in", [o.id for o in orders.values()])]
        )
        self.assertEqual(len(messages), 7)
        self.assertEqual(set(messages.mapped("kind")), {"transactional"})
        self.dispatch_all()
        self.assertEqual(set(messages.mapped("state")), {"sent"}, messages.mapped("failure_reason"))
        portal = {code: f"/my/orders/{order.id}" for code, order in orders.items()}
        # Telegram: inline keyboard with the portal link and the "contact us" callback
        telegram = self.sent_to("telegram")[0]
        self.assertIn(orders["telegram"].name, telegram["text"])
        row = telegram["reply_markup"]["inline_keyboard"][0]
        self.assertIn(portal["telegram"], row[0]["url"])
        self.assertEqual(row[1]["callback_data"], "contact_us")
        # VK: an inline keyboard with an open-link button and a payload button
        vk = self.sent_to("vk")[0]
        self.assertIn(orders["vk"].name, vk["text"])
        actions = [b["action"] for b in vk["keyboard"]["buttons"][0]]
        self.assertIn(portal["vk"], actions[0]["link"])
        self.assertEqual(json.loads(actions[1]["payload"]), {"b": "contact_us"})
        # MAX: an inline keyboard attachment with a link button and a callback button
        max_sent = self.sent_to("max")[0]
        self.assertIn(orders["max"].name, max_sent["text"])
        row = max_sent["attachments"][0]["payload"]["buttons"][0]
        self.assertIn(portal["max"], row[0]["url"])
        self.assertEqual((row[1]["type"], row[1]["payload"]), ("callback", "contact_us"))
        # WhatsApp: a reply button; the link, which cannot sit beside it, under the text
        whatsapp = self.sent_to("whatsapp")[0]["interactive"]
        self.assertIn(orders["whatsapp"].name, whatsapp["body"]["text"])
        self.assertIn(portal["whatsapp"], whatsapp["body"]["text"])
        self.assertEqual(whatsapp["action"]["buttons"][0]["reply"]["id"], "contact_us")
        # Messenger: a button template with both
        template = self.sent_to("messenger")[0]["message"]["attachment"]["payload"]
        self.assertIn(orders["messenger"].name, template["text"])
        self.assertIn(portal["messenger"], template["buttons"][0]["url"])
        self.assertEqual(template["buttons"][1]["payload"], "contact_us")
        # Instagram: the link in the text, a quick reply for the rest
        instagram = self.sent_to("instagram")[0]["message"]
        self.assertIn(orders["instagram"].name, instagram["text"])
        self.assertIn(portal["instagram"], instagram["text"])
        self.assertEqual(instagram["quick_replies"][0]["payload"], "contact_us")
        # the sandbox keeps it in Odoo
        sandbox = messages.filtered(lambda m: m.channel_id == self.channels["sandbox"])
        self.assertTrue(sandbox.provider_message_id.startswith("sandbox-"))
        # every order's chatter shows its message as sent
        for message in messages:
            self.assertIn("Sent", message.chatter_log_id.body)

    def test_campaign_on_every_provider(self):
        partners = self.env["res.partner"].browse([p.id for p in self.partners.values()])
        mailing = self.env["mailing.mailing"].create(
            {
                "name": "Spring sale",
                "subject": "Spring sale",
                "mailing_type": "messenger",
                "mailing_model_id": self.env.ref("base.model_res_partner").id,
                "mailing_domain": repr([("id", "in", partners.ids)]),
                "messenger_channel_ids": [(6, 0, [c.id for c in self.channels.values()])],
                "messenger_body": "Spring sale: -20% on every chair this week!",
            }
        )
        self.assertEqual(mailing.messenger_reachable_count, 7)
        self.assertEqual(mailing._messenger_launch(), 7)
        self.dispatch_all()
        messages = self.env["messenger.message"].search([("mailing_id", "=", mailing.id)])
        self.assertEqual(set(messages.mapped("state")), {"sent"}, messages.mapped("failure_reason"))
        text = mailing.messenger_body
        # each provider got the text once, with its way to unsubscribe
        telegram = self.sent_to("telegram")
        self.assertEqual([s["text"] for s in telegram], [text])
        self.assertEqual(telegram[0]["reply_markup"]["inline_keyboard"][-1][0]["callback_data"], "unsub")
        vk = self.sent_to("vk")
        self.assertEqual([s["text"] for s in vk], [text])
        self.assertEqual(json.loads(vk[0]["keyboard"]["buttons"][-1][0]["action"]["payload"]), {"b": "unsub"})
        max_sent = self.sent_to("max")
        self.assertEqual([s["text"] for s in max_sent], [text])
        self.assertEqual(max_sent[0]["attachments"][-1]["payload"]["buttons"][-1][0]["payload"], "unsub")
        whatsapp = self.sent_to("whatsapp")
        self.assertEqual(len(whatsapp), 1)
        self.assertEqual(whatsapp[0]["interactive"]["body"]["text"], text)
        self.assertEqual(whatsapp[0]["interactive"]["action"]["buttons"][0]["reply"]["id"], "unsub")
        for code in ("messenger", "instagram"):
            sent = self.sent_to(code)
            self.assertEqual([s["message"]["text"] for s in sent], [text], code)
            self.assertEqual(sent[0]["message"]["quick_replies"][0]["payload"], "unsub", code)
        mailing.invalidate_recordset()
        self.assertEqual(mailing.delivered, 7)
