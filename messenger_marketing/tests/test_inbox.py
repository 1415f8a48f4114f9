import threading

from odoo.tests import tagged

from odoo.addons.bus.models.bus import dispatch
from odoo.addons.bus.tests.common import WebsocketCase

from ..core.providers import InboundEvent
from .common import MessengerCase, TelegramSetupMixin


class TestInbox(MessengerCase):
    """Conversations as sales staff see them: unread, waiting for a reply, newest first."""

    def receive(self, contact, text, event_id):
        event = InboundEvent(event_id=event_id, kind="message", chat_id=contact.chat_id, text=text)
        self.env["messenger.inbound"]._process(self.channel, [event])

    def test_unread_and_waiting_until_answered_and_opened(self):
        seller = self.env["res.users"].create(
            {
                "name": "Inbox Seller",
                "login": "inbox_seller",
                "email": "seller@example.com",
                "groups_id": [(6, 0, self.env.ref("messenger_marketing.group_messenger_user").ids)],
            }
        )
        self.env["messenger.contact"].search([]).unread_count = 0  # demo conversations
        mine, nobodys, others = self.make_contacts(3)
        others.user_id = self.env.ref("base.user_admin")
        mine.user_id = seller
        for n, contact in enumerate((mine, mine, nobodys, others)):
            self.receive(contact, f"question {n}", f"in{n}")
        self.assertEqual((mine.unread_count, mine.waiting_reply, mine.last_message_preview), (2, True, "question 1"))
        Contact = self.env["messenger.contact"].with_user(seller)
        self.assertEqual(Contact.messenger_unread_summary(), {"count": 2}, "mine and nobody's, not the admin's")
        # an answer from Discuss clears "waiting", opening the conversation clears "unread"
        channel = mine._conversation()
        channel._messenger_join(seller)
        channel.with_user(seller).sudo().message_post(
            body="Here you go", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        # answering in Discuss reads the conversation
        self.assertEqual((mine.waiting_reply, mine.unread_count, mine.last_message_preview), (False, 0, "Here you go"))
        self.receive(mine, "question 4", "in4")
        self.assertEqual(mine.unread_count, 1)
        action = mine.with_user(seller).action_open_conversation()
        self.assertEqual((action["params"]["active_id"], mine.unread_count), (f"discuss.channel_{channel.id}", 0))
        self.assertEqual(Contact.messenger_unread_summary(), {"count": 1})
        waiting = Contact.search([("waiting_reply", "=", True)])
        self.assertEqual(waiting & (mine | nobodys | others), mine | nobodys | others)
        bodies = " ".join(channel.message_ids.mapped("body"))
        self.assertIn("question 1", bodies)
        self.assertIn("Here you go", bodies)

    def test_automated_messages_do_not_answer_the_customer(self):
        contact = self.make_contacts(1)
        self.receive(contact, "is my order ready?", "w1")
        contact._send("Your order shipped", kind="transactional")
        self.assertTrue(contact.waiting_reply, "an order update is no answer to the question")
        contact._hand_off()
        self.assertTrue(contact.waiting_reply, "nor is the hand-off notice")


@tagged("post_install", "-at_install")
class TestInboxTour(TelegramSetupMixin, WebsocketCase):
    """Live, over Odoo's bus: the browser's websocket is on (WebsocketCase), and a thread
    stands in for PostgreSQL's NOTIFY, which a test's cursor never sends at commit: it
    wakes the open websockets, which then read the new bus rows as in production. The
    bot is a Telegram channel on the fake Bot API, whose webhook the tour posts to."""

    def wake_websockets(self, stop):
        while not stop.wait(0.25):
            for sockets in list(dispatch._channels_to_ws.values()):
                for socket in list(sockets):
                    socket.trigger_notification_dispatching()

    def test_salesperson_answers_from_the_inbox(self):
        self.env["messenger.contact"].search([]).unread_count = 0  # demo conversations
        channel = self.setup_telegram(self.env, name="Tour bot")
        seller = self.env["res.users"].create(
            {
                "name": "Tour Seller",
                "login": "tour_seller",
                "password": "tour_seller_pw",
                "groups_id": [
                    (
                        6,
                        0,
                        [
                            # a manager: the tour reads the channel's webhook address to play the provider
                            self.env.ref("messenger_marketing.group_messenger_manager").id,
                            self.env.ref("sales_team.group_sale_salesman").id,
                        ],
                    )
                ],
            }
        )
        event = InboundEvent(event_id="tour1", kind="message", chat_id="4242", name="Irina Tour", text="x")
        self.env["messenger.inbound"]._process(channel, [event])
        contact = self.env["messenger.contact"].search([("chat_id", "=", "4242")])
        contact.write({"unread_count": 0})
        # the seller holds the conversation: a member of it from the page's start
        contact.with_user(seller).action_take_over()
        # an earlier answer of the seller's went out already: it can no longer be edited
        contact.discuss_channel_id.with_user(seller).sudo().message_post(
            body="Our shop opens at ten.", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=channel.ids, auto_commit=False)
        earlier = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(earlier.mapped("state"), ["sent"])
        self.fake.reset()
        event = InboundEvent(event_id="tour2", kind="message", chat_id="4242", text="Do you have it in blue?")
        self.env["messenger.inbound"]._process(channel, [event])
        self.assertEqual(contact.unread_count, 1)
        stop = threading.Event()
        waker = threading.Thread(target=self.wake_websockets, args=(stop,), daemon=True)
        waker.start()
        try:
            self.start_tour("/odoo", "messenger_inbox_tour", login="tour_seller")
        finally:
            stop.set()
            waker.join()
        incoming = contact.message_ids_messenger.filtered(lambda m: m.direction == "in").sorted("id")
        self.assertEqual(incoming.mapped("body"), ["x", "Do you have it in blue?", "And in red?"])
        self.assertIn("And in red?", incoming[-1].discuss_message_id.body, "the webhook's message is in Discuss")
        replies = (contact.message_ids_messenger - earlier).filtered(lambda m: m.direction == "out").sorted("id")
        self.assertEqual(
            [(r.body, r.kind, r.state, r.attachment_id.name) for r in replies],
            [("Yes, blue is in stock.", "service", "queued", False), ("", "service", "queued", "pricelist.pdf")],
        )
        self.assertEqual(replies[1].attachment_id.raw, b"%PDF-1.4 price list")
        self.assertEqual(contact.unread_count, 0)
        self.assertFalse(contact.waiting_reply)
        # what the provider receives, in order: the text, then the PDF as a document
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=channel.ids, auto_commit=False)
        self.assertEqual(replies.mapped("state"), ["sent", "sent"])
        sent = [(s["method"], s["text"], s["file"]) for s in self.fake.sent if s["chat_id"] == "4242"]
        self.assertEqual(
            sent, [("sendMessage", "Yes, blue is in stock.", None), ("sendDocument", None, "pricelist.pdf")]
        )
        self.assertEqual(self.fake.uploads[-1]["size"], len(b"%PDF-1.4 price list"))


class TestChannelHealth(MessengerCase):
    def test_overview_counts_today(self):
        contacts = self.make_contacts(4)
        contacts[:2]._send("ok")
        self.fake.script(("400", "chat not found"))
        contacts[2]._send("refused")
        self.dispatch(budget=10)
        contacts[3]._send("later")  # still queued
        self.receive_from(contacts[3])
        self.channel.invalidate_recordset()
        health = (self.channel.sent_today, self.channel.failed_today, self.channel.queued_count)
        self.assertEqual(health, (2, 1, 1))
        self.assertEqual(self.channel.waiting_count, 1)
        self.assertIn("Chat not found", self.channel.last_error)

    def receive_from(self, contact):
        event = InboundEvent(event_id="health1", kind="message", chat_id=contact.chat_id, text="hello?")
        self.env["messenger.inbound"]._process(self.channel, [event])
