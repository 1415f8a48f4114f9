import importlib.util
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote_plus

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged

from .common import MessengerCase

T0 = "2024-03-04 09:00:00"  # in the past, so messages queued "then" are due when the test dispatches


def load_migration(version):
    path = Path(__file__).parents[1] / "migrations" / version / "post-migration.py"
    spec = importlib.util.spec_from_file_location(f"messenger_marketing_migration_{version}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@tagged("post_install", "-at_install")
class TestSaleEvents(MessengerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.product = cls.env["product.product"].create({"name": "Oak desk", "list_price": 250.0, "type": "consu"})
        cls.partner = cls.env["res.partner"].create({"name": "Olga Petrova", "email": "olga@example.com"})
        cls.contact = cls.env["messenger.contact"].create(
            {"name": "Olga", "channel_id": cls.channel.id, "chat_id": "9001", "partner_id": cls.partner.id}
        )

    def make_order(self, partner=None, qty=2):
        return self.env["sale.order"].create(
            {
                "partner_id": (partner or self.partner).id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": qty, "price_unit": 250.0})],
            }
        )

    def order_messages(self, order):
        return self.env["messenger.message"].search(
            [("res_model", "=", "sale.order"), ("res_id", "=", order.id)], order="id"
        )

    def test_confirmation_message_is_rendered_queued_and_sent_once(self):
        order = self.make_order()
        order.action_confirm()
        message = self.order_messages(order)
        self.assertEqual((len(message), message.kind, message.state), (1, "transactional", "queued"))
        self.assertEqual(self.fake.texts(), [], "nothing is sent inside the business transaction")
        self.assertIn(order.name, message.body)
        self.assertIn("Oak desk × 2.0", message.body)
        self.assertIn(f"{order.amount_total:,.2f}", message.body)
        self.assertEqual(order.messenger_message_count, 1)
        self.dispatch(budget=10)
        self.assertEqual(len(self.fake.sent), 1)
        sent = self.fake.sent[0]
        self.assertEqual(sent["chat_id"], "9001")
        self.assertIn(order.name, sent["text"])
        portal = sent["reply_markup"]["inline_keyboard"][0][0]
        self.assertIn(f"/my/orders/{order.id}", portal["url"])
        self.assertIn("access_token=", portal["url"])
        # the order's chatter shows the message and its status
        self.assertEqual(message.state, "sent")
        self.assertIn("Sent", message.chatter_log_id.body)
        self.assertEqual(message.chatter_log_id.res_id, order.id)

    def test_confirm_cancel_reconfirm(self):
        order = self.make_order()
        order.action_confirm()
        order._action_cancel()
        order.action_draft()
        order.action_confirm()
        bodies = self.order_messages(order).mapped("body")
        self.assertEqual(len(bodies), 2, "one confirmation, one cancellation; never twice the same event")
        self.assertIn("Thank you for your order", bodies[0])
        self.assertIn("was cancelled", bodies[1])

    def test_quotation_sent(self):
        order = self.make_order()
        order.action_quotation_sent()
        self.assertIn("quotation", self.order_messages(order).body)

    def test_quotation_sent_by_email(self):
        """The "Send by Email" wizard posts the quotation with mark_so_as_sent: a draft
        becomes sent there, once; a quotation e-mailed again is no new event."""
        order = self.make_order()
        order.message_post(body="A note, not the quotation")
        self.assertFalse(self.order_messages(order))
        order.with_context(mark_so_as_sent=True).message_post(body="Your quotation")
        self.assertEqual(order.state, "sent")
        self.assertIn("quotation", self.order_messages(order).body)
        order.with_context(mark_so_as_sent=True).message_post(body="Your quotation, again")
        self.assertEqual(len(self.order_messages(order)), 1)

    def test_state_written_directly_is_no_event(self):
        """Events come from the actions: an import or a script that writes the state is
        not a customer's confirmation."""
        order = self.make_order()
        order.write({"state": "sale"})
        self.assertFalse(self.order_messages(order))

    def test_cancel_button(self):
        order = self.make_order()
        order.action_confirm()
        order.with_context(disable_cancel_warning=True).action_cancel()
        self.assertEqual(order.state, "cancel")
        self.assertIn("was cancelled", self.order_messages(order)[-1:].body)
        order._action_cancel()  # cancelling a cancelled order is nothing new
        self.assertEqual(len(self.order_messages(order)), 2)

    def test_rollback_sends_nothing(self):
        order = self.make_order()
        with self.assertRaises(ValueError), self.env.cr.savepoint():
            order.action_confirm()
            self.assertTrue(self.order_messages(order))
            raise ValueError("the business transaction fails after the confirmation")
        self.env.invalidate_all()
        self.assertFalse(self.order_messages(order))
        self.dispatch(budget=2)
        self.assertEqual(self.fake.texts(), [])

    def test_no_reachable_contact_is_explained_in_chatter(self):
        stranger = self.env["res.partner"].create({"name": "No Messenger"})
        order = self.make_order(stranger)
        order.action_confirm()
        self.assertFalse(self.order_messages(order))
        self.assertIn("no messenger contact", order.message_ids[:1].body)
        # a contact who opted out of everything transactional is not reachable either
        self.channel.transactional_consent = "subscribed"
        self.contact.state = "unsubscribed"
        order2 = self.make_order()
        order2.action_confirm()
        self.assertFalse(self.order_messages(order2))

    def test_commercial_partner_contact_is_used(self):
        company = self.env["res.partner"].create({"name": "Olga's Shop", "is_company": True})
        self.partner.parent_id = company
        self.contact.partner_id = company
        employee = self.env["res.partner"].create({"name": "Clerk", "parent_id": company.id})
        order = self.make_order(employee)
        order.action_confirm()
        self.assertEqual(self.order_messages(order).contact_id, self.contact)

    def test_fixed_channel_and_team_rule(self):
        other = self.env["messenger.channel"].create({"name": "Other sandbox", "provider": "sandbox"})
        other_contact = self.env["messenger.contact"].create(
            {
                "name": "Olga 2",
                "channel_id": other.id,
                "chat_id": "x1",
                "partner_id": self.partner.id,
                "last_message_at": "2020-01-01 00:00:00",
            }
        )
        self.contact.last_message_at = fields.Datetime.now()
        team = self.env["crm.team"].create({"name": "Wholesale"})
        template = self.env.ref("messenger_marketing.template_sale_confirmed").copy(
            {"body": "Wholesale {{ object.name }}"}
        )
        self.env["messenger.sale.rule"].create(
            {
                "name": "Wholesale",
                "event": "confirmed",
                "team_id": team.id,
                "template_id": template.id,
                "channel_mode": "fixed",
                "channel_id": other.id,
            }
        )
        retail = self.make_order()
        retail.action_confirm()
        self.assertEqual(self.order_messages(retail).contact_id, self.contact, "last used channel")
        wholesale = self.make_order()
        wholesale.team_id = team
        wholesale.action_confirm()
        message = self.order_messages(wholesale)
        self.assertEqual(message.contact_id, other_contact)
        self.assertEqual(message.body, f"Wholesale {wholesale.name}")

    def invoiced(self):
        order = self.make_order()
        order.action_confirm()
        invoice = order._create_invoices()
        invoice.action_post()
        return order, invoice

    def register_payment(self, invoice, **vals):
        return (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(vals)
            ._create_payments()
        )

    def paid_messages(self, order):
        return self.order_messages(order).filtered(lambda m: "We received your payment" in m.body)

    def test_paid_invoice(self):
        order, invoice = self.invoiced()
        self.register_payment(invoice)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        bodies = self.order_messages(order).mapped("body")
        self.assertEqual(len(bodies), 2)
        self.assertIn("We received your payment", bodies[-1])

    def test_paid_only_when_every_invoice_is(self):
        order = self.make_order(qty=4)
        order.action_confirm()
        invoice = order._create_invoices()
        invoice.invoice_line_ids.quantity = 2  # half of it now, the rest on a second invoice
        invoice.action_post()
        second = order._create_invoices()
        second.action_post()
        self.register_payment(invoice)
        self.assertFalse(self.paid_messages(order), "one invoice of two is paid")
        self.register_payment(second, amount=100.0)
        self.assertEqual(second.payment_state, "partial")
        self.assertFalse(self.paid_messages(order), "a partial payment is no payment")
        self.register_payment(second)
        self.assertEqual(len(self.paid_messages(order)), 1)

    def test_paid_by_reconciling_an_outstanding_payment(self):
        """The customer paid before the invoice: the payment waits on the customer's account
        and is reconciled with the invoice from its "Outstanding credits"."""
        order, invoice = self.invoiced()
        payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.partner.id,
                "amount": invoice.amount_total,
            }
        )
        payment.action_post()
        self.assertFalse(self.paid_messages(order))
        line = payment.move_id.line_ids.filtered(lambda ml: ml.account_type == "asset_receivable")
        invoice.js_assign_outstanding_line(line.id)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self.paid_messages(order)), 1)
        # unreconciled and reconciled again: the same payment, told once
        invoice.js_remove_outstanding_partial(invoice.line_ids.matched_credit_ids.id)
        self.assertEqual(invoice.payment_state, "not_paid")
        invoice.js_assign_outstanding_line(line.id)
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self.paid_messages(order)), 1)

    def test_recomputed_payment_state_is_no_payment(self):
        """A payment state recomputed (a module installed, a stored value repaired) is no
        business event: only the reconciliation that pays the invoice is."""
        rule = self.env.ref("messenger_marketing.rule_sale_paid")
        rule.active = False
        order, invoice = self.invoiced()
        self.register_payment(invoice)
        paid = invoice.payment_state
        self.assertIn(paid, ("paid", "in_payment"))
        rule.active = True
        # the stored state went stale, and is computed again
        self.env.flush_all()
        self.env.cr.execute("UPDATE account_move SET payment_state = 'not_paid' WHERE id = %s", invoice.ids)
        self.env.invalidate_all()
        self.env.add_to_compute(invoice._fields["payment_state"], invoice)
        invoice.flush_recordset()
        self.assertEqual(invoice.payment_state, paid)
        self.assertFalse(self.paid_messages(order))

    def test_invoice_posted(self):
        self.env.ref("messenger_marketing.rule_sale_invoice_posted").active = True
        order = self.make_order()
        order.action_confirm()
        order._create_invoices().action_post()
        bodies = self.order_messages(order).mapped("body")
        self.assertEqual(len(bodies), 2)
        self.assertIn(f"The invoice for your order {order.name} is ready", bodies[-1])

    def test_language_of_the_customer(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        template = self.env.ref("messenger_marketing.template_sale_confirmed")
        template.with_context(lang="ru_RU").body = "Спасибо за заказ {{ object.name }}!"
        self.partner.lang = "ru_RU"
        english = self.env["res.partner"].create({"name": "John", "lang": "en_US"})
        self.env["messenger.contact"].create(
            {"name": "John", "channel_id": self.channel.id, "chat_id": "9002", "partner_id": english.id}
        )
        ru_order, en_order = self.make_order(), self.make_order(english)
        (ru_order | en_order).action_confirm()
        self.assertEqual(self.order_messages(ru_order).body, f"Спасибо за заказ {ru_order.name}!")
        self.assertIn("Thank you for your order", self.order_messages(en_order).body)

    def test_shipped_russian_templates(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["messenger_marketing"], ["ru_RU"], overwrite=True)
        self.partner.lang = "ru_RU"
        order = self.make_order()
        order.action_confirm()
        order._action_cancel()
        confirmed, cancelled = self.order_messages(order).mapped("body")
        self.assertIn(f"Спасибо за заказ {order.name}", confirmed)
        self.assertIn("Итого:", confirmed)
        self.assertIn("Oak desk × 2.0", confirmed)
        self.assertEqual(
            cancelled, f"Ваш заказ {order.name} отменён. Если вы этого не ожидали, просто напишите нам здесь."
        )

    def test_long_text_is_split_for_the_provider(self):
        template = self.env.ref("messenger_marketing.template_sale_confirmed")
        template.body = ("{{ object.name }} " + "word " * 1000).strip()
        order = self.make_order()
        order.action_confirm()
        parts = self.order_messages(order)
        self.assertEqual(len(parts), 2)
        self.assertTrue(all(len(p.body) <= 4096 for p in parts))
        self.assertFalse(parts[0].buttons)
        self.assertTrue(parts[1].buttons, "buttons go with the last part")
        self.dispatch(budget=10)
        self.assertEqual(len(self.fake.texts("9001")), 2)

    def test_preview(self):
        template = self.env.ref("messenger_marketing.template_sale_confirmed")
        order = self.make_order()
        template.preview_record = order
        self.assertIn(order.name, template.preview_text)
        self.assertIn("[Open]", template.preview_text)
        # the map button points at the company's address
        template.button_map = True
        row = template._render_for(order)[order.id][1][0]
        map_button = next(b for b in row if b["text"] == template.button_map_label)
        self.assertTrue(map_button["url"].startswith("https://www.google.com/maps/search/?api=1&query="))
        self.assertIn(quote_plus(order.company_id.city or order.company_id.name), map_button["url"])

    # -- follow-up series: sequence enrolments ------------------------------------------
    def set_follow_ups(self, rule=None, *steps):
        """The rule's follow-up series: (delay in days, template xmlid) for each step."""
        rule = rule or self.env.ref("messenger_marketing.rule_sale_confirmed")
        rule.step_ids = [(5,)] + [
            (0, 0, {"delay_days": delay, "template_id": self.env.ref(f"messenger_marketing.{xmlid}").id})
            for delay, xmlid in steps
        ]
        return rule

    def enrolments(self, **domain):
        return self.env["messenger.warming.enrolment"].search(
            [(name, "=", value.id if hasattr(value, "id") else value) for name, value in domain.items()], order="id"
        )

    def follow_ups(self, order):
        return self.order_messages(order).filtered(lambda m: m.kind == "marketing")

    def confirm_with_three_follow_ups(self):
        """(rule, order, enrolment): an order confirmed at T0 whose rule follows up after 1,
        7 and 14 days."""
        rule = self.set_follow_ups(
            None,
            (1, "template_sale_followup_howto"),
            (7, "template_sale_followup_service"),
            (14, "template_sale_followup_related"),
        )
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        return rule, order, self.enrolments(order_id=order)

    def run_cron_at(self, when):
        with freeze_time(when):
            self.env["messenger.warming.enrolment"]._cron_send_due()

    def test_follow_ups_go_out_when_due_rendered_then(self):
        rule, order, enrolment = self.confirm_with_three_follow_ups()
        self.assertEqual(
            (enrolment.rule_id, enrolment.contact_id, enrolment.rule_step_id, enrolment.state),
            (rule, self.contact, rule._steps()[0], "active"),
        )
        self.assertEqual(str(enrolment.next_at), "2024-03-05 09:00:00")
        self.assertEqual(rule.enrolment_count, 1)
        self.assertEqual(self.order_messages(order).mapped("kind"), ["transactional"], "nothing waits in the outbox")

        # the message is rendered when due, from what the order and template are then
        self.env.ref(
            "messenger_marketing.template_sale_followup_howto"
        ).body = "Enjoying {{ object.order_line[:1].product_id.name }}? Tell us."
        self.product.name = "Walnut desk"
        self.run_cron_at("2024-03-05 08:59:00")
        self.assertFalse(self.follow_ups(order), "step 1 waits for its day")
        self.run_cron_at("2024-03-05 09:01:00")
        first = self.follow_ups(order)
        self.assertEqual(first.body, "Enjoying Walnut desk? Tell us.")
        self.assertEqual((first.state, str(first.next_attempt_at)), ("queued", "2024-03-05 09:01:00"))
        self.assertEqual(first.contact_id, self.contact)
        self.dispatch(budget=10)
        self.assertEqual(first.state, "sent")
        self.assertEqual(self.fake.texts("9001")[-1], "Enjoying Walnut desk? Tell us.")
        self.assertEqual(self.fake.sent[-1]["reply_markup"]["inline_keyboard"][-1][0]["callback_data"], "unsub")

        # step 2 is due 7 days after the order, even if the cron ran late for step 1
        self.assertEqual((enrolment.rule_step_id, str(enrolment.next_at)), (rule._steps()[1], "2024-03-11 09:00:00"))
        self.run_cron_at("2024-03-11 08:59:00")
        self.assertEqual(len(self.follow_ups(order)), 1)
        self.run_cron_at("2024-03-11 10:00:00")
        second = self.follow_ups(order) - first
        self.assertIn(f"A week with your order {order.name}", second.body)
        self.assertEqual(str(enrolment.next_at), "2024-03-18 09:00:00")
        self.run_cron_at("2024-03-18 09:00:00")
        self.assertEqual(len(self.follow_ups(order)), 3)
        self.assertEqual((enrolment.state, enrolment.sent_count, enrolment.next_at), ("done", 3, False))
        self.run_cron_at("2024-04-30 09:00:00")
        self.assertEqual(len(self.follow_ups(order)), 3, "a finished series sends nothing more")

    def test_follow_ups_go_in_the_order_of_their_delays(self):
        """Each delay counts from the order event, whatever the steps' sequence."""
        rule = self.set_follow_ups(None, (5, "template_sale_followup_service"), (2, "template_sale_followup_howto"))
        self.assertEqual(rule.step_ids.mapped("delay_days"), [2, 5])
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        enrolment = self.enrolments(order_id=order)
        self.assertEqual(str(enrolment.next_at), "2024-03-06 09:00:00")  # two days after
        self.run_cron_at("2024-03-06 09:00:00")
        self.assertEqual(str(enrolment.next_at), "2024-03-09 09:00:00")  # five days after
        self.run_cron_at("2024-03-09 09:00:00")
        self.assertEqual(len(self.follow_ups(order)), 2)
        self.assertEqual(enrolment.state, "done")

    def test_a_deleted_step_hands_on_to_the_next(self):
        """Deleting the step an enrolment waits for does not end the series: the next step
        goes when it would have been due."""
        rule, _order, enrolment = self.confirm_with_three_follow_ups()
        first, second, third = rule._steps()
        first.unlink()
        self.assertEqual((enrolment.rule_step_id, str(enrolment.next_at)), (second, "2024-03-11 09:00:00"))
        self.assertEqual(enrolment.state, "active")
        (second | third).unlink()
        self.assertEqual((enrolment.state, enrolment.next_at), ("done", False))

    def test_a_sequence_started_at_once_elsewhere_runs_once(self):
        """Two transactions that start one contact's series at the same moment: the second
        finds the unique index, gets nothing, and its transaction goes on."""
        rule = self.set_follow_ups(None, (1, "template_sale_followup_howto"))
        order = self.make_order()
        order.action_confirm()
        running = self.enrolments(order_id=order)
        Enrolment = self.env["messenger.warming.enrolment"]
        vals = {**Enrolment._start_vals(self.contact, "rule_id", rule, rule._steps()[:1]), "order_id": order.id}
        self.assertFalse(Enrolment._create_running(vals))
        self.assertEqual(self.enrolments(rule_id=rule, state="active"), running)
        order.note = "still usable"  # the transaction is not aborted
        self.env.flush_all()

    def test_cron_run_twice_sends_a_step_once(self):
        self.set_follow_ups(None, (1, "template_sale_followup_service"), (2, "template_sale_followup_related"))
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        self.run_cron_at("2024-03-05 10:00:00")
        self.run_cron_at("2024-03-05 10:00:00")
        self.run_cron_at("2024-03-05 10:15:00")
        self.assertEqual(len(self.follow_ups(order)), 1)
        self.assertEqual(self.enrolments(order_id=order).sent_count, 1)

    def test_a_newer_order_starts_the_series_again(self):
        rule = self.set_follow_ups(None, (1, "template_sale_followup_service"), (5, "template_sale_followup_related"))
        with freeze_time(T0):
            first = self.make_order()
            first.action_confirm()
        self.run_cron_at("2024-03-05 09:00:00")
        self.assertEqual(len(self.follow_ups(first)), 1)
        with freeze_time("2024-03-07 12:00:00"):
            second = self.make_order()
            second.action_confirm()
        old, new = self.enrolments(rule_id=rule)
        self.assertEqual(
            (old.order_id, old.state, old.stop_reason),
            (first, "stopped", "The series started again with a newer order."),
        )
        self.assertEqual((new.order_id, new.state, str(new.next_at)), (second, "active", "2024-03-08 12:00:00"))
        self.run_cron_at("2024-03-09 09:00:00")  # step 2 of the first order was due on the 9th
        self.assertEqual(len(self.follow_ups(first)), 1, "the older order's series sends nothing more")
        self.assertIn(second.name, self.follow_ups(second).body)

    def test_two_orders_in_one_batch_enrol_the_newer(self):
        rule = self.set_follow_ups(None, (1, "template_sale_followup_service"))
        orders = self.make_order() | self.make_order()
        orders.action_confirm()
        self.assertEqual(self.enrolments(rule_id=rule).order_id, orders[1])

    def test_a_cancelled_order_stops_its_series(self):
        self.set_follow_ups(None, (1, "template_sale_followup_service"))
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        order._action_cancel()
        enrolment = self.enrolments(order_id=order)
        self.assertEqual((enrolment.state, enrolment.stop_reason), ("stopped", "The order was cancelled."))
        self.run_cron_at("2024-03-06 09:00:00")
        self.assertFalse(self.follow_ups(order))

    def test_unsubscribing_stops_the_series(self):
        self.set_follow_ups(None, (1, "template_sale_followup_service"))
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        self.contact._unsubscribe("stop_word", "STOP")
        enrolment = self.enrolments(order_id=order)
        self.assertEqual((enrolment.state, enrolment.stop_reason), ("stopped", "The contact unsubscribed."))
        self.run_cron_at("2024-03-06 09:00:00")
        self.assertFalse(self.follow_ups(order))

    def test_consent_is_checked_when_due(self):
        self.set_follow_ups(None, (1, "template_sale_followup_service"))
        with freeze_time(T0):
            order = self.make_order()
            order.action_confirm()
        enrolment = self.enrolments(order_id=order)
        # the contact blocked the bot by a way that did not stop the enrolment on the spot
        self.env.cr.execute("UPDATE messenger_contact SET state = 'blocked' WHERE id = %s", [self.contact.id])
        self.contact.invalidate_recordset(["state"])
        self.run_cron_at("2024-03-06 09:00:00")
        self.assertFalse(self.follow_ups(order))
        self.assertEqual((enrolment.state, enrolment.stop_reason), ("stopped", "The contact unsubscribed."))

    def test_no_series_without_marketing_consent(self):
        self.set_follow_ups(None, (1, "template_sale_followup_service"))
        self.contact._set_consent("unsubscribed", "manual")  # order updates still reach them
        order = self.make_order()
        order.action_confirm()
        self.assertEqual(self.order_messages(order).kind, "transactional")
        self.assertFalse(self.enrolments(order_id=order))

    def test_waiting_series_of_the_old_outbox_become_enrolments(self):
        """The 18.0.1.2.0 migration: follow-ups queued ahead with a series key."""
        migration = load_migration("18.0.1.2.0")
        order = self.make_order()
        order.action_confirm()  # before the rule has steps: its series is the old shape below
        rule = self.set_follow_ups(
            None,
            (1, "template_sale_followup_howto"),
            (7, "template_sale_followup_service"),
            (14, "template_sale_followup_related"),
        )
        confirmed = fields.Datetime.now() - timedelta(days=3)
        old_shape = self.contact._send("How do you like it?", "marketing", record=order)
        old_shape |= self.contact._send("A week with your order", "marketing", record=order)
        old_shape |= self.contact._send("Also chose", "marketing", record=order)
        sent_step, *waiting = old_shape
        due = self.contact._send("Due but not sent yet", "marketing", record=order)
        self.env.flush_all()
        self.env.cr.execute("ALTER TABLE messenger_message ADD COLUMN series_key varchar")
        for message, delay in ((sent_step, 1), (waiting[0], 7), (waiting[1], 14), (due, 2)):
            self.env.cr.execute(
                """UPDATE messenger_message SET series_key = %s, create_date = %s,
                          next_attempt_at = %s, state = %s WHERE id = %s""",
                (
                    f"messenger.sale.rule,{rule.id}",
                    confirmed,
                    confirmed + timedelta(days=delay, seconds=1),
                    "sent" if message == sent_step else "queued",
                    message.id,
                ),
            )
        self.env.invalidate_all()

        migration.migrate(self.env.cr, "18.0.1.1.0")
        enrolment = self.enrolments(order_id=order)
        self.assertEqual(
            (enrolment.rule_id, enrolment.contact_id, enrolment.rule_step_id, enrolment.state),
            (rule, self.contact, rule._steps()[1], "active"),
        )
        self.assertEqual(enrolment.next_at, confirmed + timedelta(days=7, seconds=1), "when it was planned")
        self.assertEqual(enrolment.sent_count, 1)
        self.assertFalse(self.env["messenger.message"].browse([m.id for m in waiting]).exists(), "no plan waits")
        self.assertEqual((sent_step.state, due.state), ("sent", "queued"), "what was sent or due stays")
        # the enrolment sends the rest, rendered when due
        self.run_cron_at(enrolment.next_at)
        self.assertIn(f"A week with your order {order.name}", self.follow_ups(order)[-1].body)
        self.assertEqual(enrolment.rule_step_id, rule._steps()[2])


@tagged("post_install", "-at_install")
class TestSaleEventsAtScale(MessengerCase):
    def _orders(self, count):
        product = self.env["product.product"].create({"name": "Lamp", "list_price": 10.0})
        partners = self.env["res.partner"].create([{"name": f"Buyer {i}"} for i in range(count)])
        self.env["messenger.contact"].create(
            [
                {"name": p.name, "channel_id": self.channel.id, "chat_id": str(20000 + p.id), "partner_id": p.id}
                for p in partners
            ]
        )
        return self.env["sale.order"].create(
            [
                {"partner_id": p.id, "order_line": [(0, 0, {"product_id": product.id, "product_uom_qty": 1})]}
                for p in partners
            ]
        )

    def _queries_to_fire(self, orders):
        self.env.flush_all()
        self.env.invalidate_all()
        before = self.env.cr.sql_log_count
        messages = self.env["messenger.sale.rule"]._fire(orders, "confirmed")
        self.env.flush_all()
        return self.env.cr.sql_log_count - before, messages

    def test_queries_do_not_grow_with_orders(self):
        small, small_messages = self._queries_to_fire(self._orders(20))
        large, large_messages = self._queries_to_fire(self._orders(400))
        self.assertEqual((len(small_messages), len(large_messages)), (20, 400))
        self.assertLess(large - small, 40, f"{small} queries for 20 orders, {large} for 400")

    def test_thousand_orders_in_one_transaction(self):
        orders = self._orders(1000)
        orders.action_confirm()
        messages = self.env["messenger.message"].search(
            [("res_model", "=", "sale.order"), ("res_id", "in", orders.ids)]
        )
        self.assertEqual(len(messages), 1000)
        self.assertEqual(set(messages.mapped("state")), {"queued"})
