"""The trust boundary, tried as an attacker would: every public method of every model the
addons define or extend, and every field of their models, called over XML-RPC by each role
on company A's records, with the answer written out below. Provider calls are watched at
the fake servers: none may arrive for a refused call.

Roles: ``portal``; ``employee``, an internal user with no messenger group; ``salesman``, who
sees every lead but has no messenger group; ``user``, a Messenger User (and salesman);
``manager``, a Messenger Manager (also of campaigns); ``manager_b``, the same as manager but
of company B only.
"""

import uuid
import xmlrpc.client

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tests.common import JsonRpcException

from .common import ProvidersSetupMixin, TelegramSetupMixin

ROLES = ("portal", "employee", "salesman", "user", "manager", "manager_b")
GROUPS = {
    "portal": "base.group_portal",
    "employee": "base.group_user",
    "salesman": "sales_team.group_sale_salesman_all_leads",
    "user": "sales_team.group_sale_salesman_all_leads,messenger_marketing.group_messenger_user",
    "manager": "sales_team.group_sale_salesman_all_leads,messenger_marketing.group_messenger_manager,"
    "mass_mailing.group_mass_mailing_user",
}
GROUPS["manager_b"] = GROUPS["manager"]
ACCESS_ERROR, USER_ERROR = 4, 2

# Who may call each public method, on company A's records. Every public method our addons
# define or override must have its line (a new one fails test_every_public_method_listed).
USERS = {"user", "manager"}
MANAGERS = {"manager"}
INTERNAL = {"employee", "salesman", "user", "manager"}
SALES = {"salesman", "user", "manager"}
# company B's manager, on a wizard of their own or on records no company holds
ANY_MANAGER = {"manager", "manager_b"}
METHODS = {
    ("crm.lead", "action_open_messenger_contact"): USERS,
    ("mailing.mailing", "action_messenger_pause"): MANAGERS,
    ("mailing.mailing", "action_messenger_resume"): MANAGERS,
    ("mailing.mailing", "action_select_as_winner"): MANAGERS,
    ("mailing.mailing", "action_send_winner_mailing"): MANAGERS,
    ("mailing.mailing", "action_test"): MANAGERS,
    ("mailing.mailing", "action_view_messenger_messages"): MANAGERS,
    ("mailing.mailing", "convert_links"): MANAGERS,
    ("mailing.messenger.test", "action_send"): MANAGERS,
    ("messenger.channel", "action_regenerate_secrets"): MANAGERS,
    ("messenger.channel", "action_register_webhook"): MANAGERS,
    ("messenger.channel", "action_sync_whatsapp_templates"): MANAGERS,
    ("messenger.channel", "action_test_connection"): MANAGERS,
    ("messenger.channel", "action_unregister_webhook"): MANAGERS,
    ("messenger.channel", "action_view_contacts"): USERS,
    ("messenger.channel", "action_view_messages"): USERS,
    ("messenger.channel", "action_view_support_questions"): USERS,
    ("messenger.channel", "action_view_waiting"): USERS,
    ("messenger.channel", "action_view_whatsapp_templates"): USERS,
    ("messenger.channel.setup", "action_back"): ANY_MANAGER,
    ("messenger.channel.setup", "action_check"): ANY_MANAGER,
    ("messenger.channel.setup", "action_next"): ANY_MANAGER,
    ("messenger.channel.setup", "action_open_channel"): ANY_MANAGER,
    ("messenger.channel.setup", "action_register_webhook"): ANY_MANAGER,
    ("messenger.composer", "action_send"): USERS | ANY_MANAGER,
    ("messenger.contact", "action_hand_back_to_bot"): USERS,
    ("messenger.contact", "action_open_conversation"): USERS,
    ("messenger.contact", "action_sandbox_block"): MANAGERS,
    ("messenger.contact", "action_subscribe"): USERS,
    ("messenger.contact", "action_take_over"): USERS,
    ("messenger.contact", "action_unsubscribe"): USERS,
    ("messenger.contact", "action_view_leads"): USERS,
    ("messenger.contact", "messenger_unread_summary"): USERS | ANY_MANAGER,
    ("messenger.invite", "action_create_link"): USERS,
    ("messenger.webhook.event", "action_retry"): MANAGERS,
    ("messenger.flow", "action_try_in_simulator"): MANAGERS,
    ("messenger.flow", "action_view_leads"): USERS,
    ("messenger.flow", "action_view_sessions"): USERS,
    ("messenger.message", "action_cancel"): MANAGERS,
    ("messenger.message", "action_retry"): MANAGERS,
    ("messenger.price.alert", "action_stop"): MANAGERS,
    ("messenger.simulator", "action_reset"): MANAGERS,
    ("messenger.simulator", "action_send"): MANAGERS,
    ("messenger.support.article", "action_view_questions"): USERS,
    ("messenger.warming", "action_view_enrolments"): USERS,
    ("product.template", "action_view_messenger_alerts"): INTERNAL | ANY_MANAGER,
    ("res.partner", "action_messenger_invite"): INTERNAL | ANY_MANAGER,
    ("res.partner", "action_view_messenger_contacts"): INTERNAL | ANY_MANAGER,
    # Odoo's, extended with the "quotation sent" event: who may mark a quotation sent
    ("sale.order", "action_open_messenger_conversation"): USERS,
    ("sale.order", "action_quotation_sent"): SALES,
    ("sale.order", "action_view_messenger_messages"): SALES,
}
# create, write, unlink and friends are the access matrix's (test_access_matrix.py) and the
# field tests' below; message_post has its own tests.
NOT_LISTED = {"create", "write", "unlink", "copy", "default_get", "load", "name_create", "message_post", "init"}
OUR_MODULES = ("odoo.addons.messenger_marketing",)
OUR_ADDONS = ("messenger_marketing", "messenger_marketing_support", "messenger_marketing_sale_stock")

