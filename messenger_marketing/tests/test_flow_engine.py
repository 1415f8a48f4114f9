from odoo.exceptions import AccessError
from odoo.tests import Form, new_test_user, tagged

from ..core.providers import InboundEvent
from .common import MessengerCase
from .flow_common import FlowSetupMixin


@tagged("post_install", "-at_install")
class TestFlowEngine(FlowSetupMixin, MessengerCase):
    """The engine without HTTP: time-outs, content blocks, loops, the simulator."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_flow()

    def event(self, kind, chat_id="777", **values):
        TestFlowEngine.seq = getattr(TestFlowEngine, "seq", 0) + 1
        event = InboundEvent(event_id=f"fe{self.seq}", kind=kind, chat_id=chat_id, name="Pavel", **values)
        self.env["messenger.inbound"]._process(self.channel, [event])
        return self.env["messenger.contact"].search([("channel_id", "=", self.channel.id), ("chat_id", "=", chat_id)])

    def wait_since(self, session, ago):
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE messenger_flow_session SET waiting_since = now() at time zone 'utc' - %s::interval WHERE id = %s",
            [ago, session.id],
        )
        session.invalidate_recordset()

    def test_waiting_step_follows_up_once_then_expires(self):
        contact = self.event("start", text="/start x", payload=self.link.payload)
        session = contact.flow_session_ids
        self.flow.timeout_hours = 2
        Session = self.env["messenger.flow.session"]
        self.wait_since(session, "1 hour")
        Session._cron_follow_up()
        session.invalidate_recordset()
        self.assertFalse(session.reminded, "not yet due")
        self.wait_since(session, "3 hours")
        count = len(contact.message_ids_messenger)
        Session._cron_follow_up()
        session.invalidate_recordset()
        bodies = contact.message_ids_messenger.sorted("id").mapped("body")
        self.assertEqual(len(bodies), count + 2, "the reminder and the card again")
        self.assertEqual(bodies[-2], self.flow.reminder_text)
        self.assertTrue(session.reminded)
        self.assertEqual(session.state, "waiting")
        self.wait_since(session, "3 hours")
        Session._cron_follow_up()
        session.invalidate_recordset()
        self.assertEqual(session.state, "expired")
        self.assertEqual(len(contact.message_ids_messenger), count + 2, "no second reminder")

    def test_time_out_goes_to_the_follow_up_step(self):
        self.flow.write({"timeout_hours": 1, "timeout_step_id": self.step_handoff.id})
        contact = self.event("start", text="/start x", payload=self.link.payload)
        self.wait_since(contact.flow_session_ids, "2 hours")
        self.env["messenger.flow.session"]._cron_follow_up()
        self.assertEqual(contact.answered_by, "operator")
        self.assertEqual(contact.flow_session_ids.state, "done")

    def test_content_blocks_for_the_product_then_general_ones(self):
        Block = self.env["messenger.content.block"]
        Block.search([]).active = False  # demo blocks
        own = Block.create(
            {
                "name": "Desk review",
                "kind": "review",
                "text": "Love the desk",
                "author": "Kim",
                "product_tmpl_ids": [(6, 0, self.product.ids)],
            }
        )
        general = Block.create({"name": "General", "kind": "review", "text": "Great shop"})
        Block.create(
            {
                "name": "Other product",
                "kind": "review",
                "text": "Nice lamp",
                "product_tmpl_ids": [(0, 0, {"name": "Lamp"})],
            }
        )
        Block.create({"name": "Award", "kind": "award", "text": "Best shop 2025"})
        content = self.env["messenger.flow.step"].create(
            {
                "flow_id": self.flow.id,
                "sequence": 15,
                "step_type": "content",
                "block_kind": "review",
                "text": "What customers say:",
            }
        )
        self.button_order.next_step_id = content
        contact = self.event("start", text="/start x", payload=self.link.payload)
        card = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")[:1]
        self.event("button", payload=card.buttons[0][0]["payload"])
        bodies = contact.message_ids_messenger.filtered(lambda m: m.direction == "out").sorted("id").mapped("body")
        self.assertEqual(
            bodies[-4:], ["What customers say:", "Love the desk\n— Kim", "Great shop", "Where will you use it?"]
        )
        self.assertEqual(Block._for_product("review", self.product, self.env.company), own + general)

    def test_branches_that_loop_without_a_question_stop(self):
        flow = self.env["messenger.flow"].create({"name": "Loop"})
        first = self.env["messenger.flow.step"].create({"flow_id": flow.id, "step_type": "message", "text": "a"})
        second = self.env["messenger.flow.step"].create(
            {"flow_id": flow.id, "step_type": "message", "text": "b", "next_step_id": first.id, "sequence": 20}
        )
        self.assertEqual(first._next(), second)
        link = self.env["messenger.flow.link"].create({"channel_id": self.channel.id, "flow_id": flow.id})
        with self.assertLogs("odoo.addons.messenger_marketing.models.messenger_flow_session", "WARNING"):
            contact = self.event("start", text="/start", payload=link.payload)
        self.assertEqual(contact.flow_session_ids.state, "done")
        self.assertEqual(len(contact.message_ids_messenger.filtered(lambda m: m.direction == "out")), 50)

    def test_price_alert_step_subscribes_from_the_card(self):
        alert_step = self.env["messenger.flow.step"].create(
            {"flow_id": self.flow.id, "sequence": 90, "step_type": "price_alert", "next_step_id": self.step_end.id}
        )
        self.env["messenger.flow.button"].create(
            {"step_id": self.step_card.id, "label": "Price drop alert", "next_step_id": alert_step.id}
        )
        contact = self.event("start", text="/start x", payload=self.link.payload)
        card = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")[:1]
        payload = next(b["payload"] for row in card.buttons for b in row if b["text"] == "Price drop alert")
        self.event("button", payload=payload)
        alert = contact.price_alert_ids
        self.assertEqual((alert.product_tmpl_id, alert.last_price), (self.product, 250.0))
        self.assertIn("when the price goes down", contact.message_ids_messenger.sorted("id")[-2].body)
        self.assertEqual(contact.flow_session_ids.state, "done")

    def test_simulator_tries_a_flow(self):
        sandbox = self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        action = self.flow.action_try_in_simulator()
        simulator = self.env["messenger.simulator"].browse(action["res_id"])
        simulator.invalidate_recordset()  # as the browser reads it again
        self.assertEqual(simulator.channel_id.provider, "sandbox")
        self.assertIn("Oak desk", simulator.conversation, "the card of a product that uses the flow")
        simulator.text = "Order"
        simulator.action_send()
        self.assertIn("Where will you use it?", simulator.conversation)
        simulator.text = "At home"
        simulator.action_send()
        self.assertIn("Please share your phone number", simulator.conversation)
        simulator.text = "+44 20 7183 8750"
        simulator.action_send()
        self.assertEqual(simulator.contact_id.flow_session_ids[:1].phone, "+442071838750")
        # trying again starts over
        self.flow.action_try_in_simulator()
        self.env.invalidate_all()
        self.assertEqual(simulator.contact_id.flow_session_ids.mapped("state"), ["waiting", "stopped"])
        self.assertTrue(sandbox)

    def test_an_order_follow_up_series_does_not_hold_back_the_flow(self):
        """An order's follow-up series waits in its enrolment for days, not in the outbox,
        where a queued message holds back the chat's later ones: the flow's answers to
        the same chat go out meanwhile."""
        contact = self.event("start", text="/start")
        contact.partner_id = self.env["res.partner"].create({"name": "Pavel Buyer"})
        rule = self.env.ref("messenger_marketing.rule_sale_confirmed")
        template = self.env.ref("messenger_marketing.template_sale_followup_service")
        rule.step_ids = [(0, 0, {"delay_days": 3, "template_id": template.id})]
        lamp = self.env["product.product"].create({"name": "Lamp", "list_price": 10.0})
        order = self.env["sale.order"].create(
            {"partner_id": contact.partner_id.id, "order_line": [(0, 0, {"product_id": lamp.id})]}
        )
        order.action_confirm()
        enrolment = self.env["messenger.warming.enrolment"].search([("order_id", "=", order.id)])
        self.assertEqual((enrolment.contact_id, enrolment.state), (contact, "active"))
        self.dispatch(budget=5)
        self.fake.reset()
        self.event("start", text="/start x", payload=self.link.payload)
        self.dispatch(budget=5)
        self.assertTrue(any("Oak desk" in text for text in self.fake.texts(contact.chat_id)))
        self.assertFalse(
            contact.message_ids_messenger.filtered(lambda m: m.state == "queued"), "nothing of the series waits"
        )

    def test_access_rights(self):
        employee = new_test_user(self.env, "flow_employee", groups="base.group_user")
        user = self.salesperson  # messenger user and salesman
        self.event("start", text="/start x", payload=self.link.payload)
        session = self.flow.session_ids
        self.assertEqual(self.flow.with_user(user).name, "Desk landing")
        self.assertEqual(session.with_user(user).step_id, self.step_card)
        with self.assertRaises(AccessError):
            self.flow.with_user(user).write({"name": "renamed"})
        with self.assertRaises(AccessError):
            session.with_user(user).write({"state": "done"})
        # sales staff make links for their products
        link = (
            self.env["messenger.flow.link"]
            .with_user(user)
            .create({"channel_id": self.channel.id, "product_tmpl_id": self.product.id})
        )
        self.assertTrue(link.url.startswith("https://t.me/fake_shop_bot?start=f"))
        for record in (self.flow, session, link, self.step_card):
            with self.assertRaises(AccessError, msg=record._name):
                record.with_user(employee).read(["display_name"])

    def test_copy_branches_to_its_own_steps(self):
        self.flow.timeout_step_id = self.step_handoff
        copy = self.flow.copy()
        steps = copy.step_ids
        self.assertEqual(len(steps), len(self.flow.step_ids))
        self.assertFalse(steps & self.flow.step_ids)
        ask = steps.button_ids.filtered(lambda b: b.label == "Ask a question")
        self.assertEqual(ask.next_step_id.flow_id, copy)
        self.assertEqual(ask.next_step_id.step_type, "handoff")
        self.assertEqual(copy.timeout_step_id.flow_id, copy)

    def test_deleted_step_and_taken_over_conversation_end_the_wait(self):
        contact = self.event("start", text="/start x", payload=self.link.payload)
        self.step_card.copy({"sequence": 5, "product_tmpl_id": self.product.id})  # the new first step
        session = contact.flow_session_ids
        self.step_card.unlink()
        self.assertFalse(self.event("message", text="hello").flow_session_ids.filtered(lambda s: s.state == "waiting"))
        self.assertEqual(session.state, "expired")
        self.event("start", text="/start x", payload=self.link.payload)
        waiting = contact.flow_session_ids.filtered(lambda s: s.state == "waiting")
        self.assertTrue(waiting)
        contact.action_take_over()
        self.assertEqual(waiting.state, "stopped")

    def test_another_product_restarts_a_resumable_flow(self):
        self.flow.on_return = "resume"
        lamp = self.env["product.template"].create({"name": "Desk lamp", "list_price": 40.0})
        lamp_link = self.env["messenger.flow.link"].create(
            {"channel_id": self.channel.id, "product_tmpl_id": lamp.id, "flow_id": self.flow.id}
        )
        contact = self.event("start", text="/start x", payload=self.link.payload)
        self.event("start", text="/start x", payload=lamp_link.payload)
        sessions = contact.flow_session_ids
        self.assertEqual(sessions.mapped("product_tmpl_id"), lamp | self.product)
        self.assertEqual(sessions.mapped("state"), ["waiting", "stopped"])

    def test_long_text_with_a_picture_goes_after_it(self):
        contact = self.event("start", text="/start")
        session = self.env["messenger.flow.session"].create({"contact_id": contact.id, "flow_id": self.flow.id})
        messages = session._say("x" * 2000, image_url="https://example.com/a.png")
        self.assertEqual(messages.mapped("image_url"), ["https://example.com/a.png", False])
        self.assertEqual(messages.mapped("body"), ["", "x" * 2000])
        short = session._say("short", image_url="https://example.com/a.png")
        self.assertEqual((short.body, short.image_url), ("short", "https://example.com/a.png"))

    def test_new_steps_get_working_defaults(self):
        with Form(self.env["messenger.flow.step"].with_context(default_flow_id=self.flow.id)) as form:
            form.step_type = "phone"
            self.assertIn("phone number", form.text)
            form.step_type = "product"
            self.assertFalse(form.text, "a default text gives way to the next type's")
        step = form.save()
        self.assertEqual(step.button_ids.mapped("label"), ["Order", "Ask a question"])
