"""Telegram paid broadcasts (against the fake's 1,000/s paid and 30/s free limits) and the
provider cost every campaign shows before launch."""

from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from .common import MessengerCase
from .test_campaign import CampaignMixin


@tagged("post_install", "-at_install")
class TestPaidBroadcast(CampaignMixin, MessengerCase):
    def test_budget_stop_and_free_pace_on_the_same_channel(self):
        self.assertEqual(self.channel.rate_limit, 30)
        paid_people, _paid_contacts = self.make_people(600, start=200000)
        free_people, _free_contacts = self.make_people(90, start=300000)
        ordinary = self.make_mailing(free_people)
        paid = self.make_mailing(paid_people, messenger_paid_broadcast=True, messenger_stars_budget=45)
        self.assertEqual(paid.messenger_reachable_count, 600)
        self.assertAlmostEqual(paid.messenger_cost_stars, 60.0, msg="0.1 Stars per message, before launch")
        self.assertEqual(ordinary.messenger_cost_stars, 0.0)
        ordinary._messenger_launch()
        paid._messenger_launch()
        self.assertEqual(set(self.campaign_messages(paid).mapped("paid_broadcast")), {True})
        self.assertEqual(set(self.campaign_messages(ordinary).mapped("paid_broadcast")), {False})
        self.dispatch(budget=8)

        # the budget holds: 45 Stars pay for 450 messages, the rest waits for a person
        sent = self.fake.sent
        paid_sent = [s for s in sent if s["paid"]]
        free_sent = [s for s in sent if not s["paid"]]
        self.assertEqual(len(paid_sent), 450)
        self.assertEqual(self.fake.stars_spent, 45.0)
        self.assertTrue(paid.messenger_paused)
        self.assertIn("budget of 45", paid.message_ids[0].body)
        # the advice is what works: paid broadcast is read-only while sending, and its
        # messages keep their lane
        self.assertIn("Raise the budget, then resume", paid.message_ids[0].body)
        self.assertNotIn("turn paid broadcast off", paid.message_ids[0].body)
        self.assertEqual(len(self.campaign_messages(paid).filtered(lambda m: m.state == "held")), 150)
        self.assertEqual(paid.state, "sending", "a paused campaign is still sending")
        paid.invalidate_recordset()
        self.assertAlmostEqual(paid.messenger_stars_spent, 45.0)

        # paid messages went at the paid pace, the ordinary campaign's at the free one
        self.assertEqual(len(free_sent), 90)
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        self.assertEqual(self.fake.paid_violations, 0)
        paid_span = paid_sent[-1]["at"] - paid_sent[0]["at"]
        self.assertLess(paid_span, 450 / 30 / 2, "paid broadcasts go well above the free 30/s")
        free_times = [s["at"] for s in free_sent]
        for i in range(len(free_times) - 30):
            self.assertGreater(free_times[i + 30] - free_times[i], 1.0, "never more than 30 free sends a second")
        self.assertEqual(ordinary.state, "done")

        # resuming without a higher budget sends nothing more
        paid.action_messenger_resume()
        self.dispatch(budget=3)
        self.assertEqual(len([s for s in self.fake.sent if s["paid"]]), 450)
        self.assertTrue(paid.messenger_paused)
        # a higher budget lets the rest go
        paid.messenger_stars_budget = 60
        paid.action_messenger_resume()
        self.dispatch(budget=3)
        self.assertEqual(self.fake.stars_spent, 60.0)
        self.assertEqual(paid.state, "done")


@tagged("post_install", "-at_install")
class TestCampaignCost(CampaignMixin, MessengerCase):
    def test_whatsapp_cost_by_country_and_category(self):
        whatsapp = self.env["messenger.channel"].create(
            {"name": "WhatsApp shop", "provider": "whatsapp", "whatsapp_account_id": "WABA-1"}
        )
        template = (
            self.env["messenger.whatsapp.template"]
            .sudo()
            .create(
                {
                    "name": "spring_sale",
                    "language": "en_US",
                    "category": "marketing",
                    "status": "approved",
                    "account_id": "WABA-1",
                    "channel_id": whatsapp.id,
                }
            )
        )
        Price = self.env["messenger.whatsapp.price"]
        germany = self.env.ref("base.de")
        self.assertTrue(Price.search([("country_id", "=", germany.id), ("category", "=", "marketing")]), "seeded")
        prices = {p.country_id.code or "other": p.price for p in Price.search([("category", "=", "marketing")])}
        numbers = {
            "491701234567": "DE",
            "491709999999": "DE",
            "919812345678": "IN",
            "15551230000": "US",
            "33612345678": "other",
        }
        partners = self.env["res.partner"].create([{"name": f"WA {n}"} for n in numbers])
        self.env["messenger.contact"].create(
            [
                {"name": p.name, "channel_id": whatsapp.id, "chat_id": n, "partner_id": p.id}
                for p, n in zip(partners, numbers, strict=True)
            ]
        )
        # one German wrote an hour ago: inside the window the text goes free of charge
        inside = self.env["messenger.contact"].search([("chat_id", "=", "491709999999")])
        inside.last_inbound_at = fields.Datetime.now() - timedelta(hours=1)
        mailing = self.make_mailing(
            partners, messenger_channel_ids=[(6, 0, whatsapp.ids)], messenger_whatsapp_template_id=template.id
        )
        expected = prices["DE"] + prices["IN"] + prices["US"] + prices["other"]
        self.assertEqual(mailing.messenger_reachable_count, 5)
        self.assertAlmostEqual(mailing.messenger_cost_usd, expected, places=4)
        # the manager updates a price: the estimate follows
        Price.search([("country_id", "=", germany.id), ("category", "=", "marketing")]).price = 1.0
        mailing.invalidate_recordset(["messenger_cost_usd"])
        self.assertAlmostEqual(mailing.messenger_cost_usd, expected - prices["DE"] + 1.0, places=4)
        # a utility template costs its category's price
        template.category = "utility"
        mailing.invalidate_recordset(["messenger_cost_usd"])
        utility = {p.country_id.code or "other": p.price for p in Price.search([("category", "=", "utility")])}
        self.assertAlmostEqual(
            mailing.messenger_cost_usd, utility["DE"] + utility["IN"] + utility["US"] + utility["other"], places=4
        )
        # countries sharing a calling code (+1): the partner's country, else the price entered first
        template.category = "marketing"
        canada = self.env.ref("base.ca")
        Price.create({"country_id": canada.id, "category": "marketing", "price": 0.5})
        american = partners.filtered(lambda p: p.name == "WA 15551230000")
        for country, price in ((canada, 0.5), (self.env.ref("base.us"), prices["US"]), (False, prices["US"])):
            with self.subTest(country=country and country.code):
                american.country_id = country
                mailing.invalidate_recordset(["messenger_cost_usd"])
                self.assertAlmostEqual(mailing.messenger_cost_usd, expected - prices["DE"] + 1.0 - prices["US"] + price)