# Fields only the system sets: refused in create and write for every group, also managers.
PROTECTED = {
    "messenger.channel": {
        "webhook_key",
        "webhook_secret",
        "webhook_registered",
        "vk_server_id",
        "pacing_next_slot",
        "pacing_block_start",
        "pacing_block_interval",
        "pacing_block_stride",
        "pacing_block_count",
        "pacing_block_phases",
        "last_operator_id",
        "last_error",
    },
    "messenger.contact": {
        "state",
        "last_message_at",
        "last_inbound_at",
        "last_message_preview",
        "unread_count",
        "waiting_reply",
        "answered_by",
        "handoff_at",
        "channel_id",
        "chat_id",
    },
}


@tagged("post_install", "-at_install")
class TestTrustBoundary(TelegramSetupMixin, ProvidersSetupMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_b = env["res.company"].create({"name": "Company B"})
        cls.users, cls.passwords = {}, {}
        for role in ROLES:
            password = f"{role}-{uuid.uuid4().hex[:10]}"
            extra = {}
            if role == "manager_b":
                extra = {"company_id": cls.company_b.id, "company_ids": [(6, 0, cls.company_b.ids)]}
            cls.users[role] = new_test_user(env, f"tb_{role}", groups=GROUPS[role], password=password, **extra)
            cls.passwords[role] = password
        cls.channel = cls.setup_telegram(env)
        cls.whatsapp, cls.graph = cls.setup_graph(env, "whatsapp")
        cls.partner = env["res.partner"].create({"name": "Customer A", "phone": "+7 912 000-11-22"})
        cls.contact = env["messenger.contact"].create(
            {"name": "Customer A", "channel_id": cls.channel.id, "chat_id": "5001", "partner_id": cls.partner.id}
        )
        cls.lead = env["crm.lead"].create({"name": "Chat lead A", "messenger_contact_id": cls.contact.id})
        cls.order = env["sale.order"].create({"partner_id": cls.partner.id})
        cls.contact._send("Your quotation", record=cls.order)  # the order's conversation
        cls.product = env["product.template"].create({"name": "Product A", "list_price": 10})
        cls.flow = env["messenger.flow"].create({"name": "Flow A"})
        env["messenger.flow.step"].create({"flow_id": cls.flow.id, "text": "Hi"})
        cls.warming = env["messenger.warming"].create({"name": "Warming A"})
        cls.alert = env["messenger.price.alert"].create(
            {"contact_id": cls.contact.id, "product_tmpl_id": cls.product.id}
        )
        cls.article = env["messenger.support.article"].create({"name": "Article A", "short_answer": "Yes"})
        cls.sandbox = env["messenger.channel"].create({"name": "Sandbox A", "provider": "sandbox"})
        cls.mailing = env["mailing.mailing"].create(
            {
                "name": "Campaign A",
                "subject": "Campaign A",
                "mailing_type": "messenger",
                "mailing_model_id": env.ref("messenger_marketing.model_messenger_contact").id,
                "messenger_channel_ids": [(6, 0, cls.channel.ids)],
                "messenger_body": "Sale",
            }
        )

    def setUp(self):
        super().setUp()
        self.fake.reset()
        self.graph.reset()

    # -- helpers -------------------------------------------------------------------------
    def rpc(self, role, model, method, *args, **kwargs):
        """Call over XML-RPC as the role: (True, result) or (False, fault)."""
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        self.env.flush_all()  # the server reads the database, not this test's pending writes
        user = self.users[role]
        try:
            return True, proxy.execute_kw(
                self.env.cr.dbname, user.id, self.passwords[role], model, method, list(args), kwargs
            )
        except xmlrpc.client.Fault as fault:
            return False, fault
        finally:
            self.env.invalidate_all()  # the server wrote through the same cursor

    def assert_refused(self, role, model, method, *args, **kwargs):
        done, answer = self.rpc(role, model, method, *args, **kwargs)
        self.assertFalse(done, f"{role} may not call {model}.{method}")
        self.assertEqual(answer.faultCode, ACCESS_ERROR, f"{role} {model}.{method}: {answer.faultString[-300:]}")
        return answer

    def assert_allowed(self, role, model, method, *args, **kwargs):
        """Allowed: no access error, no server error (a clear refusal, a UserError, is fine)."""
        done, answer = self.rpc(role, model, method, *args, **kwargs)
        if not done:
            self.assertEqual(answer.faultCode, USER_ERROR, f"{role} {model}.{method}: {answer.faultString[-600:]}")
        return answer

    def provider_requests(self):
        return len(self.fake.calls) + len(self.graph.calls)

    def target(self, model, role):
        """The record a method is called on: company A's, or the role's own wizard."""
        if model == "messenger.message":
            message = self.contact._send("Will fail")
            message._to("sending")._to("failed", failure_type="rejected")
            return message.ids
        wizards = {
            "messenger.channel.setup": lambda: {"provider": "sandbox", "name": "Setup A"},
            "messenger.composer": lambda: {
                "res_model": "res.partner",
                "res_ids": self.partner.ids,
                "body": "Hello",
                "channel_id": self.channel.id,
            },
            "mailing.messenger.test": lambda: {
                "mailing_id": self.mailing.id,
                "contact_ids": [(6, 0, self.contact.ids)],
            },
            "messenger.simulator": lambda: {"channel_id": self.sandbox.id, "text": "hello"},
            "messenger.invite": lambda: {"partner_id": self.partner.id, "channel_id": self.channel.id},
        }
        if model == "messenger.webhook.event":
            event = {"event_id": f"tb-{uuid.uuid4().hex}", "kind": "message", "chat_id": "5001", "text": "lost?"}
            return (
                self.env[model]
                .create(
                    {"channel_id": self.channel.id, "event_id": event["event_id"], "state": "failed", "payload": event}
                )
                .ids
            )
        if model in wizards:
            # made by the role itself (a wizard is its creator's only), as if they opened it
            return self.env[model].with_user(self.users[role]).sudo().create(wizards[model]()).ids
        return {
            "crm.lead": self.lead,
            "mailing.mailing": self.mailing,
            "messenger.channel": self.whatsapp if "whatsapp" in model else self.channel,
            "messenger.contact": self.contact,
            "messenger.flow": self.flow,
            "messenger.price.alert": self.alert,
            "messenger.support.article": self.article,
            "messenger.warming": self.warming,
            "product.template": self.product,
            "res.partner": self.partner,
            "sale.order": self.order,
        }[model].ids

    # -- methods -------------------------------------------------------------------------
    def public_methods(self):
        found = set()
        for name in self.env.registry:
            cls = self.env.registry[name]
            for attr in dir(cls):
                if attr.startswith("_") or attr in NOT_LISTED:
                    continue
                owner = next((k for k in cls.__mro__ if attr in k.__dict__), None)
                if owner and owner.__module__.startswith(OUR_MODULES) and callable(owner.__dict__[attr]):
                    found.add((name, attr))
        return found

    def test_every_public_method_listed(self):
        found = self.public_methods()
        self.assertEqual(sorted(found - set(METHODS)), [], "add these public methods to METHODS")
        self.assertEqual(sorted(set(METHODS) - found), [], "METHODS names methods that do not exist")

    def test_public_methods_by_role(self):
        for (model, method), allowed in sorted(METHODS.items()):
            is_model_method = method == "messenger_unread_summary"
            for role in ROLES:
                with self.subTest(model=model, method=method, role=role):
                    args = [] if is_model_method else [self.target(model, role)]
                    if method == "action_sync_whatsapp_templates":
                        args = [self.whatsapp.ids]
                    before = self.provider_requests()
                    if role in allowed:
                        self.assert_allowed(role, model, method, *args)
                    else:
                        self.assert_refused(role, model, method, *args)
                        self.assertEqual(self.provider_requests(), before, "a refused call reached the provider")

    def test_provider_calls_reach_the_provider_only_for_managers(self):
        """The calls that were heard by the provider before any check: the fakes hear none
        of them from anyone but a manager of the channel's company."""
        calls = [
            (self.channel, "action_test_connection"),
            (self.channel, "action_register_webhook"),
            (self.channel, "action_unregister_webhook"),
            (self.whatsapp, "action_sync_whatsapp_templates"),
        ]
        for role in ("portal", "employee", "salesman", "user", "manager_b"):
            for channel, method in calls:
                self.assert_refused(role, "messenger.channel", method, channel.ids)
        self.assertEqual(self.fake.calls, [])
        self.assertEqual(self.graph.calls, [])
        self.assertFalse(self.channel.webhook_registered)
        for channel, method in calls:
            self.assert_allowed("manager", "messenger.channel", method, channel.ids)
        self.assertTrue(self.fake.calls, "the manager's calls do reach Telegram")
        self.assertTrue(self.graph.calls)

    # -- fields --------------------------------------------------------------------------
    def test_protected_fields_refused_for_every_group(self):
        values = {
            "state": "subscribed",
            "answered_by": "bot",
            "channel_id": self.sandbox.id,
            "last_operator_id": self.users["user"].id,
            "webhook_registered": True,
            "unread_count": 0,
            "waiting_reply": False,
            "pacing_next_slot": fields.Datetime.to_string(fields.Datetime.now()),
            "last_message_at": fields.Datetime.to_string(fields.Datetime.now()),
            "last_inbound_at": fields.Datetime.to_string(fields.Datetime.now()),
            "handoff_at": fields.Datetime.to_string(fields.Datetime.now()),
        }
        records = {"messenger.channel": self.channel, "messenger.contact": self.contact}
        for model, names in PROTECTED.items():
            for name in sorted(names):
                value = values.get(name, "x")
                for role in ("user", "manager"):
                    with self.subTest(model=model, field=name, role=role):
                        fault = self.assert_refused(role, model, "write", records[model].ids, {name: value})
                        self.assertIn("set by the system only", fault.faultString)
        self.assertEqual(self.contact.chat_id, "5001")
        self.assertEqual(self.contact.channel_id, self.channel)
        # and not at creation either
        vals = {"name": "New", "channel_id": self.sandbox.id, "chat_id": "x1", "state": "subscribed"}
        self.assert_refused("manager", "messenger.contact", "create", [vals])
        vals = {"name": "New", "provider": "sandbox", "webhook_secret": "mine"}
        self.assert_refused("manager", "messenger.channel", "create", [vals])

    def test_outbox_is_not_writable_over_rpc(self):
        """Messages are made by the features, not over RPC: else a user could point a
        message's chatter log at any mail.message and have it overwritten as superuser."""
        note = self.partner.message_post(body="Somebody's private note", message_type="comment")
        message = self.contact._send("Hello")
        vals = {
            "channel_id": self.channel.id,
            "contact_id": self.contact.id,
            "body": "forged",
            "chatter_log_id": note.id,
        }
        for role in ("user", "manager"):
            self.assert_refused(role, "messenger.message", "create", [vals])
            for field_vals in (
                {"chatter_log_id": note.id},
                {"state": "sent"},
                {"provider_message_id": "1"},
                {"body": "changed"},
                {"contact_id": self.contact.id},
            ):
                self.assert_refused(role, "messenger.message", "write", message.ids, field_vals)
            self.assert_refused(role, "messenger.message", "unlink", message.ids)
        self.assertIn("Somebody's private note", note.body)
        self.assertEqual((message.state, message.body), ("queued", "Hello"))

    def test_search_on_every_field(self):
        """Searching a field is reading it: a field of a group the caller lacks is refused,
        and no search answers with a server error."""
        for model in ("messenger.channel", "messenger.contact", "messenger.message", "messenger.consent.log"):
            for name, field in self.env[model]._fields.items():
                ours = field._module in OUR_ADDONS  # mail.thread's own fields are Odoo's to answer for
                if not ours or not (field.store or field.search) or field.type in ("binary", "json", "html"):
                    continue
                for role in ("user", "manager"):
                    with self.subTest(model=model, field=name, role=role):
                        groups = field.groups or ""
                        if groups and not all(self.users[role].has_group(g) for g in groups.split(",")):
                            self.assert_refused(role, model, "search_count", [(name, "!=", False)])
                        else:
                            self.assert_allowed(role, model, "search_count", [(name, "!=", False)])
        # the webhook address is a secret too (it holds the key): no search oracle on it
        url = self.channel.webhook_url
        self.assert_refused("user", "messenger.channel", "search_count", [("webhook_url", "=", url)])
        self.assert_refused("user", "messenger.channel", "search_count", [("webhook_url", "like", "webhook")])
        done, count = self.rpc("manager", "messenger.channel", "search_count", [("webhook_url", "=", url)])
        self.assertEqual((done, count), (True, 1))

    # -- consent ---------------------------------------------------------------------------
    def test_consent_changes_only_through_logged_methods(self):
        contact = self.env["messenger.contact"].create(
            {"name": "Consent", "channel_id": self.channel.id, "chat_id": "c1"}
        )
        self.assertEqual(contact.consent_log_ids.mapped("method"), ["manual"])
        self.assert_refused("user", "messenger.contact", "write", contact.ids, {"state": "unsubscribed"})
        self.assert_allowed("user", "messenger.contact", "action_unsubscribe", contact.ids)
        self.assertEqual(contact.state, "unsubscribed")
        line = contact.consent_log_ids.sorted("id")[-1]
        self.assertEqual(
            (line.state, line.method, line.actor, line.user_id), ("unsubscribed", "manual", "user", self.users["user"])
        )
        # append-only, for every group
        for role in ("user", "manager"):
            self.assert_refused(
                role,
                "messenger.consent.log",
                "create",
                [{"contact_id": contact.id, "state": "subscribed", "method": "start"}],
            )
            self.assert_refused(role, "messenger.consent.log", "write", line.ids, {"state": "subscribed"})
            self.assert_refused(role, "messenger.consent.log", "unlink", line.ids)
        with self.assertRaises(AccessError):
            line.sudo().write({"source": "rewritten"})
        with self.assertRaises(AccessError):
            line.sudo().unlink()
        # a customer's change says so
        contact._unsubscribe("stop_word", "stop")  # already unsubscribed: no new line
        contact._set_consent("subscribed", "start", "/start")
        newest = contact.consent_log_ids.sorted("id")[-1]
        self.assertEqual((newest.state, newest.actor, newest.user_id.id), ("subscribed", "customer", False))
        self.assertEqual(len(contact.consent_log_ids), 3)

    # -- leads -----------------------------------------------------------------------------
    def test_lead_links_to_a_conversation_only_for_who_may_read_it(self):
        own = self.env["crm.lead"].create({"name": "Salesman's lead"})
        # a salesperson without the messenger group cannot tie their lead to a customer's chat
        self.assert_refused("salesman", "crm.lead", "write", own.ids, {"messenger_contact_id": self.contact.id})
        self.assert_refused(
            "salesman", "crm.lead", "create", [{"name": "Takeover", "messenger_contact_id": self.contact.id}]
        )
        self.assertFalse(own.messenger_contact_id)
        # nor can a manager of another company
        self.assert_refused("manager_b", "crm.lead", "write", own.ids, {"messenger_contact_id": self.contact.id})
        # a Messenger User may
        self.assert_allowed("user", "crm.lead", "write", own.ids, {"messenger_contact_id": self.contact.id})
        self.assertEqual(own.messenger_contact_id, self.contact)

    def post_as(self, role, record, body, subtype="mail.mt_comment"):
        """Post in a record's chatter as the web client does (its /mail/message/post)."""
        self.authenticate(self.users[role].login, self.passwords[role])
        return self.make_jsonrpc_request(
            "/mail/message/post",
            {
                "thread_model": record._name,
                "thread_id": record.id,
                "post_data": {"body": body, "message_type": "comment", "subtype_xmlid": subtype},
            },
        )

    def test_posting_on_a_chat_lead_needs_the_messenger_group(self):
        before = self.contact.message_ids_messenger
        with self.assertRaises(JsonRpcException) as caught:
            self.post_as("salesman", self.lead, "Hi, it's me")
        self.assertEqual(str(caught.exception), "odoo.exceptions.AccessError")
        self.assertEqual(self.contact.message_ids_messenger, before, "nothing went to the customer")
        self.assertFalse(self.lead.message_ids.filtered(lambda m: "it's me" in (m.body or "")), "the post is undone")
        # a note stays a note, for anyone who may post on the lead
        self.post_as("salesman", self.lead, "internal remark", subtype="mail.mt_note")
        self.assertTrue(self.lead.message_ids.filtered(lambda m: "internal remark" in (m.body or "")))
        self.assertEqual(self.contact.message_ids_messenger, before)
        # the Messenger User writes to the customer
        self.post_as("user", self.lead, "Hello from sales")
        sent = self.contact.message_ids_messenger - before
        self.assertEqual(sent.mapped("body"), ["Hello from sales"])

    # -- the customer's words ----------------------------------------------------------------
    def test_customer_words_stay_in_the_conversation(self):
        from ..core.providers import InboundEvent

        self.contact.sudo().write({"name": 'Bank "Security" <security@bank.example>\r\nBcc: all@example.com'})
        self.contact._conversation()._messenger_join(self.users["user"])
        self.env["messenger.inbound"]._process(
            self.channel,
            [InboundEvent(event_id="tb-1", kind="message", chat_id=self.contact.chat_id, text="my card number")],
        )
        conversation = self.contact.discuss_channel_id
        posted = conversation.message_ids.filtered(lambda m: "my card number" in (m.body or ""))
        self.assertEqual(len(posted), 1)
        # the customer writes as the conversation's guest: no sender address, no e-mail at all
        self.assertEqual((posted.author_guest_id, posted.author_id), (self.contact.guest_id, self.env["res.partner"]))
        self.assertFalse(posted.email_from)
        self.assertNotIn("@bank.example", self.contact.guest_id.name)
        self.assertNotIn("\n", self.contact.guest_id.name)
        self.assertIn("Security", self.contact.guest_id.name, "the name's words are kept")
        self.assertFalse(self.env["mail.mail"].sudo().search([("mail_message_id", "=", posted.id)]))
        self.assertFalse(self.contact.message_ids.filtered(lambda m: "my card number" in (m.body or "")))
        # the partner's chatter, which every employee reads, does not carry it
        self.assertFalse(self.partner.message_ids.filtered(lambda m: "my card number" in (m.body or "")))
        done, rows = self.rpc(
            "employee", "mail.message", "search_read", [("body", "ilike", "my card number")], fields=["body"]
        )
        self.assertTrue(done)
        self.assertEqual(rows, [], "an employee without the messenger group reads none of it")
        # the salesman reads the chat lead's copy (the lead is theirs to work), not the chat
        where = {}
        for role in ("salesman", "user"):
            done, rows = self.rpc(
                role, "mail.message", "search_read", [("body", "ilike", "my card number")], fields=["model"]
            )
            where[role] = sorted(row["model"] for row in rows)
        self.assertEqual(where, {"salesman": ["crm.lead"], "user": ["crm.lead", "discuss.channel"]})


@tagged("post_install", "-at_install")
class TestTrustBoundaryRecords(TelegramSetupMixin, HttpCase):
    """What users can tie together: campaigns and channels, chats and customers, orders and
    the chats their updates go to, across groups and companies."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.channel = cls.setup_telegram(env)
        cls.company_b = env["res.company"].create({"name": "Company B"})
        cls.channel_b = env["messenger.channel"].create(
            {"name": "Bot B", "provider": "sandbox", "company_id": cls.company_b.id}
        )
        cls.marketer = new_test_user(env, "tb_marketer", groups="mass_mailing.group_mass_mailing_user")
        cls.user = new_test_user(env, "tb_user2", groups="messenger_marketing.group_messenger_user")
        cls.manager = new_test_user(
            env,
            "tb_manager2",
            groups="messenger_marketing.group_messenger_manager,mass_mailing.group_mass_mailing_user",
        )
        cls.manager_b = new_test_user(
            env,
            "tb_manager_b2",
            groups="messenger_marketing.group_messenger_manager,mass_mailing.group_mass_mailing_user",
            company_id=cls.company_b.id,
            company_ids=[(6, 0, cls.company_b.ids)],
        )
        cls.salesman = new_test_user(env, "tb_salesman2", groups="sales_team.group_sale_salesman_all_leads")
        cls.model_contact = env.ref("messenger_marketing.model_messenger_contact")

    def campaign_vals(self, channels):
        return {
            "name": "Sale",
            "subject": "Sale",
            "mailing_type": "messenger",
            "mailing_model_id": self.model_contact.id,
            "messenger_channel_ids": [(6, 0, channels.ids)],
            "messenger_body": "Everything at half price",
        }

    def test_campaigns_are_messenger_managers_own(self):
        Mailing = self.env["mailing.mailing"]
        # an Email Marketing user without the messenger group makes no messenger campaign
        with self.assertRaises(AccessError):
            Mailing.with_user(self.marketer).create(self.campaign_vals(self.channel))
        campaign = Mailing.with_user(self.manager).create(self.campaign_vals(self.channel))
        with self.assertRaises(AccessError):
            campaign.with_user(self.marketer).write({"messenger_body": "Send me your card number"})
        with self.assertRaises(AccessError):
            campaign.with_user(self.marketer).action_send_mail()
        with self.assertRaises(AccessError):
            campaign.with_user(self.marketer).action_messenger_pause()
        # ...nor turns an e-mail into one
        mail = Mailing.with_user(self.marketer).create(
            {"name": "News", "subject": "News", "mailing_model_id": self.model_contact.id}
        )
        with self.assertRaises(AccessError):
            mail.with_user(self.marketer).write(
                {"mailing_type": "messenger", "messenger_channel_ids": [(6, 0, self.channel.ids)]}
            )
        self.assertEqual(campaign.messenger_body, "Everything at half price")
        self.assertFalse(self.env["messenger.message"].search([("mailing_id", "=", campaign.id)]))

    def test_campaign_of_another_company_channel(self):
        Mailing = self.env["mailing.mailing"].with_user(self.manager_b)
        # company B's manager cannot send through company A's bot, also next to their own
        with self.assertRaises(AccessError):
            Mailing.create(self.campaign_vals(self.channel | self.channel_b))
        own = Mailing.create(self.campaign_vals(self.channel_b))
        with self.assertRaises(AccessError):
            own.write({"messenger_channel_ids": [(4, self.channel.id)]})
        # a campaign of both companies' channels is company B's no more than A's
        both = self.env["mailing.mailing"].create(self.campaign_vals(self.channel | self.channel_b))
        self.assertNotIn(both, Mailing.search([]))
        self.assertIn(own, Mailing.search([]))

    def test_linking_a_chat_to_a_customer_by_hand(self):
        customer = self.env["res.partner"].create({"name": "Ivan"})
        first = self.env["messenger.contact"].create({"name": "Ivan", "channel_id": self.channel.id, "chat_id": "h1"})
        stranger = self.env["messenger.contact"].create(
            {"name": "Stranger", "channel_id": self.channel.id, "chat_id": "h2"}
        )
        # a customer with no chat on the channel: the user links them, in the log as theirs
        first.with_user(self.user).write({"partner_id": customer.id})
        line = first.consent_log_ids[:1]
        self.assertEqual((first.partner_id, line.method, line.user_id), (customer, "manual", self.user))
        # taking the customer from their chat is a manager's call, and that chat is told
        with self.assertRaises(AccessError):
            stranger.with_user(self.user).write({"partner_id": customer.id})
        self.assertEqual((first.partner_id, stranger.partner_id.id), (customer, False))
        stranger.with_user(self.manager).write({"partner_id": customer.id})
        self.assertEqual((first.partner_id.id, stranger.partner_id), (False, customer))
        told = first.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(len(told), 1)
        self.assertIn("moved your updates", told.body)
        self.assertEqual(first.consent_log_ids[:1].user_id, self.manager)
        # a customer of another company is no customer of this channel
        foreign = self.env["res.partner"].create({"name": "B's customer", "company_id": self.company_b.id})
        with self.assertRaises(UserError):
            first.with_user(self.manager).write({"partner_id": foreign.id})

    def test_order_updates_go_through_the_order_company(self):
        shared = self.env["res.partner"].create({"name": "Shared customer"})
        self.env["messenger.contact"].create(
            {"name": "In A", "channel_id": self.channel.id, "chat_id": "o1", "partner_id": shared.id}
        )
        in_b = self.env["messenger.contact"].create(
            {"name": "In B", "channel_id": self.channel_b.id, "chat_id": "o2", "partner_id": shared.id}
        )
        template = self.env["messenger.template"].create(
            {"name": "Confirmed", "model_id": self.env.ref("sale.model_sale_order").id, "body": "Confirmed"}
        )
        self.env["messenger.sale.rule"].create(
            {"name": "Confirmed", "event": "confirmed", "template_id": template.id, "company_id": False}
        )
        product = self.env["product.product"].create({"name": "Chair", "list_price": 10})
        order = self.env["sale.order"].create(
            {
                "partner_id": shared.id,
                "company_id": self.company_b.id,
                "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})],
            }
        )
        order.action_confirm()
        messages = self.env["messenger.message"].search([("res_model", "=", "sale.order"), ("res_id", "=", order.id)])
        self.assertEqual(messages.contact_id, in_b, "company B's order is told through company B's bot only")

    def test_shared_phone_binds_a_customer_of_the_channel_company(self):
        foreign = self.env["res.partner"].create(
            {"name": "B's customer", "phone": "+7 912 345-67-89", "company_id": self.company_b.id}
        )
        contact = self.env["messenger.contact"].create({"name": "P", "channel_id": self.channel.id, "chat_id": "p1"})
        contact._bind_phone("+79123456789", create_partner=False)
        self.assertFalse(contact.partner_id, "company A's bot is not linked to company B's customer")
        self.assertFalse(foreign.messenger_contact_ids)
        own = self.env["res.partner"].create({"name": "A's customer", "phone": "+7 912 345-67-89"})
        contact._bind_phone("+79123456789", create_partner=False)
        self.assertEqual(contact.partner_id, own)

    def test_copied_chat_lead_leaves_the_chat(self):
        contact = self.env["messenger.contact"].create({"name": "L", "channel_id": self.channel.id, "chat_id": "l1"})
        lead = self.env["crm.lead"].create({"name": "Chat lead", "messenger_contact_id": contact.id})
        copy = lead.with_user(self.salesman).copy()
        self.assertFalse(copy.messenger_contact_id)
        self.assertEqual(lead.messenger_contact_id, contact)

    def test_api_address_is_for_system_administrators(self):
        """The server sends the channel's token to that address."""
        with self.assertRaises(AccessError):
            self.channel.with_user(self.manager).write({"api_base_url": "http://169.254.169.254/"})
        with self.assertRaises(AccessError):
            self.channel.with_user(self.manager).read(["api_base_url"])
        setup = self.env["messenger.channel.setup"].with_user(self.manager).create({"provider": "sandbox"})
        with self.assertRaises(AccessError):
            setup.write({"api_base_url": "http://169.254.169.254/"})
        # and the assistant's channel is the one it made, not one named over RPC
        with self.assertRaises(AccessError):
            setup.write({"channel_id": self.channel.id})
        with self.assertRaises(AccessError):
            self.env["messenger.channel.setup"].with_user(self.manager_b).create(
                {"provider": "sandbox", "channel_id": self.channel.id}
            )
        setup.action_next()
        self.assertEqual(setup.channel_id.provider, "sandbox")
