from freezegun import freeze_time

from odoo.tests import tagged

from ..core.providers import InboundEvent
from .common import MessengerCase

T0 = "2024-03-04 09:00:00"  # in the past, so messages queued "then" are due when the test dispatches


@tagged("post_install", "-at_install")
class TestLeadWarming(MessengerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.warming = cls.env["messenger.warming"].create(
            {
                "name": "Desk nurture",
                "step_ids": [
                    (0, 0, {"sequence": 1, "delay_days": 1, "text": "Step one: how to choose a desk."}),
                    (
                        0,
                        0,
                        {
                            "sequence": 2,
                            "delay_days": 2,
                            "text": "Step two: free delivery this week.",
                            "button_label": "Shop",
                            "button_url": "https://shop.example.com/desk",
                        },
                    ),
                    (0, 0, {"sequence": 3, "delay_days": 2, "text": "Step three: last chance."}),
                ],
            }
        )
        cls.flow = cls.env["messenger.flow"].create(
            {
                "name": "Lead only",
                "warming_id": cls.warming.id,
                "step_ids": [(0, 0, {"step_type": "lead", "text": "Thanks, we will be in touch."})],
            }
        )
        cls.link = cls.env["messenger.flow.link"].create({"channel_id": cls.channel.id, "flow_id": cls.flow.id})
        cls.partner = cls.env["res.partner"].create({"name": "Nina Buyer"})

    def start(self, chat_id="4242"):
        event = InboundEvent(
            event_id=f"w-{chat_id}-{self.link.id}",
            kind="start",
            chat_id=chat_id,
            name="Nina",
            payload=self.link.payload,
        )
        self.env["messenger.inbound"]._process(self.channel, [event])
        contact = self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", chat_id)]
        )
        contact.partner_id = self.partner
        return contact

    def due_messages(self, contact):
        return contact.message_ids_messenger.filtered(lambda m: m.kind == "marketing").sorted("id")

    def run_cron_at(self, when):
        with freeze_time(when):
            self.env["messenger.warming.enrolment"]._cron_send_due()

    def test_steps_go_out_at_their_times_and_stop_when_the_lead_is_won(self):
        with freeze_time(T0):
            contact = self.start()
        lead = contact.lead_ids
        enrolment = self.env["messenger.warming.enrolment"].search([("contact_id", "=", contact.id)])
        self.assertEqual((enrolment.lead_id, enrolment.state), (lead, "active"))
        self.assertEqual(str(enrolment.next_at), "2024-03-05 09:00:00")

        self.run_cron_at("2024-03-05 08:59:00")
        self.assertFalse(self.due_messages(contact), "step 1 waits for its day")
        self.run_cron_at("2024-03-05 09:01:00")
        first = self.due_messages(contact)
        self.assertEqual(first.mapped("body"), ["Step one: how to choose a desk."])
        self.assertEqual((first.kind, str(first.next_attempt_at)), ("marketing", "2024-03-05 09:01:00"))
        self.dispatch(budget=10)
        self.assertEqual(self.fake.texts(contact.chat_id)[-1], "Step one: how to choose a desk.")
        markup = self.fake.sent[-1]["reply_markup"]["inline_keyboard"]
        self.assertEqual(markup[-1][0]["callback_data"], "unsub", "marketing: always the way out")

        # step 2 is due two days after step 1 was planned, even if the cron ran late
        self.run_cron_at("2024-03-07 08:59:00")
        self.assertEqual(len(self.due_messages(contact)), 1)
        self.run_cron_at("2024-03-07 09:30:00")
        second = self.due_messages(contact)[1:]
        self.assertEqual(second.body, "Step two: free delivery this week.")
        self.dispatch(budget=10)
        self.assertEqual(self.fake.texts(contact.chat_id)[-1], "Step two: free delivery this week.")
        self.assertEqual(
            self.fake.sent[-1]["reply_markup"]["inline_keyboard"][0][0]["url"], "https://shop.example.com/desk"
        )
        self.assertEqual(enrolment.sent_count, 2)

        lead.action_set_won()
        self.assertEqual((enrolment.state, enrolment.stop_reason), ("stopped", "The lead was won or lost."))
        self.run_cron_at("2024-03-20 09:00:00")
        self.assertEqual(len(self.due_messages(contact)), 2, "no step 3 after the lead was won")

    def test_lost_lead_order_and_unsubscribe_stop_it(self):
        with freeze_time(T0):
            lost = self.start("5001")
            ordered = self.start("5002")
            opted_out = self.start("5003")
        Enrolment = self.env["messenger.warming.enrolment"]

        def enrolment(contact):
            return Enrolment.search([("contact_id", "=", contact.id)])

        lost.lead_ids.action_set_lost()
        self.assertEqual(enrolment(lost).state, "stopped")
        # ordering stops every running sequence of that customer
        other_partner = self.env["res.partner"].create({"name": "Buyer Two"})
        ordered.partner_id = other_partner
        product = self.env["product.product"].create({"name": "Desk", "list_price": 100})
        order = self.env["sale.order"].create(
            {"partner_id": other_partner.id, "order_line": [(0, 0, {"product_id": product.id})]}
        )
        order.action_confirm()
        self.assertEqual(
            (enrolment(ordered).state, enrolment(ordered).stop_reason), ("stopped", "The customer ordered.")
        )
        opted_out._unsubscribe("stop_word", "STOP")
        self.assertEqual(enrolment(opted_out).state, "stopped")
        self.run_cron_at("2024-03-10 09:00:00")
        for contact in (lost, ordered, opted_out):
            self.assertFalse(self.due_messages(contact))

    def test_an_order_stops_the_warming_not_the_order_follow_ups(self):
        rule = self.env.ref("messenger_marketing.rule_sale_confirmed")
        template = self.env.ref("messenger_marketing.template_sale_followup_service")
        rule.step_ids = [(0, 0, {"delay_days": 3, "template_id": template.id})]
        with freeze_time(T0):
            contact = self.start("7001")
        product = self.env["product.product"].create({"name": "Desk", "list_price": 100})
        first, second = self.env["sale.order"].create(
            [{"partner_id": self.partner.id, "order_line": [(0, 0, {"product_id": product.id})]}] * 2
        )
        first.action_confirm()
        Enrolment = self.env["messenger.warming.enrolment"]
        warming = Enrolment.search([("contact_id", "=", contact.id), ("warming_id", "=", self.warming.id)])
        self.assertEqual((warming.state, warming.stop_reason), ("stopped", "The customer ordered."))
        series = Enrolment.search([("contact_id", "=", contact.id), ("rule_id", "=", rule.id)])
        self.assertEqual((series.order_id, series.state), (first, "active"))
        second.action_confirm()
        self.assertEqual(series.stop_reason, "The series started again with a newer order.")
        self.assertEqual(Enrolment.search([("contact_id", "=", contact.id), ("state", "=", "active")]).order_id, second)
        self.assertEqual((self.warming.enrolment_count, rule.enrolment_count), (1, 2))

    def test_one_running_enrolment_per_contact(self):
        with freeze_time(T0):
            contact = self.start()
            self.start()  # the same person comes back and makes the lead again
        self.assertEqual(len(self.env["messenger.warming.enrolment"].search([("contact_id", "=", contact.id)])), 1)
        self.assertEqual(len(contact.lead_ids), 1)

    def test_channel_warming_when_the_flow_has_none(self):
        self.flow.warming_id = False
        self.channel.warming_id = self.warming
        contact = self.start("6001")
        self.assertEqual(
            self.env["messenger.warming.enrolment"].search([("contact_id", "=", contact.id)]).warming_id, self.warming
        )
