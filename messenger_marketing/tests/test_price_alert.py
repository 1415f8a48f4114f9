from odoo.tests import tagged

from .common import MessengerCase


class PriceAlertCase(MessengerCase):
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

    def end_transaction(self):
        """What the commit of the user's transaction does first: flush, then the precommit
        hooks (which record the price changes and trigger the job)."""
        self.env.cr.flush()

    def run_job(self):
        self.end_transaction()
        self.env["messenger.price.alert"]._cron_check_changes()

    def job_triggers(self):
        job = self.env.ref("messenger_marketing.ir_cron_messenger_price_changes")
        return self.env["ir.cron.trigger"].search([("cron_id", "=", job.id)])


@tagged("post_install", "-at_install")
class TestPriceAlerts(PriceAlertCase):
    def test_drops_raise_and_twice(self):
        fans = self.subscribe(3)
        gone = self.subscribe(1, start=7100, state="unsubscribed")
        self.subscribe(2, product=self.other, start=7200)
        self.product.list_price = 80.0
        self.run_job()
        messages = self.alerts_for(fans | gone)
        self.assertEqual(len(messages), 3, "one per subscribed subscriber")
        self.assertEqual(messages.contact_id, fans)
        self.assertEqual(set(messages.mapped("kind")), {"marketing"})
        self.assertIn("100.00", messages[0].body)
        self.assertIn("80.00", messages[0].body)
        self.assertIn("Walnut shelf", messages[0].body)
        self.product.list_price = 120.0
        self.run_job()
        self.assertEqual(len(self.alerts_for(fans)), 3, "a raise says nothing")
        self.product.list_price = 110.0
        self.run_job()
        self.product.list_price = 90.0
        self.run_job()
        self.assertEqual(len(self.alerts_for(fans)), 9, "two drops, two messages each")
        self.assertIn("110.00", self.alerts_for(fans)[0].body)
        self.product.write({"name": "Walnut shelf XL"})  # no price change: nothing
        self.product.list_price = 90.0
        self.run_job()
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
        # a better pricelist is a lower price for that person: the daily check sees it as a drop
        self.env["messenger.price.alert"]._cron_check_drops()
        self.run_job()
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
        self.run_job()
        self.assertFalse(self.alerts_for(regular))
        latest = self.alerts_for(vips)[0]
        self.assertEqual(len(self.alerts_for(vips)), 2)
        self.assertIn("70.00", latest.body)
        self.assertIn("90.00", latest.body)
        # the list price drop reaches the regular customer; the VIP's fixed price does not move
        self.product.list_price = 95.0
        self.run_job()
        self.assertIn("95.00", self.alerts_for(regular).body)
        self.assertEqual(len(self.alerts_for(vips)), 2)

    def test_queries_do_not_grow_with_subscribers(self):
        def queries_for(count, start, price):
            self.subscribe(count, start=start)
            self.product.list_price = price
            self.end_transaction()
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            self.env["messenger.price.alert"]._cron_check_changes()
            self.env.flush_all()
            return self.env.cr.sql_log_count - before

        small = queries_for(5, 8000, 95.0)
        large = queries_for(60, 9000, 90.0)
        self.assertEqual(len(self.env["messenger.message"].search([("res_model", "=", "product.template")])), 5 + 65)
        self.assertLess(large - small, 25, f"{small} queries for 5 subscribers, {large} for 65")

    def test_batches_of_the_job(self):
        fans = self.subscribe(7, start=9500)
        self.product.list_price = 85.0
        self.end_transaction()
        self.env["messenger.price.alert"]._cron_check_changes(batch_size=3)
        self.assertEqual(len(self.alerts_for(fans)), 7, "every batch checked, each subscriber told once")
        self.assertFalse(self.env["messenger.price.change"].search([]))


