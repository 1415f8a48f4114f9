from odoo.tests import tagged

from .common import MessengerCase


@tagged("post_install", "-at_install")
class TestPriceAlerts(MessengerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.product = cls.env["product.template"].create({"name": "Walnut shelf", "list_price": 100.0})
        cls.other = cls.env["product.template"].create({"name": "Pine shelf", "list_price": 50.0})
        cls.currency = cls.product.currency_id

    def subscribe(self, count, product=None, start=7000, state="subscribed"):
        partners = self.env["res.partner"].create([{"name": f"Fan {start + i}"} for i in range(count)])
        contacts = self.env["messenger.contact"].create(
            [
                {"name": p.name, "channel_id": self.channel.id, "chat_id": str(start + i), "partner_id": p.id}
                for i, p in enumerate(partners)
            ]
        )
        for contact in contacts:
            self.env["messenger.price.alert"]._subscribe(contact, product or self.product)
        contacts.write({"state": state})
        return contacts

    def alerts_for(self, contacts):
        return self.env["messenger.message"].search([("contact_id", "in", contacts.ids), ("direction", "=", "out")])

    def test_drops_raise_and_twice(self):
        fans = self.subscribe(3)
        gone = self.subscribe(1, start=7100, state="unsubscribed")
        self.subscribe(2, product=self.other, start=7200)
        self.product.list_price = 80.0
        messages = self.alerts_for(fans | gone)
        self.assertEqual(len(messages), 3, "one per subscribed subscriber")
        self.assertEqual(messages.contact_id, fans)
        self.assertEqual(set(messages.mapped("kind")), {"marketing"})
        self.assertIn("100.00", messages[0].body)
        self.assertIn("80.00", messages[0].body)
        self.assertIn("Walnut shelf", messages[0].body)
        self.product.list_price = 120.0
        self.assertEqual(len(self.alerts_for(fans)), 3, "a raise says nothing")
        self.product.list_price = 110.0
        self.product.list_price = 90.0
        self.assertEqual(len(self.alerts_for(fans)), 9, "two drops, two messages each")
        self.assertIn("110.00", self.alerts_for(fans)[0].body)
        self.product.write({"name": "Walnut shelf XL"})  # no price change: nothing
        self.product.list_price = 90.0
        self.assertEqual(len(self.alerts_for(fans)), 9)
        alert = fans[0].price_alert_ids
        self.assertEqual((alert.last_price, alert.alert_count), (90.0, 3))
        # the alert goes out like any marketing message, with the way out
        self.dispatch(budget=10)
        self.assertEqual(len(self.fake.texts(fans[0].chat_id)), 3)
        self.assertEqual(self.fake.sent[-1]["reply_markup"]["inline_keyboard"][-1][0]["callback_data"], "unsub")

    def test_price_in_the_subscribers_pricelist(self):
        # the first pricelist is everyone's default: a plain one, then the VIP's
        self.env["product.pricelist"].create({"name": "Standard", "sequence": 1, "currency_id": self.currency.id})
        vip = self.env["product.pricelist"].create(
            {
                "name": "VIP",
                "sequence": 50,
                "currency_id": self.currency.id,
                "item_ids": [(0, 0, {"applied_on": "3_global", "compute_price": "percentage", "percent_price": 10})],
            }
        )
        regular, vips = self.subscribe(1, start=7300), self.subscribe(1, start=7400)
        vips.partner_id.property_product_pricelist = vip
        # a better pricelist is a lower price for that person: it counts as a drop
        self.env["messenger.price.alert"]._check_drops(self.product)
        self.assertFalse(self.alerts_for(regular))
        self.assertIn("90.00", self.alerts_for(vips).body)
        self.assertEqual(vips.price_alert_ids.last_price, 90.0)
        # a rule of the VIP pricelist lowers only the VIP's price
        self.env["product.pricelist.item"].create(
            {
                "pricelist_id": vip.id,
                "applied_on": "1_product",
                "product_tmpl_id": self.product.id,
                "compute_price": "fixed",
                "fixed_price": 70.0,
            }
        )
        self.assertFalse(self.alerts_for(regular))
        latest = self.alerts_for(vips)[0]
        self.assertEqual(len(self.alerts_for(vips)), 2)
        self.assertIn("70.00", latest.body)
        self.assertIn("90.00", latest.body)
        # the list price drop reaches the regular customer; the VIP's fixed price does not move
        self.product.list_price = 95.0
        self.assertIn("95.00", self.alerts_for(regular).body)
        self.assertEqual(len(self.alerts_for(vips)), 2)

    def test_queries_do_not_grow_with_subscribers(self):
        def queries_for(count, start, price):
            self.subscribe(count, start=start)
            self.env.flush_all()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.product.list_price = price
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        small = queries_for(5, 8000, 95.0)
        large = queries_for(60, 9000, 90.0)
        self.assertEqual(len(self.env["messenger.message"].search([("res_model", "=", "product.template")])), 5 + 65)
        self.assertLess(large - small, 25, f"{small} queries for 5 subscribers, {large} for 65")
