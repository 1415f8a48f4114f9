from markupsafe import Markup

from .common import MessengerCase


class TestConversation(MessengerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesman = cls.env["res.users"].create(
            {
                "name": "Sam Seller",
                "login": "sam_seller",
                "email": "sam@example.com",
                "groups_id": [
                    (
                        6,
                        0,
                        [
                            cls.env.ref("messenger_marketing.group_messenger_user").id,
                            cls.env.ref("sales_team.group_sale_salesman").id,
                        ],
                    )
                ],
            }
        )
        cls.partner = cls.env["res.partner"].create({"name": "Ivan Ivanov"})

    def test_operator_reply_goes_out_through_the_queue(self):
        contact = self.make_contacts(1)
        contact.partner_id = self.partner
        contact.with_user(self.salesman).message_post(
            body=Markup("<p>Your parcel leaves <b>today</b>.</p>"),
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        queued = contact.message_ids_messenger
        self.assertEqual((queued.direction, queued.kind, queued.state), ("out", "service", "queued"))
        self.assertEqual(self.fake.texts(), [], "nothing is sent inside the user's transaction")
        self.dispatch(budget=5)
        self.assertEqual(self.fake.texts(contact.chat_id), ["Your parcel leaves *today*."])
        self.assertEqual(queued.state, "sent")
        self.assertTrue(queued.mail_message_id)

    def test_internal_note_is_not_sent(self):
        contact = self.make_contacts(1)
        contact.with_user(self.salesman).message_post(
            body="internal remark", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.assertFalse(contact.message_ids_messenger)

    def test_incoming_message_shows_in_conversation_not_partner_chatter(self):
        contact = self.make_contacts(1)
        contact.partner_id = self.partner
        from ..core.providers import InboundEvent

        self.env["messenger.inbound"]._process(
            self.channel,
            [InboundEvent(event_id="e1", kind="message", chat_id=contact.chat_id, text="Where is my order?")],
        )
        posted = contact.message_ids[0]
        self.assertIn("Where is my order?", posted.body)
        self.assertEqual(
            (posted.message_type, posted.subtype_id, posted.is_internal, posted.author_id),
            ("comment", self.env.ref("mail.mt_comment"), False, self.partner),
            "a message of the customer, not a note",
        )
        # every employee reads the partner's chatter: the customer's words stay in the chat
        self.assertFalse(self.partner.message_ids.filtered(lambda m: "Where is my order?" in (m.body or "")))
        self.assertEqual(contact.message_ids_messenger.direction, "in")
        # the customer's own words are never sent back out
        self.assertFalse(contact.message_ids_messenger.filtered(lambda m: m.direction == "out"))
        self.assertNotIn(self.partner, contact.message_partner_ids, "the customer does not follow their chat")

        # once somebody follows the conversation, the customer's messages notify them
        contact.message_subscribe(partner_ids=self.salesman.partner_id.ids)
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="e2", kind="message", chat_id=contact.chat_id, text="Hello?")]
        )
        posted = contact.message_ids[0]
        self.assertIn("Hello?", posted.body)
        notified = posted.notification_ids.filtered(lambda n: n.res_partner_id == self.salesman.partner_id)
        self.assertEqual(len(notified), 1, "the follower is notified (by e-mail or in Odoo, as they chose)")
        self.assertNotIn(self.partner, contact.message_partner_ids)
        self.assertFalse(contact.message_ids_messenger.filtered(lambda m: m.direction == "out"))


