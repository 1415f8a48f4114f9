import asyncio
import json

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from ..core.providers import PERMANENT, SENT, OutgoingMessage
from ..core.providers.telegram import TelegramProvider
from ..core.providers.vk import random_id
from .common import ProvidersSetupMixin, WebhookMixin, binding_payload
from .fakes.file_server import FileServer
from .fakes.vk_server import CONFIRMATION_CODE

LOGGER = "odoo.addons.messenger_marketing.controllers.webhook"


@tagged("post_install", "-at_install")
class TestVk(ProvidersSetupMixin, WebhookMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel, cls.fake = cls.setup_vk(cls.env)
        cls.partner = cls.env["res.partner"].create({"name": "Ivan Petrov"})
        cls.event = 0

    def setUp(self):
        super().setUp()
        self.fake.reset()

    # -- sending ---------------------------------------------------------------------------
    def test_defaults_follow_the_community_limits(self):
        self.assertEqual((self.channel.rate_limit, self.channel.per_chat_interval), (20.0, 1.0))
        self.assertTrue(self.channel._provider().has_idempotency_key)

    def test_inline_and_regular_keyboards_and_random_id(self):
        contact = self.make_contact(self.channel, 501)
        offer = contact._send(
            "Spring sale",
            kind="marketing",
            buttons=[[{"text": "Open the shop", "url": "https://shop.example.com"}]],
        )
        ask = self.make_contact(self.channel, 502)._send(
            "Your size?", buttons=[[{"text": "S", "payload": "size_s"}, {"text": "M", "payload": "size_m"}]] * 7
        )
        self.dispatch_channel(self.channel)
        self.assertEqual((offer.state, ask.state), ("sent", "sent"))
        sent = {s["peer_id"]: s for s in self.fake.sent}
        keyboard = sent["501"]["keyboard"]
        self.assertTrue(keyboard["inline"])
        self.assertEqual(
            keyboard["buttons"][0][0]["action"],
            {"type": "open_link", "link": "https://shop.example.com", "label": "Open the shop", "payload": None},
        )
        # a payload button of an inline keyboard is a callback button: no message in the chat
        unsubscribe = keyboard["buttons"][-1][0]["action"]
        self.assertEqual((unsubscribe["type"], json.loads(unsubscribe["payload"])), ("callback", {"b": "unsub"}))
        # seven rows do not fit an inline keyboard: a regular one-time keyboard instead, whose
        # buttons send their label as a message (with the payload)
        regular = sent["502"]["keyboard"]
        self.assertEqual((regular["inline"], regular["one_time"], len(regular["buttons"])), (False, True, 7))
        size = regular["buttons"][0][0]["action"]
        self.assertEqual((size["type"], json.loads(size["payload"])), ("text", {"b": "size_s"}))
        # the idempotency key VK deduplicates on, derived from the message's uuid
        self.assertEqual(sent["501"]["random_id"], str(random_id(offer.uuid)))
        self.assertEqual(offer.provider_message_id, str(sent["501"]["id"]))

    def test_rate_limit_is_respected_without_vk_api_sleeping(self):
        contacts = self.env["messenger.contact"].create(
            [{"name": f"P{i}", "channel_id": self.channel.id, "chat_id": str(10000 + i)} for i in range(60)]
        )
        messages = contacts._send("Hello", kind="transactional")
        self.dispatch_channel(self.channel, budget=40)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake.sent), 60)
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        times = sorted(at for _chat, at in self.fake.requests)
        rate = (len(times) - 1) / (times[-1] - times[0])
        # vk_api's own pause (3 requests a second, or one at a time) would cap it far lower
        self.assertGreater(rate, 14)
        self.assertLessEqual(rate, 20.5)

    def _send_scripted(self, chat_id, *answers, kind="service"):
        contact = self.make_contact(self.channel, chat_id)
        if answers:
            self.fake.script(*answers)
        message = contact._send("Hello", kind=kind)
        return contact, message

    def test_error_classes(self):
        blocked, refused = self._send_scripted(601)
        self.fake.block("601")
        self.dispatch_channel(self.channel)
        self.assertEqual((refused.state, refused.failure_type), ("failed", "blocked"))
        self.assertIn("901", refused.failure_reason)
        self.assertEqual(blocked.state, "blocked")
        self.assertEqual(blocked.consent_log_ids[:1].method, "provider")
        for code in (6, 10):  # too many requests, internal error: retried, then sent
            self.fake.reset()
            _contact, message = self._send_scripted(6000 + code, ("error", code))
            self.dispatch_channel(self.channel)
            self.assertEqual((message.state, message.attempts), ("sent", 2), code)
            self.assertEqual(len(self.fake.sent), 1, code)
        self.fake.reset()
        _contact, bad_gateway = self._send_scripted(620, ("http", 502))
        self.dispatch_channel(self.channel)
        self.assertEqual((bad_gateway.state, bad_gateway.attempts), ("sent", 2))
        # a daily rate limit: retried much later, not now
        _contact, later = self._send_scripted(621, ("error", 29))
        before = fields.Datetime.now()
        self.dispatch_channel(self.channel, budget=2)
        self.assertEqual(later.state, "queued")
        self.assertGreaterEqual((later.next_attempt_at - before).total_seconds(), 590)
        self.assertIn("Rate limit reached", later.failure_reason)
        # a wrong token fails at once, with what to do
        _contact, auth = self._send_scripted(622, ("error", 5))
        self.dispatch_channel(self.channel)
        self.assertEqual((auth.state, auth.failure_type, auth.attempts), ("failed", "rejected", 1))
        self.assertIn("community token", auth.failure_reason)

    def test_late_answer_is_resent_once_thanks_to_random_id(self):
        self.channel.request_timeout = 0.5
        contact = self.make_contact(self.channel, 630)
        self.fake.script(("slow", 1.0))
        promo = contact._send("Promo", kind="marketing")
        self.dispatch_channel(self.channel)
        # VK deduplicates by random_id: a marketing message whose answer was lost is resent,
        # not held for a person, and the person still gets it once
        self.assertEqual((promo.state, promo.attempts), ("sent", 2))
        self.assertEqual(self.fake.texts("630"), ["Promo"])
        self.assertEqual(len({c[1]["random_id"] for c in self.fake.calls if c[0] == "messages.send"}), 1)
        self.channel.request_timeout = 2.0

    def test_configuration_calls(self):
        self.channel.write({"bot_username": False, "vk_confirmation_code": False})
        self.channel.action_test_connection()
        self.assertEqual(
            (self.channel.bot_username, self.channel.vk_confirmation_code), ("fake_shop", CONFIRMATION_CODE)
        )
        self.channel.action_register_webhook()
        self.assertEqual(self.channel.vk_server_id, "7")
        added = next(params for name, params in self.fake.calls if name == "groups.addCallbackServer")
        self.assertEqual(added["url"], self.channel.webhook_url)
        self.assertEqual(added["secret_key"], self.channel.webhook_secret)
        settings = next(params for name, params in self.fake.calls if name == "groups.setCallbackSettings")
        self.assertEqual((settings["message_new"], settings["message_deny"], settings["server_id"]), ("1", "1", "7"))
        self.channel.action_unregister_webhook()
        self.assertIn(
            ("groups.deleteCallbackServer", {"group_id": self.fake.group_id, "server_id": "7", "v": "5.199"}),
            [tuple(c) for c in self.fake.calls],
        )
        # a wrong token or community is said so
        self.channel.token = "wrong"
        with self.assertRaisesRegex(UserError, "community token is wrong"):
            self.channel.action_test_connection()
        self.channel.write({"token": self.fake.token, "vk_group_id": "42"})
        with self.assertRaisesRegex(UserError, "group_id"):
            self.channel.action_test_connection()
        self.channel.vk_group_id = self.fake.group_id

    # -- webhooks --------------------------------------------------------------------------
    def vk_event(self, kind, obj, secret=None, group=None):
        TestVk.event += 1
        return {
            "type": kind,
            "event_id": f"ev{TestVk.event:05d}",
            "v": "5.199",
            "object": obj,
            "group_id": int(group or self.channel.vk_group_id),
            "secret": self.channel.webhook_secret if secret is None else secret,
        }

    def message_new(self, text, from_id=777, **extra):
        TestVk.event += 1
        message = {
            "date": 1700000000,
            "from_id": from_id,
            "peer_id": from_id,
            "id": TestVk.event,
            "text": text,
            **extra,
        }
        return self.vk_event("message_new", {"message": message, "client_info": {"keyboard": True}})

    def test_confirmation_answers_the_code(self):
        secret = self.channel.webhook_secret
        body = {"type": "confirmation", "group_id": int(self.channel.vk_group_id), "secret": secret}
        response = self.post_raw(self.channel, body)
        self.assertEqual((response.status_code, response.text), (200, CONFIRMATION_CODE))
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))
        with self.assertLogs(LOGGER, "WARNING"):
            other = self.post_raw(self.channel, {**body, "group_id": 1})
        self.assertEqual(other.status_code, 403)
        self.assertNotIn(CONFIRMATION_CODE, other.text)

    def test_message_creates_contact_and_answers_ok(self):
        response = self.post_raw(self.channel, self.message_new("Do you ship to Omsk?"))
        self.assertEqual((response.status_code, response.text), (200, "ok"))
        contact = self.contact_of(self.channel, 777)
        self.assertEqual(contact.message_ids_messenger.body, "Do you ship to Omsk?")
        self.assertTrue(contact.last_inbound_at)

    def test_forged_missing_secret_wrong_group_and_malformed_body(self):
        with self.assertLogs(LOGGER, "WARNING") as logs:
            forged = self.post_raw(self.channel, self.message_new("hi") | {"secret": "guess"})
            missing = self.post_raw(self.channel, {k: v for k, v in self.message_new("hi").items() if k != "secret"})
            other_group = self.post_raw(self.channel, self.message_new("hi") | {"group_id": 5})
            broken = self.post_raw(self.channel, b'{"type": "message_new", "object": ')
            no_type = self.post_raw(self.channel, b"[1, 2]")
            bad_shape = self.post_raw(self.channel, self.vk_event("message_new", {"message": {"peer_id": "x"}}))
        statuses = [r.status_code for r in (forged, missing, other_group, broken, no_type, bad_shape)]
        self.assertEqual(statuses, [403, 403, 403, 400, 400, 400])
        self.assertFalse(self.events_of(self.channel))
        self.assertFalse(self.contact_of(self.channel, 777))
        self.assertNotIn(self.channel.webhook_secret, "".join(logs.output))
        self.assertNotIn(self.channel.token, "".join(logs.output))

    def test_replayed_event_is_handled_once(self):
        event = self.message_new("Same event twice")
        first, second = self.post_raw(self.channel, event), self.post_raw(self.channel, event)
        self.assertEqual((first.text, second.text), ("ok", "ok"))
        self.assertEqual(len(self.contact_of(self.channel, 777).message_ids_messenger), 1)

    def test_deep_link_ref_binds_partner_and_welcomes(self):
        payload = binding_payload(self.channel, self.partner)
        self.assertEqual(self.channel._deep_link(payload), f"https://vk.me/fake_shop?ref={payload}")
        self.post_raw(self.channel, self.message_new("Начать", from_id=778, ref=payload, ref_source="site"))
        contact = self.contact_of(self.channel, 778)
        self.assertEqual(contact.partner_id, self.partner)
        self.assertIn("deep_link", contact.consent_log_ids.mapped("method"))
        self.dispatch_channel(self.channel)
        self.assertEqual(self.fake.texts("778"), [self.channel.welcome_message])

    def test_buttons_callbacks_deny_and_allow(self):
        self.post_raw(self.channel, self.message_new("Начать", payload='{"command":"start"}'))
        contact = self.contact_of(self.channel, 777)
        self.assertEqual(contact.consent_log_ids[-1:].method, "start")
        self.post_raw(self.channel, self.message_new("Unsubscribe", payload='{"b":"unsub"}'))
        self.assertEqual(contact.state, "unsubscribed")
        self.assertEqual(contact.consent_log_ids[:1].method, "button")
        callback = {"user_id": 777, "peer_id": 777, "event_id": "3a1b", "payload": {"b": "contact_us"}}
        answer = self.post_raw(self.channel, self.vk_event("message_event", callback))
        self.assertEqual(answer.text, "ok")
        self.assertIn("[button] contact_us", contact.message_ids_messenger.mapped("body"))
        # the press is acknowledged, or the button spins in the person's app
        acks = [params for name, params in self.fake.calls if name == "messages.sendMessageEventAnswer"]
        self.assertEqual(acks, [{"event_id": "3a1b", "user_id": "777", "peer_id": "777", "v": "5.199"}])
        self.post_raw(self.channel, self.vk_event("message_deny", {"user_id": 777}))
        self.assertEqual(contact.state, "blocked")
        self.post_raw(self.channel, self.vk_event("message_allow", {"user_id": 777, "key": "promo"}))
        self.assertEqual(contact.state, "subscribed")

    def test_read_receipt_moves_earlier_messages_to_read_only(self):
        contact = self.make_contact(self.channel, 779)
        first = contact._send("first")
        self.dispatch_channel(self.channel)
        second = contact._send("second")
        self.dispatch_channel(self.channel)
        self.assertEqual((first.state, second.state), ("sent", "sent"))
        read = {"from_id": 779, "peer_id": 779, "read_message_id": int(first.provider_message_id)}
        self.post_raw(self.channel, self.vk_event("message_read", read))
        self.assertEqual((first.state, second.state), ("read", "sent"))

    # -- pictures, files and callback buttons -----------------------------------------------
    def serve_pictures_from(self, url):
        """Our public pictures are fetched for upload, nothing else: here the fake's files."""
        self.env["ir.config_parameter"].sudo().set_param("web.base.url", url)

    def test_picture_goes_as_an_uploaded_photo_once_per_run_or_else_as_a_link(self):
        self.serve_pictures_from(self.fake.url)
        url, gone = self.fake.media_url("photo.jpg"), self.fake.media_url("gone.jpg")
        first = self.make_contact(self.channel, 601)._send("New oak desk", image_url=url)
        second = self.make_contact(self.channel, 602)._send("New oak desk", image_url=url)
        lost = self.make_contact(self.channel, 603)._send("Old desk", image_url=gone)
        self.dispatch_channel(self.channel)
        self.assertEqual({first.state, second.state, lost.state}, {"sent"})
        sent = {s["peer_id"]: s for s in self.fake.sent}
        # one upload of the picture, attached to every message of the run
        self.assertEqual([(u["kind"], u["filename"]) for u in self.fake.uploads], [("photo", "photo.jpg")])
        photo = self.fake.state()["saved"][0]
        self.assertEqual([sent[p]["attachment"] for p in ("601", "602")], [photo, photo])
        self.assertEqual(sent["601"]["text"], "New oak desk")
        # a picture that cannot be fetched goes as a link, as before
        self.assertEqual((sent["603"]["attachment"], sent["603"]["text"]), (None, f"Old desk\n\n{gone}"))

    def test_a_picture_elsewhere_is_never_fetched(self):
        """A manager's picture address on the server's network is sent as a link: VK
        would otherwise show its answer to the person (SSRF)."""
        self.serve_pictures_from(self.fake.url)
        internal = FileServer()
        self.addCleanup(internal.close)
        internal.files["/admin/photo.jpg"] = (b"\xff\xd8secret", "image/jpeg")
        elsewhere = internal.url("/admin/photo.jpg")
        lookalike = f"{self.fake.url}@{elsewhere.removeprefix('http://')}"
        messages = [
            self.make_contact(self.channel, 604 + i)._send("Desk", image_url=url)
            for i, url in enumerate((elsewhere, lookalike))
        ]
        self.dispatch_channel(self.channel)
        self.assertEqual({m.state for m in messages}, {"sent"})
        self.assertEqual(internal.requests, [], "never fetched")
        self.assertEqual(self.fake.uploads, [])
        sent = {s["peer_id"]: s for s in self.fake.sent}
        self.assertEqual((sent["604"]["attachment"], sent["604"]["text"]), (None, f"Desk\n\n{elsewhere}"))
        self.assertEqual(sent["605"]["attachment"], None)

    def test_message_with_a_photo_and_no_text_is_taken(self):
        photo = {"id": 5, "owner_id": 777, "sizes": [{"type": "x", "url": self.fake.media_url("photo.jpg")}]}
        response = self.post_raw(self.channel, self.message_new("", attachments=[{"type": "photo", "photo": photo}]))
        self.assertEqual((response.status_code, response.text), (200, "ok"))
        self.assertEqual(len(self.events_of(self.channel)), 1)
        self.assertTrue(self.contact_of(self.channel, 777))

    def card(self, name, image="photo.jpg", **extra):
        buttons = [
            {"text": "Order", "payload": f"order_{name}"},
            {"text": "More", "url": f"https://shop.example.com/{name}"},
        ]
        return {
            "title": name.title(),
            "description": f"Solid {name}, 120 cm",
            "image_url": self.fake.media_url(image) if image else "",
            "url": f"https://shop.example.com/{name}",
            "buttons": buttons,
            **extra,
        }

    def send_now(self, *messages):
        provider = self.channel._provider()

        async def run():
            await provider.open()
            try:
                return [await provider.send(m) for m in messages]
            finally:
                await provider.close()

        return asyncio.run(run())

    def test_product_cards_go_as_a_carousel(self):
        self.serve_pictures_from(self.fake.url)
        self.fake.set(per_chat_interval=0)
        cards = [self.card("oak desk"), self.card("pine desk")]
        message = OutgoingMessage(1, "611", "Desks for you", cards=cards, idempotency_key="cards-1")
        self.assertIsNone(self.channel._provider().precheck(message))
        # a card without a picture: no element has one (VK refuses elements that differ)
        plain = OutgoingMessage(
            2, "612", "Chairs", cards=[self.card("oak chair"), self.card("stool", image="")], idempotency_key="c-2"
        )
        results = self.send_now(message, plain)
        self.assertEqual([r.outcome for r in results], [SENT, SENT], [r.reason for r in results])
        sent = {s["peer_id"]: s for s in self.fake.sent}
        self.assertEqual(sent["611"]["text"], "Desks for you")
        elements = sent["611"]["template"]["elements"]
        self.assertEqual([e["title"] for e in elements], ["Oak Desk", "Pine Desk"])
        # the same picture is uploaded once and shown on both cards
        self.assertEqual(len(self.fake.uploads), 1)
        photo = self.fake.state()["saved"][0]
        self.assertEqual({f"photo{e['photo_id']}" for e in elements}, {photo.rsplit("_", 1)[0]})
        self.assertEqual(elements[0]["description"], "Solid oak desk, 120 cm")
        self.assertEqual(elements[0]["action"], {"type": "open_link", "link": "https://shop.example.com/oak desk"})
        order, more = (b["action"] for b in elements[0]["buttons"])
        self.assertEqual((order["type"], json.loads(order["payload"])), ("callback", {"b": "order_oak desk"}))
        self.assertEqual((more["type"], more["link"]), ("open_link", "https://shop.example.com/oak desk"))
        self.assertEqual(
            [set(e) for e in sent["612"]["template"]["elements"]], [{"title", "description", "buttons", "action"}] * 2
        )

    def test_a_flows_product_card_goes_as_a_carousel_card(self):
        self.fake.set(per_chat_interval=0)
        png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
        product = self.env["product.template"].create(
            {"name": "Oak desk", "list_price": 250.0, "description_sale": "Solid oak.", "image_1920": png}
        )
        flow = self.env["messenger.flow"].create({"name": "Desk card"})
        step = self.env["messenger.flow.step"].create(
            {"flow_id": flow.id, "sequence": 1, "step_type": "product", "text": "The desk you liked."}
        )
        self.env["messenger.flow.button"].create({"step_id": step.id, "label": "Order"})
        self.env["messenger.flow.step"].create({"flow_id": flow.id, "sequence": 2, "step_type": "end"})
        contact = self.make_contact(self.channel, 621)
        flow._start(contact).product_tmpl_id = product
        message = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertFalse(message, "the session shows the card once it knows the product")
        flow.step_ids[0]._run_product(self.env["messenger.flow.session"].search([("contact_id", "=", contact.id)]))
        card = contact.message_ids_messenger.filtered("cards")
        self.assertEqual(card.body, "The desk you liked.\n\nSolid oak.")
        self.dispatch_channel(self.channel)
        self.assertEqual(card.state, "sent", card.failure_reason)
        self.assertIn("Oak desk", card.discuss_message_id.body, "the conversation shows the card")
        (sent,) = [s for s in self.fake.sent if s["peer_id"] == "621"]
        (element,) = sent["template"]["elements"]
        self.assertEqual(element["title"], "Oak desk")
        self.assertIn("250", element["description"])
        self.assertEqual([b["action"]["label"] for b in element["buttons"]], ["Order"])

    def test_carousels_vk_cannot_show_are_refused_before_any_call(self):
        provider = self.channel._provider()
        eleven = OutgoingMessage(1, "613", "Many", cards=[self.card(f"desk {i}") for i in range(11)])
        self.assertIn("at most 10 cards on VK", provider.precheck(eleven).reason)
        untitled = OutgoingMessage(2, "613", "", cards=[self.card("desk")])
        self.assertEqual(provider.precheck(untitled).outcome, PERMANENT)
        telegram = TelegramProvider(self.channel._provider().config)
        self.assertIn("Telegram shows no carousel", telegram.precheck(eleven).reason)
        self.assertEqual(self.fake.calls, [])
