from odoo import fields
from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestReach(MessengerCase):
    """One rule decides which contact reaches a partner: messenger.contact's
    _reachable_by_partner, for order messages and the composer, and the campaign audience
    SQL, which says the same for 100,000 recipients at once."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_b = env["res.company"].create({"name": "Shop B"})
        cls.second = env["messenger.channel"].create(
            {"name": "Second bot", "provider": "telegram", "token": "2:second", "api_base_url": cls.fake.url}
        )
        cls.foreign = env["messenger.channel"].create(
            {
                "name": "Shop B bot",
                "provider": "telegram",
                "token": "3:foreign",
                "api_base_url": cls.fake.url,
                "company_id": cls.company_b.id,
            }
        )
        cls.campaign_channels = cls.channel | cls.second
        Partner, Contact = env["res.partner"], env["messenger.contact"]
        cls.chat = 50000

        def contact(partner, channel=cls.channel, state="subscribed", minutes_ago=None):
            cls.chat += 1
            vals = {"name": partner.name, "channel_id": channel.id, "chat_id": str(cls.chat), "partner_id": partner.id}
            made = Contact.create({**vals, "state": state})
            if minutes_ago is not None:
                made.sudo().with_context(tracking_disable=True)._write(
                    {"last_message_at": fields.Datetime.subtract(fields.Datetime.now(), minutes=minutes_ago)}
                )
            return made

        def company(name):
            return Partner.create({"name": name, "is_company": True})

        p = {}
        p["own"] = Partner.create({"name": "Own contact"})
        cls.own = contact(p["own"])
        # an employee without a contact of their own: their company's contact
        acme = company("Acme")
        p["employee"] = Partner.create({"name": "Acme buyer", "parent_id": acme.id})
        cls.acme_contact = contact(acme)
        # an employee with their own contact: theirs, not the company's
        globex = company("Globex")
        contact(globex, minutes_ago=1)
        p["employee_own"] = Partner.create({"name": "Globex buyer", "parent_id": globex.id})
        cls.employee_own = contact(p["employee_own"], minutes_ago=500)
        # several contacts: the one used last; without any use, the newest
        p["several"] = Partner.create({"name": "Two chats"})
        contact(p["several"], minutes_ago=60)
        cls.recent = contact(p["several"], channel=cls.second, minutes_ago=5)
        contact(p["several"])
        p["unused"] = Partner.create({"name": "Never wrote"})
        contact(p["unused"])
        cls.newest = contact(p["unused"], channel=cls.second)
        # blocked or unsubscribed: not for a campaign; an employee's falls back to the company's
        p["blocked"] = Partner.create({"name": "Blocked"})
        contact(p["blocked"], state="blocked")
        initech = company("Initech")
        cls.initech_contact = contact(initech)
        p["unsubscribed_employee"] = Partner.create({"name": "Initech buyer", "parent_id": initech.id})
        contact(p["unsubscribed_employee"], state="unsubscribed", minutes_ago=0)
        p["unsubscribed"] = Partner.create({"name": "Unsubscribed"})
        cls.unsubscribed = contact(p["unsubscribed"], state="unsubscribed", minutes_ago=10)
        cls.subscribed_too = contact(p["unsubscribed"], channel=cls.second, minutes_ago=900)
        # only a chat with another company's bot, which the campaign does not use
        p["other_company"] = Partner.create({"name": "Shop B customer"})
        cls.foreign_contact = contact(p["other_company"], channel=cls.foreign)
        # their own chat is on a bot the campaign does not use: their company's on one it does
        umbrella = company("Umbrella")
        cls.umbrella_contact = contact(umbrella, channel=cls.second)
        p["employee_elsewhere"] = Partner.create({"name": "Umbrella buyer", "parent_id": umbrella.id})
        contact(p["employee_elsewhere"], channel=cls.foreign)
        p["nobody"] = Partner.create({"name": "No chat"})
        cls.people = p

    def partners(self):
        return self.env["res.partner"].union(*self.people.values())

    def campaign_pick(self, partners):
        """{partner id: contact id} as the campaign's audience SQL picks them."""
        mailing = self.env["mailing.mailing"].create(
            {
                "name": "Reach",
                "subject": "Reach",
                "mailing_type": "messenger",
                "mailing_model_id": self.env.ref("base.model_res_partner").id,
                "mailing_domain": repr([("id", "in", partners.ids)]),
                "messenger_channel_ids": [(6, 0, self.campaign_channels.ids)],
                "messenger_body": "Hello",
            }
        )
        self.env.flush_all()
        mailing._messenger_audience_table(partners.ids)
        ctes, params = mailing._messenger_candidates_sql()
        self.env.cr.execute(f"WITH {ctes} SELECT res_id, contact_id FROM candidates", params)
        return dict(self.env.cr.fetchall())

    def test_campaign_sql_and_python_pick_the_same_contact(self):
        partners = self.partners()
        python = self.env["messenger.contact"]._reachable_by_partner(partners, "marketing", self.campaign_channels)
        expected = {
            "own": self.own,
            "employee": self.acme_contact,
            "employee_own": self.employee_own,
            "several": self.recent,
            "unused": self.newest,
            "unsubscribed_employee": self.initech_contact,
            "unsubscribed": self.subscribed_too,
            "employee_elsewhere": self.umbrella_contact,
        }
        self.assertEqual(
            {key: python.get(partner.id) for key, partner in self.people.items() if partner.id in python},
            expected,
        )
        self.assertEqual(self.campaign_pick(partners), {pid: contact.id for pid, contact in python.items()})

    def test_company_of_the_record_and_the_rule_channel(self):
        Contact = self.env["messenger.contact"]
        customer = self.people["other_company"]
        self.assertEqual(Contact._reachable_by_partner(customer, "transactional")[customer.id], self.foreign_contact)
        self.assertFalse(Contact._reachable_by_partner(customer, "transactional", company=self.env.company))
        self.assertEqual(
            Contact._reachable_by_partner(customer, "transactional", company=self.company_b)[customer.id],
            self.foreign_contact,
        )
        several = self.people["several"]
        self.assertNotEqual(
            Contact._reachable_by_partner(several, "transactional", self.channel)[several.id], self.recent
        )
        # an unsubscribed chat still gets order updates (unless its channel asks for consent)
        unsubscribed = self.people["unsubscribed"]
        self.assertEqual(
            Contact._reachable_by_partner(unsubscribed, "transactional")[unsubscribed.id], self.unsubscribed
        )

    def test_order_messages_follow_the_rule_with_the_order_company(self):
        customer = self.people["other_company"]
        Order = self.env["sale.order"]
        here = Order.create({"partner_id": customer.id})
        there = Order.create({"partner_id": customer.id, "company_id": self.company_b.id})
        employee = Order.create({"partner_id": self.people["employee"].id})
        orders = here | there | employee
        orders.action_quotation_sent()
        messages = self.env["messenger.message"].search(
            [("res_model", "=", "sale.order"), ("res_id", "in", orders.ids)]
        )
        self.assertEqual(
            {(m.res_id, m.contact_id) for m in messages},
            {(there.id, self.foreign_contact), (employee.id, self.acme_contact)},
            "a shared customer hears of company B's order from company B's bot only",
        )
        self.assertIn("no messenger contact", here.message_ids[:1].body)
