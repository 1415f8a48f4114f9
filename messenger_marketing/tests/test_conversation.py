import base64
import json
from unittest.mock import patch

from markupsafe import Markup

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import html2plaintext

from odoo.addons.mail.models import mail_push, mail_thread
from odoo.addons.mail.tools.discuss import Store

from ..core.providers import TRANSIENT, InboundEvent, SendResult
from .common import MessengerCase, TelegramSetupMixin

# a browser's subscription keys, as Odoo's own web push tests use them
PUSH_P256DH = "BGbhnoP_91U7oR59BaaSx0JnDv2oEooYnJRV2AbY5TBeKGCRCf0HcIJ9bOKchUCDH4cHYWo9SYDz3U-8vSxPL_A"
PUSH_AUTH = "DJFdtAgZwrT6yYkUMgUqow"


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

    def post_in_discuss(self, contact, body, user=None, **kwargs):
        """Post as the Discuss composer does (/mail/message/post: as superuser, for the user)."""
        channel = contact._conversation()
        user = user or self.salesman
        channel._messenger_join(user)
        return (
            channel.with_user(user)
            .sudo()
            .message_post(body=body, message_type="comment", subtype_xmlid="mail.mt_comment", **kwargs)
        )

    def test_operator_reply_in_discuss_goes_out_through_the_queue(self):
        contact = self.make_contacts(1)
        contact.partner_id = self.partner
        post = self.post_in_discuss(contact, Markup("<p>Your parcel leaves <b>today</b>.</p>"))
        queued = contact.message_ids_messenger
        self.assertEqual((queued.direction, queued.kind, queued.state), ("out", "service", "queued"))
        self.assertEqual((queued.mail_message_id, queued.discuss_message_id), (post, post), "shown once: the post")
        self.assertEqual(self.fake.texts(), [], "nothing is sent inside the user's transaction")
        self.dispatch(budget=5)
        self.assertEqual(self.fake.texts(contact.chat_id), ["Your parcel leaves *today*."])
        self.assertEqual(queued.state, "sent")
        self.assertEqual(post.model, "discuss.channel")
        self.assertEqual(contact.discuss_channel_id.channel_type, "messenger")

    def test_a_reply_to_a_blocked_contact_says_it_was_not_sent(self):
        contact = self.make_contacts(1, state="blocked")
        post = self.post_in_discuss(contact, "Are you still there?")
        self.assertFalse(contact.message_ids_messenger, "nothing is queued for a blocked bot")
        note = contact.discuss_channel_id.message_ids.filtered(lambda m: m.id > post.id)
        self.assertEqual(len(note), 1)
        self.assertIn("Not sent", note.body)
        self.assertIn("blocked the bot", note.body)
        self.assertEqual(note.message_type, "notification", "a line for colleagues, not a message to the customer")

    def test_the_conversation_shows_its_platform_from_the_provider(self):
        contact = self.make_contacts(1)
        channel = contact._conversation()
        provider = self.channel._provider_class()
        svg = base64.b64decode(channel._generate_avatar()).decode()
        self.assertIn(provider.brand_color, svg)
        data = Store(channel).get_result()["discuss.channel"][0]
        self.assertEqual((data["messenger_icon"], data["messenger_provider"]), ("fa-telegram", "Telegram"))

    def test_internal_note_is_not_sent(self):
        contact = self.make_contacts(1)
        self.post_in_discuss(contact, "/note ask the warehouse first")
        self.assertFalse(contact.message_ids_messenger)
        # and the contact's chatter is for notes only now: no post of it reaches the customer
        contact.with_user(self.salesman).message_post(
            body="a remark", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        self.assertFalse(contact.message_ids_messenger)

    def test_an_employee_without_messenger_group_cannot_send(self):
        contact = self.make_contacts(1)
        employee = self.env["res.users"].create(
            {"name": "Emma", "login": "emma_employee", "groups_id": [(6, 0, self.env.ref("base.group_user").ids)]}
        )
        channel = contact._conversation()
        channel.add_members(partner_ids=employee.partner_id.ids)
        with self.assertRaises(AccessError):
            channel.with_user(employee).sudo().message_post(
                body="hi", message_type="comment", subtype_xmlid="mail.mt_comment"
            )
        self.assertFalse(contact.message_ids_messenger)

    def test_incoming_message_shows_in_the_conversation_as_the_customer(self):
        contact = self.make_contacts(1)
        contact.partner_id = self.partner
        self.env["messenger.inbound"]._process(
            self.channel,
            [InboundEvent(event_id="e1", kind="message", chat_id=contact.chat_id, text="Where is my order?")],
        )
        channel = contact.discuss_channel_id
        self.assertEqual((channel.channel_type, channel.messenger_contact_id), ("messenger", contact))
        posted = channel.message_ids[0]
        self.assertIn("Where is my order?", posted.body)
        self.assertEqual(
            (posted.message_type, posted.author_guest_id, posted.author_id),
            ("comment", contact.guest_id, self.env["res.partner"]),
            "the customer writes as the conversation's guest, never as a partner",
        )
        self.assertEqual(contact.guest_id.name, contact.name)
        self.assertEqual(contact.message_ids_messenger.discuss_message_id, posted)
        self.assertFalse(self.partner.message_ids.filtered(lambda m: "Where is my order?" in (m.body or "")))
        self.assertFalse(contact.message_ids.filtered(lambda m: "Where is my order?" in (m.body or "")))
        self.assertFalse(contact.message_ids_messenger.filtered(lambda m: m.direction == "out"))
        self.assertFalse(channel.channel_member_ids.partner_id, "nobody holds it: no member but the customer")

        # an operator's membership makes the next message a post that reaches them live
        channel._messenger_join(self.salesman)
        self.env.cr.precommit.run()
        before = self.env["bus.bus"].search([], order="id desc", limit=1).id or 0
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="e2", kind="message", chat_id=contact.chat_id, text="Hello?")]
        )
        self.env.cr.precommit.run()
        posted = channel.message_ids[0]
        self.assertIn("Hello?", posted.body)
        sent = self.env["bus.bus"].search([("id", ">", before)])
        new_message = sent.filtered(lambda b: json.loads(b.message)["type"] == "discuss.channel/new_message")
        self.assertEqual(len(new_message), 1)
        self.assertEqual(json.loads(new_message.channel), [self.env.cr.dbname, "discuss.channel", channel.id])
        member = channel.channel_member_ids.filtered(lambda m: m.partner_id == self.salesman.partner_id)
        # both of the customer's messages are unread to the operator, who joined after the first
        self.assertEqual(member.with_user(self.salesman).message_unread_counter, 2)

    def test_a_conversation_message_is_the_row_odoo_would_create(self):
        """The webhook writes a conversation's message in one INSERT: the row is the one
        mail.message's create writes for the same values, the body sanitized the same way."""
        contact = self.make_contacts(1)
        channel = contact._conversation()
        body = Markup('<p>Hi <b>there</b></p><script>alert(1)</script><img src="x" onerror="alert(2)">')
        values = {
            "model": channel._name,
            "res_id": channel.id,
            "author_id": self.env.ref("base.partner_root").id,
            "reply_to": False,
            "record_name": channel.name,
            "body": body,
            "message_type": "comment",
            "subtype_id": self.env.ref("mail.mt_comment").id,
        }
        cached = channel.message_ids
        ours = channel._messenger_insert_message(values)
        self.assertIn(ours, channel.message_ids, "the channel's cached messages were dropped")
        self.assertNotIn(ours, cached)
        theirs = self.env["mail.message"].create(dict(values))
        skip = {"id", "message_id", "date", "create_date", "write_date"}
        stored = [
            name for name, field in ours._fields.items() if field.store and field.column_type and name not in skip
        ]
        ours.invalidate_recordset()
        self.assertEqual(ours.read(stored)[0], theirs.read(stored)[0] | {"id": ours.id})
        self.assertNotIn("script", ours.body)
        self.assertNotIn("onerror", ours.body)
        self.assertTrue(ours.message_id.startswith("<") and ours.message_id != theirs.message_id)
        self.assertEqual((ours.create_uid, ours.write_uid), (self.env.user, self.env.user))
        guest = channel._messenger_insert_message(dict(values, author_id=False, author_guest_id=contact.guest_id.id))
        self.assertEqual(
            (guest.author_id, guest.author_guest_id, guest.email_from),
            (self.env["res.partner"], contact.guest_id, False),
        )

    def test_a_conversation_notifies_the_members_odoo_would(self):
        """The members notified of the customer's message, found in one query, are those
        Discuss's own rule finds: not the muted, not those who muted all, not the author."""
        contact = self.make_contacts(1)
        channel = contact._conversation()
        users = self.env["res.users"].create(
            [
                {"name": name, "login": name, "groups_id": [(6, 0, [self.env.ref("base.group_user").id])]}
                for name in ("listens", "muted_here", "muted_all", "author", "archived", "just_created")
            ]
        )
        self.assertTrue(users[5].res_users_settings_ids, "a user gets settings when created")
        channel._messenger_join(users)
        later = "2099-01-01 00:00:00"
        channel.channel_member_ids.filtered(lambda m: m.partner_id == users[1].partner_id).mute_until_dt = later
        self.env["res.users.settings"]._find_or_create_for_user(users[2]).mute_until_dt = later
        users[4].active = False
        message = self.env["mail.message"].create(
            {"model": channel._name, "res_id": channel.id, "body": "x", "message_type": "comment"}
        )
        for author in (users[3].partner_id.id, False):
            values = {"message_type": "comment", "author_id": author, "partner_ids": []}
            message.author_id = author
            ours = channel._notify_get_recipients(message, values)
            odoo = channel._notify_get_recipients(message, {})  # Discuss's own, from the message
            key = lambda rows: sorted(tuple(sorted(r.items())) for r in rows)  # noqa: E731
            self.assertEqual(key(ours), key(odoo))
            # as Discuss does, an archived user's partner still hears of it (it stays a member)
            expected = {users[0].partner_id.id, users[4].partner_id.id, users[5].partner_id.id}
            if not author:
                expected.add(users[3].partner_id.id)
            self.assertEqual({r["id"] for r in ours} & set(users.partner_id.ids), expected)

    def test_a_customers_message_reaches_the_operators_phone_by_web_push(self):
        """The mobile app, closed: Discuss's own web push carries the customer's message to
        the members who hold the conversation (the push service is Odoo's HTTP call)."""
        contact = self.make_contacts(1)
        channel = contact._conversation()
        channel._messenger_join(self.salesman)
        Device = self.env["mail.push.device"].sudo()
        Device.get_web_push_vapid_public_key()
        Device.create(
            {
                "partner_id": self.salesman.partner_id.id,
                "endpoint": "https://push.example.com/operator",
                "keys": json.dumps({"p256dh": PUSH_P256DH, "auth": PUSH_AUTH}),
            }
        )
        with (
            patch.object(mail_thread, "push_to_end_point") as direct,
            patch.object(mail_push, "push_to_end_point") as push,
        ):
            self.env["messenger.inbound"]._process(
                self.channel, [InboundEvent(event_id="wp1", kind="message", chat_id=contact.chat_id, text="Hello?")]
            )
            self.assertEqual(direct.call_count + push.call_count, 0, "the webhook does not wait on the push service")
            queued = self.env["mail.push"].search([])
            self.assertEqual(len(queued), 1)
            self.assertIn("Hello?", queued.payload)
            self.env.ref("mail.ir_cron_web_push_notification").method_direct_trigger()
        self.assertEqual(push.call_count, 1)
        self.assertEqual(push.call_args.kwargs["device"]["endpoint"], "https://push.example.com/operator")
        self.assertIn("Hello?", push.call_args.kwargs["payload"])

    def test_bot_button_order_and_campaign_messages_in_order_with_status(self):
        contact = self.make_contacts(1)
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="s1", kind="start", chat_id=contact.chat_id, text="/start")]
        )
        channel = contact.discuss_channel_id
        self.assertEqual(len(channel.message_ids), 1, "the bot's answer shows once it goes out, not in the webhook")
        self.dispatch(budget=5)
        welcome = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(welcome.body, self.channel.welcome_message)
        order_message = contact._send(
            "Your order S001 is confirmed", kind="transactional", buttons=[[{"text": "Track", "payload": "t"}]]
        )
        self.assertFalse(order_message.discuss_message_id, "confirming an order only writes the row")
        self.dispatch(budget=5)
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="b1", kind="button", chat_id=contact.chat_id, payload="t")]
        )
        bodies = [html2plaintext(m.body) for m in channel.message_ids.sorted("id")]
        self.assertEqual(len(bodies), 4)
        self.assertIn("/start", bodies[0])
        self.assertIn(self.channel.welcome_message, bodies[1])
        self.assertIn("Your order S001 is confirmed", bodies[2])
        self.assertIn("Track", bodies[2], "its buttons show with it")
        self.assertIn("[button] t", bodies[3])
        # each message carries its status, live
        self.assertEqual(
            Store(order_message.discuss_message_id).get_result()["mail.message"][0]["messenger_status"], "sent"
        )
        self.env.cr.precommit.run()
        before = self.env["bus.bus"].search([], order="id desc", limit=1).id or 0
        self.env["messenger.message"]._apply_status(
            self.channel,
            InboundEvent(
                event_id="st",
                kind="status",
                status="failed",
                provider_message_id=order_message.provider_message_id,
                text="the person's phone is off",
            ),
        )
        values = Store(order_message.discuss_message_id).get_result()["mail.message"][0]
        self.assertEqual(values["messenger_status"], "failed")
        self.assertTrue(values["messenger_failure"])
        self.env.cr.precommit.run()
        live = [json.loads(b.message) for b in self.env["bus.bus"].search([("id", ">", before)])]
        self.assertIn(
            "failed",
            [m.get("messenger_status") for n in live for m in n["payload"].get("mail.message", [])],
            "the members see the failure without a reload",
        )
        # a campaign message to a person with a conversation joins it when it goes out
        campaign_row = self.env["messenger.message"].create(
            {"channel_id": self.channel.id, "contact_id": contact.id, "kind": "marketing", "body": "Big sale!"}
        )
        stranger = self.make_contacts(1, start=5000)
        other_row = self.env["messenger.message"].create(
            {"channel_id": self.channel.id, "contact_id": stranger.id, "kind": "marketing", "body": "Big sale!"}
        )
        self.dispatch(budget=5)
        self.assertIn("Big sale!", campaign_row.discuss_message_id.body)
        self.assertEqual(other_row.state, "sent")
        self.assertFalse(stranger.discuss_channel_id, "a campaign makes no conversation of its own")

    def test_the_dispatcher_leaves_conversations_to_their_cron(self):
        """The sending loop does not make conversations: what the dispatcher sent waits
        for the conversation cron it triggers, which shows it in order; a customer's
        message pulls in what was sent to them before it."""
        first, second = self.make_contacts(2, start=7000)
        Message = self.env["messenger.message"]
        rows = Message.create(
            [
                {"channel_id": self.channel.id, "contact_id": contact.id, "kind": "transactional", "body": body}
                for contact, body in ((first, "Order confirmed"), (first, "Order shipped"), (second, "Order paid"))
            ]
        )
        cron = self.env.ref("messenger_marketing.ir_cron_messenger_conversation")
        triggers = self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)])
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids)
        self.assertEqual(set(rows.mapped("state")), {"sent"})
        self.assertEqual(rows.mapped("conversation_pending"), [True] * 3)
        self.assertFalse(rows.discuss_message_id, "nothing shown from inside the sending loop")
        self.assertFalse((first | second).discuss_channel_id)
        self.assertGreater(self.env["ir.cron.trigger"].search_count([("cron_id", "=", cron.id)]), triggers)

        # the second person answers before the cron ran: their order message comes first
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="dc1", kind="message", chat_id=second.chat_id, text="Thanks!")]
        )
        thread = second.discuss_channel_id.message_ids.sorted("id")
        self.assertEqual([html2plaintext(m.body) for m in thread], ["Order paid", "Thanks!"])
        self.assertFalse(rows[2].conversation_pending)

        shown = Message._cron_show_in_conversation()
        self.assertEqual(shown & rows, rows[:2], "the one already shown is not shown again")
        thread = first.discuss_channel_id.message_ids.sorted("id")
        self.assertEqual([html2plaintext(m.body) for m in thread], ["Order confirmed", "Order shipped"])
        self.assertEqual(rows.mapped("conversation_pending"), [False] * 3)
        self.assertFalse(Message._cron_show_in_conversation() & rows, "each message is shown once")

    def test_contact_form_opens_the_conversation_in_discuss(self):
        contact = self.make_contacts(1)
        contact.sudo()._note_incoming("hi")
        action = contact.with_user(self.salesman).action_open_conversation()
        channel = contact.discuss_channel_id
        self.assertEqual(action["tag"], "mail.action_discuss")
        self.assertEqual(action["params"]["active_id"], f"discuss.channel_{channel.id}")
        self.assertIn(self.salesman.partner_id, channel.channel_member_ids.partner_id)
        self.assertEqual(contact.unread_count, 0)
        lead = self.env["crm.lead"].create({"name": "Chat lead", "messenger_contact_id": contact.id})
        self.assertEqual(lead.with_user(self.salesman).action_open_messenger_contact()["params"], action["params"])

    def test_reading_in_discuss_clears_the_inbox_counter(self):
        contact = self.make_contacts(1)
        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="r1", kind="message", chat_id=contact.chat_id, text="anyone?")]
        )
        self.assertEqual(contact.unread_count, 1)
        channel = contact.discuss_channel_id
        channel._messenger_join(self.salesman)
        member = channel.channel_member_ids.filtered(lambda m: m.partner_id == self.salesman.partner_id)
        member.with_user(self.salesman)._mark_as_read(channel.message_ids[:1].id)
        self.assertEqual(contact.unread_count, 0)

    def test_operator_attachments_go_as_files_one_per_message(self):
        sandbox = self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        contact = self.env["messenger.contact"].create({"channel_id": sandbox.id, "chat_id": "s1", "name": "Sam"})
        files = self.env["ir.attachment"].create(
            [
                {"name": "invoice.pdf", "raw": b"%PDF-1.4 invoice", "mimetype": "application/pdf"},
                {"name": "photo.png", "raw": b"\x89PNG fake", "mimetype": "image/png"},
            ]
        )
        post = self.post_in_discuss(contact, "Here you are", attachment_ids=files.ids)
        rows = contact.message_ids_messenger.sorted("id")
        self.assertEqual(rows.mapped("attachment_id"), files.sorted("id"))
        self.assertEqual(rows.mapped("body"), ["Here you are", ""], "the text is the first file's caption")
        self.assertEqual(set(rows.mapped("discuss_message_id")), {post})
        dispatcher = self.env["messenger.dispatcher"]
        outgoing = [dispatcher._outgoing(row) for row in rows]
        self.assertEqual([o.attachment.kind for o in outgoing], ["document", "photo"])
        self.assertEqual(outgoing[0].attachment.data, b"%PDF-1.4 invoice")
        self.assertEqual(
            (outgoing[0].attachment.filename, outgoing[0].attachment.mimetype), ("invoice.pdf", "application/pdf")
        )
        dispatcher._dispatch(time_budget=1, channel_ids=sandbox.ids, auto_commit=False)
        self.assertEqual(set(rows.mapped("state")), {"sent"})

    # -- an operator changes or deletes a post --------------------------------------------
    def edit_in_discuss(self, post, body, attachments=None, user=None):
        """Change or delete a post as Discuss does (/mail/message/update_content: the
        thread as the user, the message as superuser; no attachments given: kept)."""
        channel = self.env["discuss.channel"].browse(post.res_id).with_user(user or self.salesman)
        ids = None if attachments is None else attachments.ids
        channel._message_update_content(post.sudo(), body=body, attachment_ids=ids)

    def status_of(self, post):
        values = Store(post).get_result()["mail.message"][0]
        return values["messenger_status"], values["messenger_failure"], values["messenger_editable"]

    def test_a_post_changed_before_it_went_out_goes_as_changed_in_its_place(self):
        contact = self.make_contacts(1)
        post = self.post_in_discuss(contact, "The desk costs 100 EUR")
        part = contact.message_ids_messenger
        self.post_in_discuss(contact, "Shall I book it?")
        self.assertEqual(self.status_of(post), ("queued", False, True), "Discuss offers Edit and Delete")
        shown = len(contact.discuss_channel_id.message_ids)
        self.edit_in_discuss(post, "The desk costs 90 EUR")
        self.edit_in_discuss(post, "The desk costs 80 EUR")
        self.assertEqual(len(contact.message_ids_messenger), 2, "rewritten, not queued again")
        self.assertEqual(
            (part.body, part.state, part.mail_message_id, part.discuss_message_id),
            ("The desk costs 80 EUR", "queued", post, post),
        )
        self.assertEqual(contact.last_message_preview, "Shall I book it?", "still the latest message")
        self.dispatch(budget=5)
        self.assertEqual(
            self.fake.texts(contact.chat_id),
            ["The desk costs 80 EUR", "Shall I book it?"],
            "only the last version, in the post's place",
        )
        self.assertEqual(self.status_of(post), ("sent", False, False), "no Edit once it went")
        self.assertEqual(len(contact.discuss_channel_id.message_ids), shown, "no message more in the conversation")

    def test_a_post_deleted_before_it_went_out_sends_nothing(self):
        contact = self.make_contacts(1)
        self.env["messenger.inbound"]._process(
            self.channel,
            [InboundEvent(event_id="del1", kind="message", chat_id=contact.chat_id, text="Is my quote ready?")],
        )
        pdf = self.env["ir.attachment"].create(
            {"name": "quote.pdf", "raw": b"%PDF-1.4 quote", "mimetype": "application/pdf"}
        )
        post = self.post_in_discuss(contact, "Your quote", attachment_ids=pdf.ids)
        parts = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(parts.attachment_id, pdf)
        self.assertFalse(contact.waiting_reply)
        self.edit_in_discuss(post, "", self.env["ir.attachment"])  # Discuss's "Delete"
        self.assertEqual((parts.state, parts.failure_type), ("cancelled", "edited"))
        self.assertFalse(contact.message_ids_messenger.filtered(lambda m: m.direction == "out") - parts)
        self.assertFalse(pdf.exists())
        self.assertEqual(self.status_of(post), (False, False, False))
        self.assertEqual(
            (contact.waiting_reply, contact.last_message_preview), (True, "Is my quote ready?"), "unanswered again"
        )
        self.dispatch(budget=5)
        self.assertFalse([s for s in self.fake.sent if s["chat_id"] == contact.chat_id])

    def test_a_file_taken_off_a_waiting_post_does_not_go(self):
        contact = self.make_contacts(1)
        # uploaded by the operator, as Discuss's composer does
        pdf, photo = (
            self.env["ir.attachment"]
            .with_user(self.salesman)
            .create(
                [
                    {"name": "price.pdf", "raw": b"%PDF-1.4 price", "mimetype": "application/pdf"},
                    {"name": "shop.png", "raw": b"\x89PNG fake", "mimetype": "image/png"},
                ]
            )
        )
        post = self.post_in_discuss(contact, "Our prices", attachment_ids=(pdf | photo).ids)
        parts = contact.message_ids_messenger.sorted("id")
        self.assertEqual(parts.mapped("attachment_id"), pdf | photo, "one message per file, the text as a caption")
        # Discuss's remove on a message's file (/mail/attachment/delete)
        photo.with_user(self.salesman)._delete_and_notify(post.sudo())
        self.assertEqual((parts[0].body, parts[0].attachment_id, parts[0].state), ("Our prices", pdf, "queued"))
        self.assertEqual((parts[1].state, parts[1].failure_type), ("cancelled", "edited"), "no empty message goes")
        self.dispatch(budget=5)
        sent = [(s["method"], s["file"]) for s in self.fake.sent if s["chat_id"] == contact.chat_id]
        self.assertEqual(sent, [("sendDocument", "price.pdf")])
        # once sent, its files stay as the customer got them
        with self.assertRaisesRegex(UserError, "no longer be changed or deleted"):
            pdf.with_user(self.salesman)._delete_and_notify(post.sudo())
        self.assertTrue(pdf.exists())

    def test_what_was_sent_from_elsewhere_is_not_changed_in_the_conversation(self):
        contact = self.make_contacts(1)
        order_message = contact._send("Your order S002 is confirmed", kind="transactional")
        order_message._to("sending")
        order_message._fail(SendResult(order_message.id, TRANSIENT, reason="Telegram is down"))
        order_message.action_retry()  # a manager retries it: queued again, its copy shown in the conversation
        copy = order_message.discuss_message_id
        self.assertEqual((order_message.state, copy.model), ("queued", "discuss.channel"))
        self.assertFalse(self.status_of(copy)[2], "Discuss offers no Edit")
        with self.assertRaisesRegex(UserError, "sent from elsewhere"):
            self.edit_in_discuss(copy, "Your order S002 is cancelled", user=self.env.ref("base.user_admin"))
        self.assertEqual(order_message.body, "Your order S002 is confirmed")

    def test_a_retried_answer_that_may_have_arrived_stays_as_it_was(self):
        contact = self.make_contacts(1)
        post = self.post_in_discuss(contact, "Your code is 1234")
        part = contact.message_ids_messenger
        part._to("sending")
        part._fail(SendResult(part.id, TRANSIENT, reason="no answer in time", maybe_delivered=True))
        self.assertEqual((part.state, part.maybe_delivered), ("failed", True))
        part.action_retry()
        self.assertEqual(part.state, "queued")
        with self.assertRaisesRegex(UserError, "no longer be changed or deleted"):
            self.edit_in_discuss(post, "Your code is 5678")
        self.assertEqual(part.body, "Your code is 1234")

    def test_the_customer_still_waits_when_an_answer_is_deleted_or_an_older_one_changed(self):
        contact = self.make_contacts(1)

        def customer_writes(event_id, text):
            self.env["messenger.inbound"]._process(
                self.channel, [InboundEvent(event_id=event_id, kind="message", chat_id=contact.chat_id, text=text)]
            )

        customer_writes("w1", "Where is my parcel?")
        contact._hand_off()  # the bot tells them a person will answer: still waiting
        self.assertTrue(contact.waiting_reply)
        answer = self.post_in_discuss(contact, "It left today")
        self.assertFalse(contact.waiting_reply)
        customer_writes("w2", "And the invoice?")
        self.edit_in_discuss(answer, "It left this morning")
        self.assertEqual(
            (contact.waiting_reply, contact.last_message_preview), (True, "And the invoice?"), "the newer question"
        )
        second = self.post_in_discuss(contact, "Attached tomorrow")
        self.assertFalse(contact.waiting_reply)
        self.edit_in_discuss(second, "", self.env["ir.attachment"])
        self.assertEqual((contact.waiting_reply, contact.last_message_preview), (True, "And the invoice?"))

    def test_a_post_that_left_the_queue_cannot_be_changed(self):
        contact = self.make_contacts(1)
        post = self.post_in_discuss(contact, "See you at 5")
        part = contact.message_ids_messenger
        body = post.body
        cases = [(state, False) for state in ("sending", "uncertain", "sent", "delivered", "read", "failed")]
        cases.append(("queued", True))  # retried after an attempt that went unanswered: it may have arrived
        for state, maybe_delivered in cases:
            with self.subTest(state=state, maybe_delivered=maybe_delivered):
                part.sudo().with_context(messenger_message_transition=True).write(
                    {"state": state, "maybe_delivered": maybe_delivered}
                )
                self.assertFalse(self.status_of(post)[2], "Discuss does not offer Edit")
                for new_body in ("See you at 6", ""):
                    with self.assertRaisesRegex(UserError, "no longer be changed or deleted"):
                        self.edit_in_discuss(post, new_body)
                    self.assertEqual(post.body, body, "the post stays as the customer got it")
                    self.assertEqual(contact.message_ids_messenger, part, "nothing queued")
                    self.assertEqual((part.state, part.body), (state, "See you at 5"))

    def test_a_reply_from_a_chat_lead_changed_before_it_went_out(self):
        contact, other = self.make_contacts(2)
        lead = self.env["crm.lead"].create(
            {"name": "Desk", "messenger_contact_id": contact.id, "user_id": self.salesman.id}
        )
        post = lead.with_user(self.salesman).message_post(
            body="Delivery on Monday", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        part = contact.message_ids_messenger
        self.assertEqual(part.mail_message_id, post)
        # an administrator of sales without the messenger groups, whom Odoo lets edit any
        # message: the change is refused, and the request's rollback undoes it whole
        admin = new_test_user(self.env, "lead_admin", groups="sales_team.group_sale_manager,base.group_erp_manager")
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            lead.with_user(admin)._message_update_content(post.sudo(), body="Delivery never")
        self.env.invalidate_all()
        self.assertEqual((part.body, part.state), ("Delivery on Monday", "queued"))
        self.assertIn("Monday", post.body)
        lead.messenger_contact_id = other  # the lead moved on: the reply stays the first person's
        lead.with_user(self.salesman)._message_update_content(post.sudo(), body="Delivery on Tuesday")
        self.assertEqual((part.body, part.state, part.mail_message_id), ("Delivery on Tuesday", "queued", post))
        self.assertFalse(other.message_ids_messenger)
        self.dispatch(budget=5)
        self.assertEqual(self.fake.texts(contact.chat_id), ["Delivery on Tuesday"])
        with self.assertRaisesRegex(UserError, "no longer be changed or deleted"):
            lead.with_user(self.salesman)._message_update_content(post.sudo(), body="Delivery on Wednesday")
        self.assertIn("Tuesday", post.body)
        bodies = [html2plaintext(m.body) for m in contact.discuss_channel_id.message_ids]
        self.assertEqual([b for b in bodies if "Delivery" in b], ["Delivery on Tuesday"], "shown once, as it went")


@tagged("post_install", "-at_install")
class TestEditingOverDiscussRoutes(TelegramSetupMixin, HttpCase):
    """Discuss's own routes: its edit and delete follow the queue, and once the message
    left, the operator reads why it cannot be changed (an error, not a failure)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.operator, cls.colleague = (
            new_test_user(cls.env, login, groups="messenger_marketing.group_messenger_user", password=f"{login}-pw-5")
            for login in ("edit_operator", "edit_colleague")
        )
        cls.contact = cls.env["messenger.contact"].create(
            {"name": "Oleg", "channel_id": cls.channel.id, "chat_id": "770001"}
        )
        cls.contact._conversation()._messenger_join(cls.operator | cls.colleague)
        # Odoo lets an administrator edit anyone's message; this one has no messenger group
        cls.admin = new_test_user(cls.env, "edit_admin", groups="base.group_system", password="edit_admin-pw-5")

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def rpc(self, login, route, **params):
        """The JSON-RPC answer of ``route`` as ``login``: its result, or its error's data."""
        self.authenticate(login, f"{login}-pw-5")
        payload = {"jsonrpc": "2.0", "method": "call", "id": 1, "params": params}
        response = self.url_open(route, data=json.dumps(payload), headers={"Content-Type": "application/json"})
        self.assertEqual(response.status_code, 200, "JSON-RPC answers its errors, never a 500")
        answer = response.json()
        return answer.get("result"), (answer.get("error") or {}).get("data")

    def edit(self, login, message_id, body):
        return self.rpc(login, "/mail/message/update_content", message_id=message_id, body=body, attachment_ids=[])

    def test_a_waiting_post_follows_its_edit_and_a_sent_one_is_refused(self):
        conversation = self.contact.discuss_channel_id
        result, error = self.rpc(
            "edit_operator",
            "/mail/message/post",
            thread_model="discuss.channel",
            thread_id=conversation.id,
            post_data={"body": "We open at ten", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
        )
        self.assertFalse(error)
        post_id = result["mail.message"][0]["id"]
        _result, error = self.edit("edit_colleague", post_id, "We open at nine")
        self.assertEqual(error["name"], "werkzeug.exceptions.NotFound", "Odoo's rule: only its author or an admin")
        result, error = self.edit("edit_operator", post_id, "We open at eleven")
        self.assertFalse(error)
        self.assertEqual(result["mail.message"][0]["messenger_status"], "queued", "the operator sees it waiting")
        self.env.invalidate_all()
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids, auto_commit=False)
        self.assertEqual(self.fake.texts("770001"), ["We open at eleven"])
        for body in ("We open at noon", ""):  # an edit, then Discuss's "Delete"
            _result, error = self.edit("edit_operator", post_id, body)
            self.assertEqual(error["name"], "odoo.exceptions.UserError")
            self.assertIn("can no longer be changed or deleted", error["message"])
        self.env.invalidate_all()
        self.assertIn("eleven", self.env["mail.message"].browse(post_id).body)
        self.assertEqual(self.fake.texts("770001"), ["We open at eleven"], "sent once")

    def test_an_administrator_without_the_messenger_groups_cannot_change_a_post(self):
        result, error = self.rpc(
            "edit_operator",
            "/mail/message/post",
            thread_model="discuss.channel",
            thread_id=self.contact.discuss_channel_id.id,
            post_data={"body": "Pick-up at noon", "message_type": "comment", "subtype_xmlid": "mail.mt_comment"},
        )
        self.assertFalse(error)
        post_id = result["mail.message"][0]["id"]
        _result, error = self.edit("edit_admin", post_id, "Pick-up at midnight")
        self.assertEqual(error["name"], "werkzeug.exceptions.NotFound", "a conversation is for Messenger users only")
        self.env.invalidate_all()
        self.assertIn("noon", self.env["mail.message"].browse(post_id).body, "the whole change is undone")
        part = self.env["messenger.message"].search([("mail_message_id", "=", post_id)])
        self.assertEqual((part.body, part.state), ("Pick-up at noon", "queued"))

    def test_a_file_of_a_sent_post_cannot_be_removed(self):
        pdf = (
            self.env["ir.attachment"]
            .with_user(self.operator)
            .create({"name": "terms.pdf", "raw": b"%PDF-1.4 terms", "mimetype": "application/pdf"})
        )
        _result, error = self.rpc(
            "edit_operator",
            "/mail/message/post",
            thread_model="discuss.channel",
            thread_id=self.contact.discuss_channel_id.id,
            post_data={
                "body": "Our terms",
                "attachment_ids": pdf.ids,
                "message_type": "comment",
                "subtype_xmlid": "mail.mt_comment",
            },
        )
        self.assertFalse(error)
        self.env.invalidate_all()
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids, auto_commit=False)
        self.assertEqual([s["file"] for s in self.fake.sent if s["chat_id"] == "770001"], ["terms.pdf"])
        _result, error = self.rpc("edit_operator", "/mail/attachment/delete", attachment_id=pdf.id)
        self.assertEqual(error["name"], "odoo.exceptions.UserError")
        self.assertIn("can no longer be changed or deleted", error["message"])
        self.env.invalidate_all()
        self.assertTrue(pdf.exists(), "the file stays with the message the customer got")


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
        members = first.discuss_channel_id.channel_member_ids
        self.assertIn(first.user_id.partner_id, members.partner_id, "the operator joins the conversation")
        notice = first.discuss_channel_id.message_ids.filtered(lambda m: first.user_id.partner_id in m.partner_ids)
        self.assertIn("Asked for a person", notice.body, "and is notified in Discuss")
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
        operator = contact.user_id
        self.assertIn(operator.partner_id, contact.discuss_channel_id.channel_member_ids.partner_id)
        contact.action_hand_back_to_bot()
        self.assertEqual((contact.answered_by, contact.activity_ids), ("bot", self.env["mail.activity"]))
        self.assertNotIn(operator.partner_id, contact.discuss_channel_id.channel_member_ids.partner_id)
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
        members = idle.discuss_channel_id.channel_member_ids.partner_id
        self.assertNotIn(idle.user_id.partner_id, members, "the operator left the idle conversation")
        self.assertIn(busy.user_id.partner_id, busy.discuss_channel_id.channel_member_ids.partner_id)


