import importlib.util

from odoo.exceptions import AccessError, UserError
from odoo.modules.module import get_module_path
from odoo.tests import HttpCase, new_test_user, tagged

from ..core.providers import InboundEvent
from .common import TelegramSetupMixin
from .flow_common import FlowSetupMixin, TelegramUpdatesMixin


@tagged("post_install", "-at_install")
class TestMultiCompany(FlowSetupMixin, TelegramUpdatesMixin, TelegramSetupMixin, HttpCase):
    """Two companies, a channel in each: what the bot of company A records through its
    webhook, and what company A configured, is seen by company A's users only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_a = env.company
        cls.company_b = env["res.company"].create({"name": "Company B"})
        cls.channel = cls.setup_telegram(env)  # in company A, the current company
        cls.setup_flow()
        cls.channel_b = env["messenger.channel"].create(
            {"name": "B bot", "provider": "sandbox", "company_id": cls.company_b.id}
        )
        # configuration of company A beyond the flow: warming, order follow-ups, WhatsApp
        cls.warming = env["messenger.warming"].create(
            {"name": "A nurture", "step_ids": [(0, 0, {"text": "How to choose a desk."})]}
        )
        order_model = env["ir.model"]._get("sale.order")
        cls.template = env["messenger.template"].create(
            {"name": "A order", "model_id": order_model.id, "body": "Hello", "company_id": cls.company_a.id}
        )
        cls.rule = env["messenger.sale.rule"].create(
            {
                "name": "A confirmed",
                "event": "confirmed",
                "template_id": cls.template.id,
                "step_ids": [(0, 0, {"template_id": cls.template.id})],
            }
        )
        cls.wa_template = env["messenger.whatsapp.template"].create(
            {
                "name": "a_order",
                "language": "en",
                "account_id": "1",
                "channel_id": cls.channel.id,
                "param_ids": [(0, 0, {"name": "1", "field_path": "name"})],
            }
        )
        partner = env["res.partner"].create({"name": "A customer"})
        cls.order = env["sale.order"].create({"partner_id": partner.id, "company_id": cls.company_a.id})

        def user(login, company, *groups):
            return new_test_user(
                env,
                login,
                groups=",".join(("sales_team.group_sale_salesman_all_leads", *groups)),
                company_id=company.id,
                company_ids=[(6, 0, company.ids)],
            )

        cls.manager_b = user("mc_manager_b", cls.company_b, "messenger_marketing.group_messenger_manager")
        cls.user_b = user("mc_user_b", cls.company_b, "messenger_marketing.group_messenger_user")
        cls.manager_a = user("mc_manager_a", cls.company_a, "messenger_marketing.group_messenger_manager")

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def walk_to_lead(self):
        """A person opens company A's bot from an entry link and answers up to the lead."""
        self.send_text(f"/start {self.link.payload}")
        self.press(self.payload_of(self.last_out(), "Order"))
        self.press(self.payload_of(self.last_out(), "In the office"))
        self.share_phone("79123456789")
        self.send_text("olga@example.com")
        return self.contact()

    def company_a_records(self, contact):
        notified = self.env["messenger.sale.notification"]._claim(self.order, "confirmed")
        self.assertEqual(notified, self.order)
        return {
            "messenger.contact": contact,
            "messenger.message": contact.message_ids_messenger,
            "messenger.consent.log": self.env["messenger.consent.log"].search([("contact_id", "=", contact.id)]),
            "messenger.flow.session": contact.flow_session_ids,
            "crm.lead": contact.flow_session_ids.lead_id,
            "messenger.flow": self.flow,
            "messenger.flow.step": self.flow.step_ids,
            "messenger.flow.button": self.flow.step_ids.button_ids,
            "messenger.flow.link": self.link,
            "messenger.warming.step": self.warming.step_ids,
            "messenger.template": self.template,
            "messenger.sale.rule.step": self.rule.step_ids,
            "messenger.sale.notification": self.env["messenger.sale.notification"].search(
                [("order_id", "=", self.order.id)]
            ),
            "messenger.whatsapp.template.param": self.wa_template.param_ids,
        }

    def test_webhook_records_belong_to_the_channels_company_and_are_hidden_from_others(self):
        contact = self.walk_to_lead()
        self.assertTrue(contact)
        self.assertEqual(contact.company_id, self.company_a, "the webhook's contact has the channel's company")
        records = self.company_a_records(contact)
        for model, found in records.items():
            self.assertTrue(found, f"the test made no {model}")
            if "company_id" in found._fields and found._fields["company_id"].store:
                self.assertEqual(found.company_id, self.company_a, model)
        self.assertEqual(len(records["messenger.message"].filtered(lambda m: m.direction == "in")), 5)
        self.assertEqual(records["crm.lead"].email_from, "olga@example.com")

        for user in (self.manager_b, self.user_b):
            for model, found in records.items():
                with self.subTest(user=user.login, model=model):
                    as_user = self.env[model].with_user(user)
                    if model == "messenger.sale.notification" and user == self.user_b:
                        # not even its own company's: Messenger Users have no access to the model
                        self.assertFalse(as_user.has_access("read"))
                        continue
                    self.assertFalse(as_user.search([("id", "in", found.ids)]), model)
                    with self.assertRaises(AccessError):
                        found.with_user(user).read(["display_name"])
        # the same records, for a Messenger Manager of company A
        for model, found in records.items():
            as_a = self.env[model].with_user(self.manager_a)
            self.assertEqual(as_a.search([("id", "in", found.ids)]), found.with_user(self.manager_a), model)
            found.with_user(self.manager_a).read(["display_name"])

    def test_company_b_gets_its_own_contact(self):
        """A person of company B's bot is B's, out of sight of company A's user."""
        start = InboundEvent(kind="start", event_id="start-b-1", chat_id="b-1", name="Bob", text="/start")
        self.env["messenger.inbound"]._process(self.channel_b, [start])
        contact_b = self.env["messenger.contact"].search([("channel_id", "=", self.channel_b.id)])
        self.assertEqual(contact_b.company_id, self.company_b)
        self.assertEqual(
            self.env["messenger.consent.log"].search([("contact_id", "=", contact_b.id)]).company_id, self.company_b
        )
        self.assertFalse(self.env["messenger.contact"].with_user(self.manager_a).search([("id", "=", contact_b.id)]))
        self.assertEqual(
            self.env["messenger.contact"].with_user(self.user_b).search([("id", "=", contact_b.id)]), contact_b
        )

    def test_no_link_across_companies(self):
        flow_b = self.env["messenger.flow"].create({"name": "B landing", "company_id": self.company_b.id})
        with self.assertRaises(UserError):
            self.channel.landing_flow_id = flow_b
        with self.assertRaises(UserError):
            self.env["messenger.flow.link"].create({"channel_id": self.channel_b.id, "flow_id": self.flow.id})
        with self.assertRaises(UserError):
            self.env["messenger.sale.rule"].create(
                {
                    "name": "B rule",
                    "event": "confirmed",
                    "template_id": self.template.id,  # company A's
                    "company_id": self.company_b.id,
                }
            )
        # shared (no company) goes with every company
        shared = self.template.copy({"company_id": False})
        rule_b = self.env["messenger.sale.rule"].create(
            {"name": "B rule", "event": "confirmed", "template_id": shared.id, "company_id": self.company_b.id}
        )
        self.assertEqual(rule_b.template_id, shared)

    def test_migration_gives_contacts_made_without_company_the_channels(self):
        """Contacts the webhook wrote before 18.0.1.1.0 have no company, nor what follows it."""
        contact = self.walk_to_lead()
        session = contact.flow_session_ids
        self.env.flush_all()
        self.env.cr.execute("UPDATE messenger_contact SET company_id = NULL WHERE id = %s", [contact.id])
        self.env.cr.execute("UPDATE messenger_flow_session SET company_id = NULL WHERE contact_id = %s", [contact.id])
        self.env.cr.execute("UPDATE messenger_consent_log SET company_id = NULL WHERE contact_id = %s", [contact.id])
        self.env.invalidate_all()
        self.assertTrue(self.env["messenger.contact"].with_user(self.user_b).search([("id", "=", contact.id)]))

        path = f"{get_module_path('messenger_marketing')}/migrations/18.0.1.1.0/post-migration.py"
        spec = importlib.util.spec_from_file_location("messenger_marketing_post_migration_18_0_1_1_0", path)
        migration = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(migration)
        migration.migrate(self.env.cr, "18.0.1.0.0")
        self.env.invalidate_all()

        self.assertEqual(contact.company_id, self.company_a)
        self.assertEqual(session.company_id, self.company_a)
        self.assertEqual(
            self.env["messenger.consent.log"].search([("contact_id", "=", contact.id)]).company_id, self.company_a
        )
        self.assertFalse(self.env["messenger.contact"].with_user(self.user_b).search([("id", "=", contact.id)]))
