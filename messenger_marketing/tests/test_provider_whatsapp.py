from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import ProvidersSetupMixin, WebhookMixin, binding_payload

LOGGER = "odoo.addons.messenger_marketing.controllers.webhook"
TEMPLATES = [
    {
        "id": "1001",
        "name": "order_update",
        "language": "en_US",
        "status": "APPROVED",
        "category": "UTILITY",
        "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} is on its way."}],
    },
    {
        "id": "1002",
        "name": "spring_sale",
        "language": "en",
        "status": "APPROVED",
        "category": "MARKETING",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Spring"},
            {"type": "BODY", "text": "Hi {{first_name}}! Spring sale: -20% on every chair."},
        ],
    },
    {
        "id": "1003",
        "name": "draft_offer",
        "language": "en",
        "status": "PENDING",
        "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Not yet approved"}],
    },
]


@tagged("post_install", "-at_install")
class TestWhatsApp(ProvidersSetupMixin, WebhookMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel, cls.fake = cls.setup_graph(cls.env, "whatsapp")
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova", "phone": "+7 912 345-67-89"})
        cls.mid = 0

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def sync_templates(self):
        self.fake.set_templates(TEMPLATES)
        self.channel.action_sync_whatsapp_templates()
        return {t.name: t for t in self.channel.whatsapp_template_ids}

    # -- sending ---------------------------------------------------------------------------
    def test_defaults_text_buttons_lists_and_links(self):
        self.assertEqual((self.channel.rate_limit, self.channel.per_chat_interval), (80.0, 1.0))
        two = [[{"text": "Yes", "payload": "yes"}, {"text": "No", "payload": "no"}]]
        five = [[{"text": f"Size {n}", "payload": f"size_{n}"}] for n in range(5)]
        link = [[{"text": "Track", "url": "https://shop.example.com/track"}]]
        sends = {
            "plain": self.make_contact(self.channel, 79000000001)._send("Hello"),
            "buttons": self.make_contact(self.channel, 79000000002)._send("Deliver today?", buttons=two),
            "list": self.make_contact(self.channel, 79000000003)._send("Your size?", buttons=five),
            "link": self.make_contact(self.channel, 79000000004)._send("On its way", buttons=link),
            "promo": self.make_contact(self.channel, 79000000005)._send("Sale!", kind="marketing", buttons=link),
            "picture": self.make_contact(self.channel, 79000000006)._send(
                "New chair", image_url="https://shop.example.com/chair.png"
            ),
        }
        self.dispatch_channel(self.channel)
        self.assertEqual({m.state for m in sends.values()}, {"sent"})
        body = {s["chat"][-1]: s["body"] for s in self.fake.sent}
        self.assertEqual(body["1"]["text"], {"body": "Hello", "preview_url": True})
        buttons = body["2"]["interactive"]
        self.assertEqual(buttons["type"], "button")
        self.assertEqual([b["reply"]["id"] for b in buttons["action"]["buttons"]], ["yes", "no"])
        rows = body["3"]["interactive"]["action"]["sections"][0]["rows"]
        self.assertEqual((body["3"]["interactive"]["type"], len(rows)), ("list", 5))
        cta = body["4"]["interactive"]
        self.assertEqual(
            (cta["type"], cta["action"]["parameters"]["url"]), ("cta_url", "https://shop.example.com/track")
        )
        # a link and the unsubscribe button: the link goes in the text, the button stays a button
        promo = body["5"]["interactive"]
        self.assertIn("Track: https://shop.example.com/track", promo["body"]["text"])
        self.assertEqual(promo["action"]["buttons"][0]["reply"]["id"], "unsub")
        self.assertEqual(body["6"]["image"], {"link": "https://shop.example.com/chair.png", "caption": "New chair"})
        self.assertTrue(sends["plain"].provider_message_id.startswith("wamid."))
        self.assertEqual(body["1"]["messaging_product"], "whatsapp")

    def test_rate_limit_80_per_second(self):
        contacts = self.env["messenger.contact"].create(
            [
                {
                    "name": f"P{i}",
                    "channel_id": self.channel.id,
                    "chat_id": str(79100000000 + i),
                    "last_inbound_at": fields.Datetime.now(),
                }
                for i in range(160)
            ]
        )
        messages = contacts._send("Your order is ready", kind="transactional")
        self.dispatch_channel(self.channel, budget=40)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake.sent), 160)
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        times = sorted(at for _chat, at in self.fake.requests)
        self.assertGreater((len(times) - 1) / (times[-1] - times[0]), 50)

    def send_scripted(self, chat_id, *answers, kind="service"):
        contact = self.make_contact(self.channel, chat_id)
        if answers:
            self.fake.script(*answers)
        return contact, contact._send("Hello", kind=kind)

    def test_error_classes(self):
        _contact, window = self.send_scripted(79200000001, ("error", 131047))
        self.dispatch_channel(self.channel)
        self.assertEqual((window.state, window.failure_type), ("failed", "window"))
        self.assertIn("approved template", window.failure_reason)
        contact, stopped = self.send_scripted(79200000002, ("error", 131050), kind="marketing")
        self.dispatch_channel(self.channel)
        self.assertEqual((stopped.state, stopped.failure_type), ("failed", "opted_out"))
        self.assertEqual((contact.state, contact.consent_log_ids[:1].method), ("unsubscribed", "provider"))
        self.assertTrue(contact._can_receive("transactional"), "order updates still reach them")
        self.fake.reset()
        _contact, throughput = self.send_scripted(79200000010, ("error", 130429))  # retried, then sent
        self.dispatch_channel(self.channel)
        self.assertEqual((throughput.state, throughput.attempts, len(self.fake.sent)), ("sent", 2, 1))
        self.fake.reset()
        _contact, unavailable = self.send_scripted(79200000020, ("http", 503))
        self.dispatch_channel(self.channel)
        self.assertEqual((unavailable.state, unavailable.attempts), ("sent", 2))
        # pair rate and account rate limits: retried after the documented pause
        before = fields.Datetime.now()
        _contact, pair = self.send_scripted(79200000030, ("error", 131056))
        self.dispatch_channel(self.channel, budget=2)
        _contact, account = self.send_scripted(79200000031, ("error", 80007))
        self.dispatch_channel(self.channel, budget=2)
        self.assertEqual((pair.state, account.state), ("queued", "queued"))
        self.assertEqual((pair.attempts, account.attempts), (1, 1))
        self.assertGreaterEqual((pair.next_attempt_at - before).total_seconds(), 5)
        self.assertGreaterEqual((account.next_attempt_at - before).total_seconds(), 59)
        _contact, token = self.send_scripted(79200000040, ("error", 190, None, 401))
        self.dispatch_channel(self.channel)
        self.assertEqual((token.state, token.failure_type), ("failed", "rejected"))
        self.assertIn("access token", token.failure_reason)

    def test_24_hour_window_uses_the_template_or_refuses_before_any_call(self):
        templates = self.sync_templates()
        order_update = templates["order_update"]
        order_update.param_ids.sorted("sequence")[0].field_path = "partner_id.name"
        order_update.param_ids.sorted("sequence")[1].field_path = "name"
        product = self.env["product.product"].create({"name": "Oak desk", "list_price": 100.0})
        order = self.env["sale.order"].create(
            {"partner_id": self.partner.id, "order_line": [(0, 0, {"product_id": product.id})]}
        )
        late = self.make_contact(self.channel, 79300000001, inbound_hours_ago=30, partner_id=self.partner.id)
        recent = self.make_contact(self.channel, 79300000002, inbound_hours_ago=2)
        refused = late._send("Your order shipped", kind="transactional")
        with_template = late._send(
            "Your order shipped", kind="transactional", record=order, whatsapp_template_id=order_update.id
        )
        inside = recent._send("Your order shipped", kind="transactional", whatsapp_template_id=order_update.id)
        self.dispatch_channel(self.channel, budget=10)
        self.assertEqual((refused.state, refused.failure_type), ("failed", "window"))
        self.assertIn("Choose a WhatsApp template", refused.failure_reason)
        self.assertEqual((with_template.state, inside.state), ("sent", "sent"))
        sent = self.fake.bodies(late.chat_id)
        self.assertEqual(len(sent), 1, "the refused message made no call")
        template = sent[0]["template"]
        self.assertEqual((template["name"], template["language"]["code"]), ("order_update", "en_US"))
        values = [p["text"] for p in template["components"][0]["parameters"]]
        self.assertEqual(values, ["Olga Petrova", order.name])
        # inside the window the text goes, with its buttons
        self.assertEqual(self.fake.bodies(recent.chat_id)[0]["type"], "text")
        # a parameter without a value is refused before any call
        self.fake.reset()
        nameless = self.make_contact(self.channel, 79300000003, inbound_hours_ago=30)
        empty = nameless._send("Shipped", kind="transactional", whatsapp_template_id=order_update.id)
        self.dispatch_channel(self.channel)
        self.assertEqual((empty.state, empty.failure_type), ("failed", "rejected"))
        self.assertIn("{{1}} has no value", empty.failure_reason)
        self.assertEqual(self.fake.requests, [])

    def test_template_sync_pages_and_keeps_mappings(self):
        self.fake.set(page_size=2)
        templates = self.sync_templates()
        self.assertEqual(set(templates), {"order_update", "spring_sale", "draft_offer"})
        self.assertEqual(len([c for c in self.fake.calls if c[1].endswith("message_templates")]), 2, "two pages")
        sale = templates["spring_sale"]
        self.assertEqual((sale.category, sale.status, sale.language), ("marketing", "approved", "en"))
        self.assertEqual(sale.param_ids.mapped("name"), ["first_name"])
        self.assertEqual(templates["order_update"].param_ids.mapped("name"), ["1", "2"])
        sale.param_ids.field_path = "name"
        self.fake.set_templates(TEMPLATES[1:])
        self.channel.action_sync_whatsapp_templates()
        self.assertFalse(templates["order_update"].active, "gone from WhatsApp: archived")
        self.assertEqual(sale.param_ids.field_path, "name", "the mapping survives a new synchronisation")
        self.fake.set_templates([])
        self.channel.whatsapp_account_id = False
        with self.assertRaisesRegex(UserError, "WhatsApp Business Account ID"):
            self.channel.action_sync_whatsapp_templates()

    def test_follow_up_and_campaign_pick_a_template(self):
        templates = self.sync_templates()
        templates["order_update"].param_ids.sorted("sequence")[0].field_path = "partner_id.name"
        templates["order_update"].param_ids.sorted("sequence")[1].field_path = "name"
        templates["spring_sale"].param_ids.field_path = "name"
        late = self.make_contact(self.channel, 79400000001, inbound_hours_ago=48, partner_id=self.partner.id)
        rule = self.env.ref("messenger_marketing.rule_sale_confirmed")
        rule.step_ids = [
            (
                0,
                0,
                {
                    "delay_days": 0,
                    "template_id": self.env.ref("messenger_marketing.template_sale_followup_service").id,
                    "whatsapp_template_id": templates["order_update"].id,
                },
            )
        ]
        product = self.env["product.product"].create({"name": "Oak desk", "list_price": 100.0})
        order = self.env["sale.order"].create(
            {"partner_id": self.partner.id, "order_line": [(0, 0, {"product_id": product.id})]}
        )
        order.action_confirm()
        self.env["messenger.warming.enrolment"]._cron_send_due()  # the follow-up is due at once
        self.dispatch_channel(self.channel, budget=10)
        messages = self.env["messenger.message"].search([("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        confirmation = messages.filtered(lambda m: m.kind == "transactional")
        follow_up = messages.filtered(lambda m: m.kind == "marketing")
        self.assertEqual((confirmation.state, confirmation.failure_type), ("failed", "window"))
        self.assertEqual(follow_up.state, "sent")
        template = self.fake.bodies(late.chat_id)[0]["template"]
        self.assertEqual([p["text"] for p in template["components"][0]["parameters"]], ["Olga Petrova", order.name])
        # a campaign: the template outside the window, the text inside it
        self.fake.reset()
        fresh_partner = self.env["res.partner"].create({"name": "Anna"})
        fresh = self.make_contact(self.channel, 79400000002, inbound_hours_ago=1, partner_id=fresh_partner.id)
        mailing = self.env["mailing.mailing"].create(
            {
                "name": "Spring",
                "subject": "Spring",
                "mailing_type": "messenger",
                "mailing_model_id": self.env.ref("base.model_res_partner").id,
                "mailing_domain": repr([("id", "in", (self.partner | fresh_partner).ids)]),
                "messenger_channel_ids": [(6, 0, self.channel.ids)],
                "messenger_body": "Spring sale: -20% on every chair!",
                "messenger_whatsapp_template_id": templates["spring_sale"].id,
            }
        )
        self.assertTrue(mailing.messenger_has_whatsapp)
        self.assertEqual(mailing._messenger_launch(), 2)
        self.dispatch_channel(self.channel, budget=10)
        outside = self.fake.bodies(late.chat_id)[0]["template"]
        self.assertEqual(outside["name"], "spring_sale")
        self.assertEqual(
            outside["components"][0]["parameters"],
            [{"type": "text", "text": "Olga Petrova", "parameter_name": "first_name"}],
        )
        self.assertEqual(self.fake.texts(fresh.chat_id), ["Spring sale: -20% on every chair!"])

    def test_configuration_calls(self):
        self.channel.bot_username = False
        self.channel.action_test_connection()
        self.assertEqual(self.channel.bot_username, "15550100200")
        self.assertEqual(self.channel._deep_link("p1-abc"), "https://wa.me/15550100200?text=/start%20p1-abc")
        self.channel.action_register_webhook()
        self.assertIn(["POST", f"{self.fake.waba_id}/subscribed_apps", {}, None], self.fake.calls)
        self.channel.app_secret = "not-the-app-secret"
        with self.assertRaisesRegex(UserError, "app secret does not belong"):
            self.channel.action_test_connection()
        self.channel.write({"app_secret": self.fake.app_secret, "whatsapp_phone_number_id": "123"})
        with self.assertRaisesRegex(UserError, "does not exist or this token cannot see it"):
            self.channel.action_test_connection()

    # -- webhooks --------------------------------------------------------------------------
    def wa_body(self, messages=(), statuses=(), name="Olga", phone_number_id=None):
        value = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": "15550100200",
                "phone_number_id": phone_number_id or self.channel.whatsapp_phone_number_id,
            },
        }
        if messages:
            value["contacts"] = [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages]
            value["messages"] = list(messages)
        if statuses:
            value["statuses"] = list(statuses)
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.fake.waba_id, "changes": [{"field": "messages", "value": value}]}],
        }

    def wa_text(self, text, sender="79123456789"):
        TestWhatsApp.mid += 1
        return {
            "from": sender,
            "id": f"wamid.IN{TestWhatsApp.mid:06d}",
            "timestamp": "1700000000",
            "type": "text",
            "text": {"body": text},
        }

    @staticmethod
    def wa_status(mid, status, recipient, errors=None):
        event = {"id": mid, "status": status, "timestamp": "1700000001", "recipient_id": recipient}
        if errors:
            event["errors"] = errors
        return event

    def test_get_challenge(self):
        token = self.channel.webhook_secret
        ok = self.meta_get(
            self.channel, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
        )
        self.assertEqual((ok.status_code, ok.text), (200, "1158201444"))
        with self.assertLogs(LOGGER, "WARNING") as logs:
            wrong = self.meta_get(
                self.channel, {"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
            )
            no_mode = self.meta_get(self.channel, {"hub.verify_token": token, "hub.challenge": "1"})
        self.assertEqual((wrong.status_code, no_mode.status_code), (403, 400))
        self.assertNotIn(token, "".join(logs.output))

    def test_signature_checks_and_malformed_bodies(self):
        body = self.wa_body([self.wa_text("Hi")])
        with self.assertLogs(LOGGER, "WARNING") as logs:
            forged = self.meta_post(self.channel, body, signature="sha256=" + "0" * 64)
            missing = self.meta_post(self.channel, body, signature="")
            broken = self.meta_post(self.channel, None, raw=b'{"object": "whatsapp_business_account", "entry": [')
            wrong_object = self.meta_post(self.channel, {"object": "page", "entry": []})
            no_sender = self.wa_body()
            no_sender["entry"][0]["changes"][0]["value"]["messages"] = [{"id": "wamid.X", "type": "text"}]
            bad_shape = self.meta_post(self.channel, no_sender)
        self.assertEqual(
            [r.status_code for r in (forged, missing, broken, wrong_object, bad_shape)], [403, 403, 400, 400, 400]
        )
        self.assertFalse(self.events_of(self.channel))
        self.assertNotIn(self.channel.app_secret, "".join(logs.output))
        valid = self.meta_post(self.channel, body)
        self.assertEqual(valid.status_code, 200)
        contact = self.contact_of(self.channel, "79123456789")
        self.assertEqual((contact.name, contact.message_ids_messenger.body), ("Olga", "Hi"))

    def test_replay_and_other_numbers(self):
        body = self.wa_body([self.wa_text("Once")])
        self.meta_post(self.channel, body)
        self.meta_post(self.channel, body)
        self.assertEqual(len(self.contact_of(self.channel, "79123456789").message_ids_messenger), 1)
        other = self.meta_post(
            self.channel, self.wa_body([self.wa_text("Not ours", "79990000000")], phone_number_id="1")
        )
        self.assertEqual(other.status_code, 200)
        self.assertFalse(self.contact_of(self.channel, "79990000000"))

    def test_sender_number_links_the_partner_and_deep_link_binds(self):
        self.meta_post(self.channel, self.wa_body([self.wa_text("Hello", "79123456789")]))
        self.assertEqual(self.contact_of(self.channel, "79123456789").partner_id, self.partner)
        stranger = self.meta_post(self.channel, self.wa_body([self.wa_text("Hello", "447700900123")]))
        self.assertEqual(stranger.status_code, 200)
        self.assertFalse(self.contact_of(self.channel, "447700900123").partner_id, "no partner made up for strangers")
        other = self.env["res.partner"].create({"name": "Boris"})
        payload = binding_payload(self.channel, other)
        self.meta_post(self.channel, self.wa_body([self.wa_text(f"/start {payload}", "447700900124")]))
        contact = self.contact_of(self.channel, "447700900124")
        self.assertEqual(contact.partner_id, other)
        self.dispatch_channel(self.channel)
        self.assertEqual(self.fake.texts("447700900124"), [self.channel.welcome_message])

    def test_button_replies(self):
        TestWhatsApp.mid += 1
        reply = {
            "from": "79123456789",
            "id": f"wamid.IN{TestWhatsApp.mid:06d}",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "unsub", "title": "Unsubscribe"}},
        }
        self.meta_post(self.channel, self.wa_body([reply]))
        contact = self.contact_of(self.channel, "79123456789")
        self.assertEqual((contact.state, contact.consent_log_ids[:1].method), ("unsubscribed", "button"))

    def test_status_callbacks_move_forward_only(self):
        contact = self.make_contact(self.channel, 79500000001)
        message = contact._send("Your order is ready")
        self.dispatch_channel(self.channel)
        mid = message.provider_message_id
        self.meta_post(self.channel, self.wa_body(statuses=[self.wa_status(mid, "delivered", contact.chat_id)]))
        self.assertEqual(message.state, "delivered")
        self.meta_post(self.channel, self.wa_body(statuses=[self.wa_status(mid, "read", contact.chat_id)]))
        self.assertEqual(message.state, "read")
        # a late "sent" or "delivered" does not move it back
        self.meta_post(self.channel, self.wa_body(statuses=[self.wa_status(mid, "sent", contact.chat_id)]))
        self.assertEqual(message.state, "read")
        # a failure reported after the send: 131047 fails it with the reason, 131050 unsubscribes
        window = contact._send("Later")
        stop = self.make_contact(self.channel, 79500000002)
        promo = stop._send("Promo", kind="marketing")
        self.dispatch_channel(self.channel)
        errors_window = [{"code": 131047, "title": "Re-engagement message", "error_data": {"details": "24 hours"}}]
        errors_stop = [{"code": 131050, "title": "User has stopped marketing messages"}]
        self.meta_post(
            self.channel,
            self.wa_body(
                statuses=[
                    self.wa_status(window.provider_message_id, "failed", contact.chat_id, errors_window),
                    self.wa_status(promo.provider_message_id, "failed", stop.chat_id, errors_stop),
                ]
            ),
        )
        self.assertEqual((window.state, window.failure_type), ("failed", "window"))
        self.assertEqual((promo.state, promo.failure_type, stop.state), ("failed", "opted_out", "unsubscribed"))