class TestMigrationToDiscuss(MessengerCase):
    def test_chatter_conversations_move_into_their_channel(self):
        from .test_sale_events import load_migration

        operator = self.env["res.users"].create(
            {
                "name": "Old Operator",
                "login": "old_operator",
                "groups_id": [(6, 0, self.env.ref("messenger_marketing.group_messenger_user").ids)],
            }
        )
        contact = self.make_contacts(1)
        contact.sudo().write({"answered_by": "operator", "user_id": operator.id})
        comment = self.env.ref("mail.mt_comment").id
        # as the chatter of 18.0.1.2.0 held them: the customer's words, a reply, a note
        said = contact.sudo()._message_create(
            [
                {
                    "model": contact._name,
                    "res_id": contact.id,
                    "body": "<p>Is it in stock?</p>",
                    "message_type": "comment",
                    "subtype_id": comment,
                    "author_id": False,
                    "email_from": "Ivan",
                }
            ]
        )
        photo = self.env["ir.attachment"].create(
            {"name": "shelf.png", "raw": b"png", "res_model": contact._name, "res_id": contact.id}
        )
        reply = (
            contact.with_user(operator)
            .sudo()
            ._message_create(
                [
                    {
                        "model": contact._name,
                        "res_id": contact.id,
                        "body": "<p>Yes, two left.</p>",
                        "message_type": "comment",
                        "subtype_id": comment,
                        "author_id": operator.partner_id.id,
                        "attachment_ids": [(4, photo.id)],
                    }
                ]
            )
        )
        note = contact.sudo().message_post(body="call him", message_type="comment", subtype_xmlid="mail.mt_note")
        queued = self.env["messenger.message"].create(
            {
                "channel_id": self.channel.id,
                "contact_id": contact.id,
                "body": "Yes, two left.",
                "mail_message_id": reply.id,
            }
        )
        self.assertFalse(contact.discuss_channel_id)
        channels = load_migration("18.0.1.3.0").move_conversations(self.env)
        self.assertEqual(channels, contact.discuss_channel_id)
        self.assertEqual(channels.message_ids.sorted("id"), said | reply)
        self.assertEqual((said.author_guest_id, said.author_id), (contact.guest_id, self.env["res.partner"]))
        self.assertEqual(reply.author_id, operator.partner_id)
        self.assertEqual((photo.res_model, photo.res_id), ("discuss.channel", channels.id))
        self.assertEqual((note.model, note.res_id), (contact._name, contact.id), "notes stay on the contact")
        self.assertEqual(queued.discuss_message_id, reply, "the reply shows its status")
        self.assertIn(operator.partner_id, channels.channel_member_ids.partner_id)