class TestSimulator(MessengerCase):
    def test_simulator_conversation(self):
        sandbox = self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        simulator = self.env["messenger.simulator"].create({"channel_id": sandbox.id, "text": "/start"})
        simulator.action_send()
        self.assertIn(sandbox.welcome_message, simulator.conversation)
        contact = simulator.contact_id
        self.assertEqual(contact.state, "subscribed")
        self.assertEqual(set(contact.message_ids_messenger.mapped("state")), {"received", "sent"})
        simulator.text = "стоп"
        simulator.action_send()
        self.assertEqual(contact.state, "unsubscribed")
        self.assertIn(sandbox.unsubscribe_message, simulator.conversation)
        # a marketing message carries the unsubscribe button; typing its label presses it
        simulator.text = "/start"
        simulator.action_send()
        contact._send("Big sale!", kind="marketing")
        self.env["messenger.dispatcher"]._dispatch(time_budget=0, channel_ids=sandbox.ids)
        simulator.text = "Unsubscribe"
        simulator.action_send()
        self.assertEqual(contact.state, "unsubscribed")
        self.assertEqual(contact.consent_log_ids[:1].method, "button")

    def test_invite_link(self):
        partner = self.env["res.partner"].create({"name": "Link Me"})
        action = partner.action_messenger_invite()
        invite = self.env["messenger.invite"].with_context(**action["context"]).create({"channel_id": self.channel.id})
        self.assertFalse(invite.url, "no link until one is asked for")
        invite.action_create_link()
        self.assertTrue(invite.url.startswith("https://t.me/fake_shop_bot?start=b"))
        payload = invite.url.split("start=")[1]
        link = self.env["messenger.binding.link"]._from_payload(self.channel, payload)
        self.assertEqual((link.partner_id, link.state), (partner, "open"))
        self.assertEqual(invite.expires_at, link.expires_at)
        # each click makes a new link: each binds one chat
        invite.action_create_link()
        self.assertNotEqual(invite.url.split("start=")[1], payload)

    def test_register_webhook_and_test_connection(self):
        self.channel.bot_username = False
        self.channel.action_test_connection()
        self.assertEqual(self.channel.bot_username, "fake_shop_bot")
        self.channel.action_register_webhook()
        self.assertTrue(self.channel.webhook_registered)
        _method, params = next(c for c in self.fake.calls if c[0] == "setWebhook")
        self.assertEqual(params["url"], self.channel.webhook_url)
        self.assertEqual(params["secret_token"], self.channel.webhook_secret)
        self.channel.action_unregister_webhook()
        self.assertFalse(self.channel.webhook_registered)
        self.assertIn("deleteWebhook", [c[0] for c in self.fake.calls])

    def test_wrong_token_is_reported(self):
        from odoo.exceptions import UserError

        self.channel.token = "999:WRONG"
        with self.assertRaises(UserError):
            self.channel.action_test_connection()


class TestHandOff(MessengerCase):
    """A person takes a conversation over: in turn among the channel's team, the bot silent
    meanwhile, and back to the bot when they are done or the conversation goes idle."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        group = cls.env.ref("messenger_marketing.group_messenger_user")
        cls.operators = cls.env["res.users"].create(
            [{"name": f"Operator {n}", "login": f"operator_{n}", "groups_id": [(6, 0, group.ids)]} for n in ("a", "b")]
        )
        cls.team = cls.env["crm.team"].create({"name": "Chat team", "member_ids": [(6, 0, cls.operators.ids)]})
        cls.channel.team_id = cls.team

    def event(self, contact, kind, **values):
        from ..core.providers import InboundEvent

        TestHandOff.event_seq = getattr(TestHandOff, "event_seq", 0) + 1
        event = InboundEvent(event_id=f"h{self.event_seq}", kind=kind, chat_id=contact.chat_id, **values)
        self.env["messenger.inbound"]._process(self.channel, [event])

    def test_round_robin_activity_and_follower(self):
        first, second, third = self.make_contacts(3)
        for contact in (first, second, third):
            contact._hand_off("Asked for a person")
        self.assertEqual(first.user_id | second.user_id, self.operators, "two hand-offs, two operators")
        self.assertEqual(third.user_id, first.user_id, "the turn comes round again")
        self.assertEqual(first.answered_by, "operator")
        activity = first.activity_ids
        self.assertEqual((len(activity), activity.user_id), (1, first.user_id))
        self.assertIn(first.user_id.partner_id, first.message_partner_ids)
        self.assertEqual(first.message_ids_messenger.mapped("body"), [self.channel.handoff_message])

    def test_bot_is_silent_while_an_operator_holds_the_conversation(self):
        contact = self.make_contacts(1)
        contact._hand_off()
        queued = contact.message_ids_messenger
        self.event(contact, "start", text="/start")
        self.event(contact, "message", text="hello?")
        outgoing = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(outgoing, queued, "no welcome or bot answer while held")
        self.assertEqual(len(contact.message_ids_messenger.filtered(lambda m: m.direction == "in")), 2)
        # a stop word still unsubscribes at once
        self.event(contact, "message", text="стоп")
        self.assertEqual(contact.state, "unsubscribed")
        contact.action_hand_back_to_bot()
        self.assertEqual((contact.answered_by, contact.activity_ids), ("bot", self.env["mail.activity"]))
        self.event(contact, "start", text="/start")
        self.assertIn(self.channel.welcome_message, contact.message_ids_messenger.mapped("body"))

    def test_idle_conversation_goes_back_to_the_bot(self):
        busy, idle = self.make_contacts(2)
        (busy | idle)._hand_off()
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE messenger_contact SET handoff_at = now() - interval '2 days' WHERE id IN %s", [(busy | idle)._ids]
        )
        self.env.cr.execute("UPDATE messenger_message SET create_date = now() - interval '2 days'")
        self.event(busy, "message", text="still there?")
        (busy | idle).invalidate_recordset()
        self.env["messenger.contact"]._cron_hand_back_idle()
        self.assertEqual((busy.answered_by, idle.answered_by), ("operator", "bot"))