@tagged("post_install", "-at_install")
class TestPriceCheckJob(PriceAlertCase):
    """A price change records what changed; one job after commit checks the alerts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Pricelist = cls.env["product.pricelist"]
        cls.standard = Pricelist.create({"name": "Standard", "sequence": 1, "currency_id": cls.currency.id})
        cls.vip = Pricelist.create({"name": "VIP", "sequence": 50, "currency_id": cls.currency.id})
        # the partners' pricelist: VIP rules carry over to it
        cls.partners_list = Pricelist.create(
            {
                "name": "Partners",
                "sequence": 60,
                "currency_id": cls.currency.id,
                "item_ids": [
                    (
                        0,
                        0,
                        {
                            "applied_on": "3_global",
                            "compute_price": "formula",
                            "base": "pricelist",
                            "base_pricelist_id": cls.vip.id,
                        },
                    )
                ],
            }
        )

    def vip_rule(self, price, product=None):
        return self.env["product.pricelist.item"].create(
            {
                "pricelist_id": self.vip.id,
                "applied_on": "1_product",
                "product_tmpl_id": (product or self.product).id,
                "compute_price": "fixed",
                "fixed_price": price,
            }
        )

    def test_pricelist_change_is_checked_by_the_job_not_the_save(self):
        vips = self.subscribe(3, start=7500)
        vips.partner_id.property_product_pricelist = self.vip
        triggers = self.job_triggers()
        self.vip_rule(70.0)
        self.end_transaction()
        self.assertFalse(self.alerts_for(vips), "the user's transaction checks nothing")
        self.assertEqual(len(self.job_triggers() - triggers), 1, "it triggers the job")
        self.env["messenger.price.alert"]._cron_check_changes()
        self.assertEqual(len(self.alerts_for(vips)), 3, "the job queues the alerts")
        self.assertIn("70.00", self.alerts_for(vips)[0].body)
        self.assertFalse(self.env["messenger.price.change"].search([]), "the job took its changes")
        self.env["messenger.price.alert"]._cron_check_changes()
        self.assertEqual(len(self.alerts_for(vips)), 3, "nothing is told twice")

    def test_several_changes_are_one_run(self):
        vips = self.subscribe(2, start=7600)
        vips.partner_id.property_product_pricelist = self.vip
        triggers = self.job_triggers()
        rule = self.vip_rule(90.0)
        rule.fixed_price = 80.0
        rule.fixed_price = 60.0
        self.product.list_price = 120.0
        self.vip_rule(40.0, product=self.other)
        self.end_transaction()
        self.assertEqual(len(self.job_triggers() - triggers), 1, "one trigger for the whole transaction")
        self.assertFalse(self.alerts_for(vips))
        self.env["messenger.price.alert"]._cron_check_changes()
        messages = self.alerts_for(vips)
        self.assertEqual(len(messages), 2, "one message per subscriber, for the price after all the changes")
        self.assertTrue(all("60.00" in body and "100.00" in body for body in messages.mapped("body")))

    def test_changes_of_the_next_transaction_wait_for_the_next_run(self):
        vips = self.subscribe(1, start=7700)
        vips.partner_id.property_product_pricelist = self.vip
        rule = self.vip_rule(90.0)
        self.run_job()
        rule.fixed_price = 80.0
        self.end_transaction()
        self.assertEqual(len(self.alerts_for(vips)), 1, "recorded, not lost, not yet checked")
        self.assertTrue(self.env["messenger.price.change"].search([]))
        self.env["messenger.price.alert"]._cron_check_changes()
        self.assertEqual(len(self.alerts_for(vips)), 2)
        self.assertIn("80.00", self.alerts_for(vips)[0].body)

    def test_the_job_checks_the_changed_pricelists_and_those_based_on_them(self):
        vips, partners, regular = (self.subscribe(1, start=start) for start in (7800, 7810, 7820))
        vips.partner_id.property_product_pricelist = self.vip
        partners.partner_id.property_product_pricelist = self.partners_list
        # a price that changed without anyone saving it, for the regular customer only
        self.env.flush_all()
        self.env.cr.execute("UPDATE product_template SET list_price = 75 WHERE id = %s", self.product.ids)
        self.env.invalidate_all()
        self.vip_rule(85.0)
        self.run_job()
        self.assertIn("85.00", self.alerts_for(vips).body)
        self.assertIn("85.00", self.alerts_for(partners).body, "a pricelist based on the changed one")
        self.assertFalse(self.alerts_for(regular), "the Standard pricelist did not change: not checked")
        # the daily check looks at every alert
        self.env["messenger.price.alert"]._cron_check_drops()
        self.run_job()
        self.assertIn("75.00", self.alerts_for(regular).body)

    def test_a_moved_rule_changes_both_products(self):
        vips = self.subscribe(1, start=7900) | self.subscribe(1, product=self.other, start=7910)
        vips.partner_id.property_product_pricelist = self.vip
        rule = self.vip_rule(95.0)
        self.run_job()
        self.assertEqual(len(self.alerts_for(vips)), 1)
        # the rule now lowers the other product; the first one is back to 100 (a raise)
        rule.write({"product_tmpl_id": self.other.id, "fixed_price": 45.0})
        self.run_job()
        self.assertEqual(vips[0].price_alert_ids.last_price, 100.0)
        self.assertIn("45.00", self.alerts_for(vips[1]).body)
        rule.unlink()
        self.run_job()
        self.assertEqual(vips[1].price_alert_ids.last_price, 50.0, "a deleted rule is a change too")
