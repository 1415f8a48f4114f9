"""Binding links over the real Telegram webhook: one private chat, once, within days; a
customer's first chat keeps them unless it confirms the move or the new chat shares their
phone number."""

import functools
import threading
import xmlrpc.client
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields
from odoo.modules.registry import Registry
from odoo.service.model import retrying
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import get_db_name

from ..core import signing
from ..core.providers.base import InboundEvent
from .common import TelegramSetupMixin
from .flow_common import TelegramUpdatesMixin

LINK_LOGGER = "odoo.addons.messenger_marketing.models.messenger_binding_link"
YES = "Yes, move my updates there"
ASKED = "Someone opened your personal link in another chat. Was it you?"
TOLD = "Someone opened your personal link in another chat. Nothing changed: your updates stay in this chat."


@tagged("post_install", "-at_install")
class TestBindingLinks(TelegramUpdatesMixin, TelegramSetupMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova", "phone": "+7 912 345-67-89"})

    def new_link(self, partner=None):
        return self.env["messenger.binding.link"].create(
            {"channel_id": self.channel.id, "partner_id": (partner or self.partner).id}
        )

    def open_link(self, link, chat_id):
        return self.send_text(f"/start {link.payload}", chat_id=chat_id)

    def texts_to(self, chat_id):
        return self.outgoing(chat_id).mapped("body")

    def bind_first_chat(self, chat_id=601):
        self.open_link(self.new_link(), chat_id)
        self.assertEqual(self.contact(chat_id).partner_id, self.partner)
        return self.contact(chat_id)

    def test_a_link_binds_one_chat_once(self):
        link = self.new_link()
        self.assertEqual(link.url, f"https://t.me/fake_shop_bot?start={link.payload}")
        self.assertLessEqual(len(link.payload), 64)
        self.open_link(link, 601)
        first = self.contact(601)
        self.assertEqual(first.partner_id, self.partner)
        self.assertEqual((link.state, link.contact_id), ("bound", first))
        self.assertTrue(link.used_at)
        self.assertEqual(first.consent_log_ids[:1].method, "deep_link")
        # the same link again, from another chat: it binds nothing, the first chat is told
        with self.assertLogs(LINK_LOGGER, "WARNING") as logs:
            self.open_link(link, 602)
        self.assertIn("used already", logs.output[0])
        self.assertFalse(self.contact(602).partner_id)
        self.assertEqual(self.partner.messenger_contact_ids, first)
        self.assertEqual((link.state, link.contact_id), ("bound", first))
        self.assertEqual(self.texts_to(602), [self.channel.welcome_message], "the normal welcome, nothing more")
        told = self.last_out(601)
        self.assertEqual((told.body, told.state, told.kind), (TOLD, "queued", "service"))
        # the customer opening their own link again changes nothing and tells nobody
        self.open_link(link, 601)
        self.assertEqual(self.contact(601).partner_id, self.partner)
        self.assertEqual(self.texts_to(601).count(TOLD), 1)

    def test_an_expired_link_binds_nothing(self):
        link = self.new_link()
        self.assertAlmostEqual(link.expires_at, fields.Datetime.now() + timedelta(days=7), delta=timedelta(minutes=5))
        link.expires_at = fields.Datetime.now() - timedelta(seconds=1)
        with self.assertLogs(LINK_LOGGER, "WARNING") as logs:
            self.open_link(link, 611)
        self.assertIn("expired", logs.output[0])
        self.assertFalse(self.contact(611).partner_id)
        self.assertEqual((link.state, link.used_at), ("open", False))
        self.assertEqual(self.texts_to(611), [self.channel.welcome_message])

    def test_validity_comes_from_the_setting(self):
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("messenger_marketing.binding_link_days", "2")
        link = self.new_link()
        self.assertAlmostEqual(link.expires_at, fields.Datetime.now() + timedelta(days=2), delta=timedelta(minutes=5))
        for wrong in ("soon", "0", "-3"):
            params.set_param("messenger_marketing.binding_link_days", wrong)
            link = self.new_link()
            self.assertAlmostEqual(
                link.expires_at, fields.Datetime.now() + timedelta(days=7), delta=timedelta(minutes=5), msg=wrong
            )

    def send_in_group(self, text=None, contact=None, group_id=-1001234, user_id=621):
        update_id = self._next_id()
        message = {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": group_id, "type": "supergroup", "title": "Family"},
            "from": self._user(user_id),
        }
        if text:
            message["text"] = text
        if contact:
            message["contact"] = contact
        return self.post({"update_id": update_id, "message": message})

    def test_a_group_chat_binds_nothing(self):
        link = self.new_link()
        with self.assertLogs(LINK_LOGGER, "WARNING") as logs:
            self.send_in_group(f"/start {link.payload}")
        self.assertIn("group chat", logs.output[0])
        group = self.contact(-1001234)
        self.assertTrue(group)
        self.assertFalse(group.partner_id)
        self.assertEqual(link.state, "open", "a group does not spend the link")
        # nor does the customer's phone number shared in a group
        self.send_in_group(contact={"phone_number": "+79123456789", "first_name": "Olga", "user_id": 621})
        self.assertFalse(group.partner_id)
        # the person opens it in their private chat: that one binds
        self.open_link(link, 621)
        self.assertEqual(self.contact(621).partner_id, self.partner)

    def test_a_second_chat_needs_the_first_chats_confirmation(self):
        first = self.bind_first_chat(601)
        stranger = self.env["res.partner"].create({"name": "Stranger"})
        self.open_link(self.new_link(stranger), 603)
        link = self.new_link()
        self.open_link(link, 602)
        second = self.contact(602)
        self.assertFalse(second.partner_id)
        self.assertEqual((first.partner_id, link.state, link.contact_id), (self.partner, "pending", second))
        question = self.last_out(601)
        self.assertEqual((question.body, question.state, question.kind), (ASKED, "queued", "service"))
        self.assertEqual([b["text"] for row in question.buttons for b in row], [YES, "No"])
        self.assertIn("we asked there to confirm", self.texts_to(602)[0])
        yes = self.payload_of(question, YES)
        # the chat asking, or any chat but the customer's, cannot answer for them
        for chat_id in (602, 603):
            with self.assertLogs(LINK_LOGGER, "WARNING"):
                self.press(yes, chat_id=chat_id)
            self.assertFalse(self.contact(602).partner_id, chat_id)
            self.assertEqual(first.partner_id, self.partner)
            self.assertEqual(link.state, "pending")
        # the first chat says yes: the updates move
        self.press(yes, chat_id=601)
        self.assertEqual(self.contact(602).partner_id, self.partner)
        self.assertFalse(first.partner_id)
        self.assertEqual(link.state, "bound")
        self.assertEqual(second.consent_log_ids[:1].method, "confirmed")
        unbound = first.consent_log_ids[:1]
        self.assertEqual(unbound.method, "confirmed")
        self.assertIn("Olga Petrova moved to", unbound.source)
        self.assertEqual(self.last_out(601).body, "Done: your updates now go to the other chat.")
        self.assertIn(f"[button] {YES}", first.message_ids_messenger.mapped("body"))
        # a second press is no answer any more
        with self.assertLogs(LINK_LOGGER, "WARNING"):
            self.press(yes, chat_id=601)
        self.assertEqual(self.partner.messenger_contact_ids, second)

    def test_no_from_the_first_chat_keeps_the_customer_there(self):
        first = self.bind_first_chat(601)
        link = self.new_link()
        self.open_link(link, 602)
        question = self.last_out(601)
        self.press(self.payload_of(question, "No"), chat_id=601)
        self.assertEqual((first.partner_id, link.state), (self.partner, "declined"))
        self.assertFalse(self.contact(602).partner_id)
        self.assertEqual(self.last_out(601).body, "Nothing changed: your updates stay in this chat.")
        # the link is spent: a yes afterwards, or opening it again, moves nothing
        with self.assertLogs(LINK_LOGGER, "WARNING"):
            self.press(self.payload_of(question, YES), chat_id=601)
        with self.assertLogs(LINK_LOGGER, "WARNING"):
            self.open_link(link, 602)
        self.assertEqual(self.partner.messenger_contact_ids, first)

    def test_a_matching_phone_number_is_a_proof(self):
        first = self.bind_first_chat(601)
        # someone else's number moves nothing
        self.share_phone("+447700900123", chat_id=602)
        self.assertNotEqual(self.contact(602).partner_id, self.partner)
        self.assertEqual(first.partner_id, self.partner)
        # the customer's number, which Telegram vouches for, does
        self.share_phone("79123456789", chat_id=604)
        second = self.contact(604)
        self.assertEqual(second.partner_id, self.partner)
        self.assertFalse(first.partner_id)
        self.assertEqual((second.consent_log_ids[:1].method, first.consent_log_ids[:1].method), ("phone", "phone"))
        told = self.last_out(601)
        self.assertEqual(
            (told.body, told.state), ("Your updates now go to another chat, which shared your phone number.", "queued")
        )

    def test_forged_payloads_bind_nothing(self):
        link = self.new_link()
        other_channel = self.env["messenger.channel"].create({"name": "Other bot", "provider": "sandbox"})
        foreign = self.env["messenger.binding.link"].create(
            {"channel_id": other_channel.id, "partner_id": self.partner.id}
        )
        value, _sep, signature = link.payload.partition("-")
        forged = [
            f"{value}-{'A' * len(signature)}",  # a made-up signature
            f"b{link.id + 1000}-{signature}",  # another id under this signature
            foreign.payload,  # a link of another channel
            signing.sign(self.channel._link_secret(), f"p{self.partner.id}"),  # a partner link of the old kind
        ]
        for index, payload in enumerate(forged):
            with self.assertLogs(LINK_LOGGER, "WARNING"):
                self.send_text(f"/start {payload}", chat_id=630 + index)
            self.assertFalse(self.contact(630 + index).partner_id, payload)
        self.assertEqual((link.state, foreign.state), ("open", "open"))
        # a made-up answer from the first chat moves nothing either
        first = self.bind_first_chat(601)
        pending = self.new_link()
        self.open_link(pending, 602)
        with self.assertLogs(LINK_LOGGER, "WARNING"):
            self.press(f"by{pending.id}-{'A' * signing.SIGNATURE_LENGTH}", chat_id=601)
        self.assertEqual((first.partner_id, pending.state), (self.partner, "pending"))
        self.assertFalse(self.contact(602).partner_id)


@tagged("post_install", "-at_install")
class TestBindingLinkAccess(TelegramSetupMixin, HttpCase):
    """Who may make a binding link, and that nobody writes what the webhook writes."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova"})
        cls.other_company = cls.env["res.company"].create({"name": "Other Co"})
        cls.foreign_partner = cls.env["res.partner"].create({"name": "Foreign", "company_id": cls.other_company.id})
        cls.foreign_channel = cls.env["messenger.channel"].create(
            {"name": "Foreign bot", "provider": "sandbox", "company_id": cls.other_company.id}
        )
        cls.passwords = {}
        for login, group in (
            ("bl_user", "messenger_marketing.group_messenger_user"),
            ("bl_manager", "messenger_marketing.group_messenger_manager"),
            ("bl_employee", "base.group_user"),
        ):
            cls.passwords[login] = f"{login}-pw-4821"
            new_test_user(cls.env, login, groups=group, password=cls.passwords[login])

    def rpc(self, login, model, method, *args, **kwargs):
        user = self.env["res.users"].search([("login", "=", login)])
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        return proxy.execute_kw(self.env.cr.dbname, user.id, self.passwords[login], model, method, list(args), kwargs)

    def assert_refused(self, login, model, method, *args):
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            self.rpc(login, model, method, *args)
        self.assertEqual(caught.exception.faultCode, 4, caught.exception.faultString)

    def links(self):
        return self.env["messenger.binding.link"].search([])

    def test_the_wizard_makes_a_link_for_a_messenger_user(self):
        wizard_id = self.rpc(
            "bl_user", "messenger.invite", "create", {"partner_id": self.partner.id, "channel_id": self.channel.id}
        )
        self.rpc("bl_user", "messenger.invite", "action_create_link", [wizard_id])
        link = self.links()
        self.assertEqual((link.partner_id, link.channel_id, link.state), (self.partner, self.channel, "open"))
        [wizard] = self.rpc("bl_user", "messenger.invite", "read", [wizard_id], ["url"])
        self.assertEqual(wizard["url"], link.url)
        [seen] = self.rpc("bl_user", "messenger.binding.link", "read", link.ids, ["state", "url"])
        self.assertEqual((seen["state"], seen["url"]), ("open", link.url))

    def test_the_wizard_refuses_another_companys_partner_or_channel(self):
        for vals in (
            {"partner_id": self.foreign_partner.id, "channel_id": self.channel.id},
            {"partner_id": self.partner.id, "channel_id": self.foreign_channel.id},
        ):
            wizard_id = self.rpc("bl_user", "messenger.invite", "create", vals)
            self.assert_refused("bl_user", "messenger.invite", "action_create_link", [wizard_id])
            self.assert_refused("bl_user", "messenger.binding.link", "create", vals)
        self.assertFalse(self.links())

    def test_a_user_without_the_messenger_group_gets_no_link(self):
        vals = {"partner_id": self.partner.id, "channel_id": self.channel.id}
        self.assert_refused("bl_employee", "messenger.invite", "create", vals)
        self.assert_refused("bl_employee", "messenger.binding.link", "create", vals)
        self.assertFalse(self.links())

    def test_nobody_writes_what_the_webhook_writes(self):
        contact = self.env["messenger.contact"].create({"name": "X", "channel_id": self.channel.id, "chat_id": "9"})
        vals = {"partner_id": self.partner.id, "channel_id": self.channel.id}
        for login in ("bl_user", "bl_manager"):
            # not at creation, also not through the context's defaults
            self.assert_refused(login, "messenger.binding.link", "create", {**vals, "used_at": "2030-01-01 00:00:00"})
            self.assert_refused(login, "messenger.binding.link", "create", {**vals, "expires_at": "2099-01-01"})
            link_id = self.rpc(
                login,
                "messenger.binding.link",
                "create",
                vals,
                context={"default_state": "bound", "default_contact_id": contact.id},
            )
            link = self.env["messenger.binding.link"].browse(link_id)
            self.assertEqual((link.state, link.contact_id.id, link.used_at), ("open", False, False))
            self.assert_refused(login, "messenger.binding.link", "write", [link_id], {"contact_id": contact.id})
        # a user may not delete one; a manager may
        link_id = self.links()[:1].id
        self.assert_refused("bl_user", "messenger.binding.link", "unlink", [link_id])
        self.assertTrue(self.rpc("bl_manager", "messenger.binding.link", "unlink", [link_id]))


@tagged("post_install", "-at_install")
class TestBindingLinkRace(BaseCase):
    """Two chats open one link at the same moment, each webhook in its own transaction:
    the second waits for the first and binds nothing. The data is committed for real (the
    webhooks cannot see a test transaction), and removed at the end."""

    def setUp(self):
        super().setUp()
        self.registry = Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.channel_id = env["messenger.channel"].create({"name": "Race bot", "provider": "sandbox"}).id
            self.partner_id = env["res.partner"].create({"name": "Race customer"}).id
            link = env["messenger.binding.link"].create({"channel_id": self.channel_id, "partner_id": self.partner_id})
            self.payload = link.payload
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["messenger.channel"].browse(self.channel_id).unlink()
            env["res.partner"].browse(self.partner_id).unlink()

    def _open(self, cr, chat_id, retry=False):
        """The webhook of ``chat_id`` opening the link; with ``retry``, retried on a
        serialization failure and committed, as Odoo serves an HTTP request."""
        env = api.Environment(cr, SUPERUSER_ID, {})
        event = InboundEvent(f"race-{chat_id}", "start", chat_id=chat_id, text="/start", payload=self.payload)
        channel = env["messenger.channel"].browse(self.channel_id)
        process = functools.partial(env["messenger.inbound"]._process, channel, [event])
        return retrying(process, env) if retry else process()

    def test_two_chats_at_once_bind_one(self):
        errors = []

        def second():
            try:
                with self.registry.cursor() as cr:
                    self._open(cr, "race-2", retry=True)
            except Exception as exc:  # noqa: BLE001 - reported by the test below
                errors.append(exc)

        thread = threading.Thread(target=second)
        with self.registry.cursor() as cr:
            self._open(cr, "race-1")
            thread.start()
            thread.join(timeout=1.0)
            self.assertTrue(thread.is_alive(), "the second chat waits for the first one's transaction")
        thread.join(timeout=30)
        self.assertFalse(thread.is_alive())
        self.assertEqual(errors, [])
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            bound = env["messenger.contact"].search([("partner_id", "=", self.partner_id)])
            self.assertEqual(bound.mapped("chat_id"), ["race-1"])
            link = env["messenger.binding.link"].search([("channel_id", "=", self.channel_id)])
            self.assertEqual((link.state, link.contact_id), ("bound", bound))