class TestFilesFromFeatures(MessengerCase):
    def test_template_and_flow_step_files_go_with_their_text(self):
        from ..models.messenger_media import file_attachment

        pdf = base64.b64encode(b"%PDF-1.4 manual")
        template = self.env["messenger.template"].create(
            {
                "name": "With a manual",
                "model_id": self.env.ref("sale.model_sale_order").id,
                "body": "Your order is confirmed",
                "file": pdf,
                "file_name": "manual.pdf",
            }
        )
        attachment = file_attachment(template)
        self.assertEqual(
            (attachment.name, attachment.raw, attachment.mimetype),
            ("manual.pdf", b"%PDF-1.4 manual", "application/pdf"),
        )
        contact = self.make_contacts(1)
        short = contact._send("Your order is confirmed", attachment_id=attachment.id)
        self.assertEqual((short.body, short.attachment_id), ("Your order is confirmed", attachment), "a caption")
        long_text = "word " * 300  # over Telegram's 1024 characters of a caption
        parts = contact._send(long_text, attachment_id=attachment.id, buttons=[[{"text": "OK", "payload": "ok"}]])
        self.assertEqual(len(parts), 2)
        self.assertEqual((parts[0].attachment_id, parts[0].buttons), (self.env["ir.attachment"], False))
        self.assertEqual((parts[1].body, parts[1].attachment_id), ("", attachment))
        self.assertTrue(parts[1].buttons, "the buttons go with the last message")
        outgoing = self.env["messenger.dispatcher"]._outgoing(parts[1])
        self.assertEqual((outgoing.attachment.kind, outgoing.attachment.filename), ("document", "manual.pdf"))

        flow = self.env["messenger.flow"].create({"name": "Flow with a file"})
        step = self.env["messenger.flow.step"].create(
            {"flow_id": flow.id, "text": "Here is our catalogue", "file": pdf, "file_name": "catalogue.pdf"}
        )
        session = self.env["messenger.flow.session"].create({"contact_id": contact.id, "flow_id": flow.id})
        said = session._say(step.text, attachment=file_attachment(step))
        self.assertEqual((said.body, said.attachment_id.name), ("Here is our catalogue", "catalogue.pdf"))
