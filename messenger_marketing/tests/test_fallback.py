"""Reaching a customer across channels: an order update or a reply that one channel cannot
deliver goes once more through the customer's next channel, in the order of the company
(or of the customer); a campaign never does; and nothing reaches a person twice, also
when a dispatcher is killed in the middle of a run."""

import collections
import time

from psycopg2 import IntegrityError

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..core.providers import InboundEvent
from .common import ProvidersSetupMixin, TelegramSetupMixin
from .fakes.max_server import FakeMax
from .fakes.telegram_server import FakeTelegram
from .test_faults_dispatch import CommittedCase, wait_until


@tagged("post_install", "-at_install")
class TestFallback(ProvidersSetupMixin, TelegramSetupMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.telegram = cls.setup_telegram(cls.env)
        cls.max, cls.max_fake = cls.setup_max(cls.env)
        cls.product = cls.env["product.product"].create({"name": "Oak desk", "list_price": 250.0, "type": "consu"})
        cls.chat = 8000
        # each test sets its own order of channels, not the demo's
        cls.env["messenger.route"].search([]).unlink()

    def setUp(self):
        super().setUp()
        self.fake.reset()
        self.max_fake.reset()

    def customer(self, name="Ivan Petrov"):
        """A partner with a contact on Telegram and one on MAX; their chat ids."""
        TestFallback.chat += 1
        partner = self.env["res.partner"].create({"name": name})
        chat = str(TestFallback.chat)
        on_telegram = self.make_contact(self.telegram, chat, partner_id=partner.id)
        on_max = self.make_contact(self.max, chat, partner_id=partner.id)
        return partner, on_telegram, on_max

    def prefer(self, *channels, kind="transactional", partner=None):
        self.env["messenger.route"].create(
            [
                {"channel_id": c.id, "kind": kind, "sequence": i, "partner_id": partner.id if partner else False}
                for i, c in enumerate(channels)
            ]
        )

    def confirm_order(self, partner):
        order = self.env["sale.order"].create(
            {"partner_id": partner.id, "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})]}
        )
        order.action_confirm()
        return order

    def order_messages(self, order):
        return self.env["messenger.message"].search(
            [("res_model", "=", "sale.order"), ("res_id", "=", order.id)], order="id"
        )

    def dispatch(self):
        for channel in (self.telegram, self.max):
            self.env.cr.execute("UPDATE messenger_channel SET pacing_next_slot = NULL WHERE id = %s", [channel.id])
        (self.telegram | self.max).invalidate_recordset(["pacing_next_slot"])
        return self.env["messenger.dispatcher"]._dispatch(time_budget=20, channel_ids=[self.telegram.id, self.max.id])

    def test_blocked_on_telegram_the_order_update_arrives_on_max_only(self):
        self.prefer(self.telegram, self.max)
        partner, on_telegram, on_max = self.customer()
        self.fake.block(on_telegram.chat_id)
        order = self.confirm_order(partner)
        (first,) = self.order_messages(order)
        self.assertEqual(first.channel_id, self.telegram, "the company's first channel")
        self.dispatch()
        first, again = self.order_messages(order)
        self.assertEqual((first.state, first.failure_type), ("failed", "blocked"))
        self.assertEqual(on_telegram.state, "blocked")
        self.assertEqual((again.channel_id, again.contact_id, again.state), (self.max, on_max, "sent"))
        self.assertEqual((first.fallback_id, again.fallback_of_id), (again, first))
        self.assertEqual(self.fake.sent, [], "nothing reached Telegram")
        self.assertEqual(len(self.max_fake.sent), 1)
        self.assertIn(order.name, self.max_fake.sent[0]["text"])
        self.assertEqual(again.buttons, first.buttons)
        # the chain in the order's chatter: failed there, sent again here, sent
        notes = order.message_ids.mapped("body")
        self.assertTrue(any("Not delivered through Test bot" in n and "MAX bot" in n for n in notes), notes)
        self.assertIn("Sent", again.chatter_log_id.body)
        self.assertIn("Failed", first.chatter_log_id.body)
        self.max.invalidate_recordset(["fallback_today"])
        self.assertEqual((self.max.fallback_today, self.telegram.fallback_today), (1, 0))
        # ...and a later one goes to MAX at once: the blocked Telegram contact is skipped
        later = self.order_messages(self.confirm_order(partner))
        self.assertEqual((later.channel_id, later.fallback_of_id), (self.max, later.browse()))

    def test_both_working_the_preferred_one_only(self):
        self.prefer(self.max, self.telegram)
        partner, on_telegram, _on_max = self.customer()
        # Telegram was used last: without an order, it would take the message
        on_telegram.last_message_at = "2030-01-01 00:00:00"
        order = self.confirm_order(partner)
        self.dispatch()
        (message,) = self.order_messages(order)
        self.assertEqual((message.channel_id, message.state), (self.max, "sent"))
        self.assertEqual((len(self.max_fake.sent), len(self.fake.sent)), (1, 0))
        # the customer's own order wins over the company's
        self.prefer(self.telegram, self.max, partner=partner)
        order = self.confirm_order(partner)
        self.dispatch()
        (message,) = self.order_messages(order)
        self.assertEqual((message.channel_id, message.state), (self.telegram, "sent"))
        self.assertEqual((len(self.max_fake.sent), len(self.fake.sent)), (1, 1))

    def test_a_marketing_message_never_falls_back(self):
        self.prefer(self.telegram, self.max)
        self.prefer(self.telegram, self.max, kind="service")
        _partner, on_telegram, on_max = self.customer()
        self.fake.block(on_telegram.chat_id)
        promo = on_telegram._send("Spring sale", kind="marketing")
        self.dispatch()
        self.assertEqual((promo.state, promo.failure_type, promo.fallback_id), ("failed", "blocked", promo.browse()))
        self.assertEqual(self.max_fake.sent, [])
        self.assertFalse(self.env["messenger.message"].search([("contact_id", "=", on_max.id)]))

    def test_a_reply_falls_back_on_a_refusal_not_after_a_lost_answer(self):
        self.prefer(self.telegram, self.max, kind="service")
        _partner, on_telegram, on_max = self.customer()
        # a refusal for good: the reply goes on through MAX
        self.fake.script(("400", "Bad Request: chat not found"))
        refused = on_telegram._send("We ship to Omsk")
        self.dispatch()
        self.assertEqual((refused.state, refused.failure_type), ("failed", "rejected"))
        self.assertEqual((refused.fallback_id.channel_id, refused.fallback_id.state), (self.max, "sent"))
        # no answer in time: it may have arrived, so it never goes a second way
        self.telegram.write({"request_timeout": 0.5, "max_attempts": 1})
        self.fake.script(("slow", 1.0))
        _partner, other_on_telegram, other_on_max = self.customer("Olga Petrova")
        lost = other_on_telegram._send("Your parcel left")
        self.dispatch()
        self.assertEqual((lost.state, lost.fallback_id), ("failed", lost.browse()))
        self.assertEqual(self.max_fake.texts(on_max.chat_id), ["We ship to Omsk"])
        self.assertEqual(self.max_fake.texts(other_on_max.chat_id), [])
        self.telegram.write({"request_timeout": 2.0, "max_attempts": 5})

    def test_falls_back_once_and_not_to_a_channel_tried_already(self):
        self.prefer(self.telegram, self.max)
        partner, on_telegram, on_max = self.customer()
        self.fake.block(on_telegram.chat_id)
        self.max_fake.block(on_max.chat_id)
        order = self.confirm_order(partner)
        self.dispatch()
        first, again = self.order_messages(order)
        self.assertEqual((first.state, again.state, again.failure_type), ("failed", "failed", "blocked"))
        self.assertFalse(again.fallback_id, "no channel left that the chain has not tried")
        self.assertFalse(first._fall_back(), "a message falls back once")
        self.assertEqual(len(self.order_messages(order)), 2)

    def test_email_then_sms_are_the_last_links(self):
        self.prefer(self.telegram, self.max)
        self.env["messenger.route"].create(
            [
                {"medium": "email", "kind": "transactional", "sequence": 8},
                {"medium": "sms", "kind": "transactional", "sequence": 9},
            ]
        )
        partner, on_telegram, on_max = self.customer()
        partner.email = "ivan@example.com"
        self.fake.block(on_telegram.chat_id)
        self.max_fake.block(on_max.chat_id)
        order = self.confirm_order(partner)
        self.dispatch()
        first, again = self.order_messages(order)
        self.assertEqual((first.fallback_id, again.state), (again, "failed"))
        self.assertFalse(first.fallback_medium, "the next messenger channel carried it")
        self.assertEqual(again.fallback_medium, "email")
        mail = again.fallback_mail_id
        self.assertEqual((mail.model, mail.res_id, mail.message_type), ("sale.order", order.id, "email_outgoing"))
        self.assertIn(order.name, mail.body)
        outgoing = self.env["mail.mail"].search([("mail_message_id", "=", mail.id)])
        self.assertEqual((outgoing.state, outgoing.recipient_ids), ("outgoing", partner), "queued for the mail cron")
        notes = order.message_ids.mapped("body")
        self.assertTrue(any("Not delivered through MAX bot" in n and "E-mail" in n for n in notes), notes)
        self.assertFalse(again._fall_back(), "once")
        # no e-mail address: the SMS app, when installed, takes it
        other, on_telegram, on_max = self.customer("Olga Petrova")
        other.mobile = "+7 912 345-67-89"
        self.fake.block(on_telegram.chat_id)
        self.max_fake.block(on_max.chat_id)
        order = self.confirm_order(other)
        self.dispatch()
        _first, again = self.order_messages(order)
        if "sms.sms" in self.env:
            self.assertEqual(again.fallback_medium, "sms")
            sms = self.env["sms.sms"].search([("mail_message_id", "=", again.fallback_mail_id.id)])
            self.assertEqual((sms.state, sms.partner_id), ("outgoing", other), "queued for the SMS cron")
            self.assertIn(order.name, sms.body)
        else:
            self.assertFalse(again.fallback_medium)

    def test_a_closed_window_falls_back(self):
        whatsapp, graph = self.setup_graph(self.env, "whatsapp")
        graph.reset()
        self.prefer(whatsapp, self.max)
        partner, _on_telegram, on_max = self.customer()
        # wrote 30 hours ago: WhatsApp's 24-hour window is closed, and the rule has no template
        self.make_contact(whatsapp, "79120000001", inbound_hours_ago=30, partner_id=partner.id)
        order = self.confirm_order(partner)
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=[whatsapp.id, self.max.id])
        first, again = self.order_messages(order)
        self.assertEqual((first.channel_id, first.state, first.failure_type), (whatsapp, "failed", "window"))
        self.assertEqual((again.channel_id, again.state), (self.max, "sent"))
        self.assertEqual(graph.bodies("79120000001"), [], "refused before any call")
        self.assertEqual(len(self.max_fake.texts(on_max.chat_id)), 1)

    def test_the_demo_way_two_sandboxes(self):
        """As in the demo: no token, a second sandbox channel in MAX's place."""
        first, second = self.env["messenger.channel"].create(
            [{"name": "Sandbox", "provider": "sandbox"}, {"name": "MAX (sandbox)", "provider": "sandbox"}]
        )
        self.prefer(first, second)
        partner = self.env["res.partner"].create({"name": "Azure"})
        here, there = self.env["messenger.contact"].create(
            [
                {"name": "Azure", "channel_id": c.id, "chat_id": "azure", "partner_id": partner.id}
                for c in (first, second)
            ]
        )
        queued = self.order_messages(self.confirm_order(partner))
        self.assertEqual(queued.channel_id, first)
        here.action_sandbox_block()  # the customer blocks the bot before it is sent
        self.assertEqual((here.state, queued.state), ("blocked", "cancelled"))
        log = here.consent_log_ids[:1]
        self.assertEqual((log.state, log.method, log.actor, log.user_id), ("blocked", "manual", "user", self.env.user))
        self.assertEqual((queued.fallback_id.channel_id, queued.fallback_id.contact_id), (second, there))
        later = self.order_messages(self.confirm_order(partner))
        self.assertEqual(later.channel_id, second, "the next update goes there at once")
        self.env["messenger.dispatcher"]._dispatch(time_budget=2, channel_ids=(first | second).ids)
        self.assertEqual((queued.fallback_id.state, later.state), ("sent", "sent"))
        with self.assertRaisesRegex(UserError, "only the person can block the bot"):
            self.make_contact(self.telegram, "not-sandbox").action_sandbox_block()

    def test_an_outage_longer_than_the_setting_falls_back(self):
        self.prefer(self.telegram, self.max)
        self.telegram.fallback_after_minutes = 0.01  # 0.6 seconds
        partner, _on_telegram, on_max = self.customer()
        self.fake.fail(60)  # Telegram answers 500 to everything
        order = self.confirm_order(partner)
        self.env["messenger.dispatcher"]._dispatch(time_budget=0.5, channel_ids=self.telegram.ids)
        (first,) = self.order_messages(order)
        self.assertEqual(first.state, "queued", "retried, for now")
        self.assertGreaterEqual(first.attempts, 1)
        time.sleep(0.7)
        self.dispatch()
        first, again = self.order_messages(order)
        self.assertEqual((first.state, first.failure_type), ("cancelled", "provider_unavailable"))
        self.assertIn("could not send it for 0.01 minutes", first.failure_reason)
        self.assertEqual((again.channel_id, again.state), (self.max, "sent"))
        self.assertEqual(self.max_fake.texts(on_max.chat_id), [again.body])

    def email_last(self, kind="transactional"):
        self.env["messenger.route"].create(
            [
                {"channel_id": self.telegram.id, "kind": kind, "sequence": 1},
                {"medium": "email", "kind": kind, "sequence": 9},
            ]
        )

    def test_a_lead_reply_refused_goes_by_one_email_as_the_company(self):
        """The e-mail is no post on the lead: the lead's message_post would send it to the
        messenger again, refused again, e-mailed again..."""
        whatsapp, graph = self.setup_graph(self.env, "whatsapp")
        graph.reset()
        partner = self.env["res.partner"].create({"name": "Lead Customer", "email": "lead@example.com"})
        # wrote 30 hours ago: WhatsApp's window is closed, a reply is refused
        contact = self.make_contact(whatsapp, "79120000077", inbound_hours_ago=30, partner_id=partner.id)
        self.env["messenger.route"].create(
            [
                {"channel_id": whatsapp.id, "kind": "service", "sequence": 1},
                {"medium": "email", "kind": "service", "sequence": 9},
            ]
        )
        lead = self.env["crm.lead"].create(
            {"name": "Chat lead", "messenger_contact_id": contact.id, "partner_id": partner.id}
        )
        lead.message_post(body="Here is our offer", message_type="comment", subtype_xmlid="mail.mt_comment")
        for _run in range(2):
            self.env["messenger.dispatcher"]._dispatch(time_budget=2, channel_ids=whatsapp.ids)
        (reply,) = self.env["messenger.message"].search([("contact_id", "=", contact.id), ("direction", "=", "out")])
        self.assertEqual((reply.state, reply.failure_type, reply.fallback_medium), ("failed", "window", "email"))
        mail = self.env["mail.mail"].search([("model", "=", "crm.lead"), ("res_id", "=", lead.id)])
        self.assertEqual(len(mail), 1, "one e-mail for one reply")
        self.assertEqual(
            (mail.mail_message_id, mail.state, mail.recipient_ids), (reply.fallback_mail_id, "outgoing", partner)
        )
        company = self.env.company
        self.assertEqual(mail.author_id, company.partner_id)
        self.assertEqual(
            mail.email_from, company.email_formatted or self.env["ir.mail_server"]._get_default_from_address()
        )
        self.assertTrue(mail.email_from)
        self.assertIn("Here is our offer", mail.body_html)
        self.assertEqual(graph.bodies("79120000077"), [])

    def test_an_email_from_a_webhook_is_the_companys_html_and_not_in_the_partners_chatter(self):
        self.email_last()
        partner = self.env["res.partner"].create({"name": "Html Customer", "email": "h@example.com"})
        on_telegram = self.make_contact(self.telegram, "9303", partner_id=partner.id)
        message = on_telegram._send("<b>Shipped</b> today", kind="transactional", record=partner, text_format="html")
        self.assertEqual(message.body_format, "html")
        # the person blocks the bot: the webhook runs as the public user
        event = InboundEvent("tg-block-9303", "blocked", chat_id="9303")
        public = self.env.ref("base.public_user")
        self.env["messenger.inbound"].with_user(public).sudo()._process(self.telegram, [event])
        self.assertEqual((message.state, message.fallback_medium), ("cancelled", "email"))
        mail = self.env["mail.mail"].search([("mail_message_id", "=", message.fallback_mail_id.id)])
        self.assertEqual((mail.model, mail.res_id, mail.recipient_ids), (False, 0, partner), "on no chatter")
        self.assertEqual(mail.author_id, self.telegram.company_id.partner_id)
        self.assertTrue(mail.email_from)
        self.assertIn("<b>Shipped</b> today", mail.body_html)
        self.assertNotIn("&lt;b&gt;", mail.body_html)
        self.assertFalse(partner.message_ids.filtered(lambda m: "Shipped" in (m.body or "")), "not for every employee")

    def test_a_message_that_went_on_is_not_retried(self):
        self.prefer(self.telegram, self.max)
        _partner, on_telegram, on_max = self.customer()
        self.telegram.max_attempts = 1
        self.fake.fail(3)  # Telegram answers 500: it went on through MAX
        first = on_telegram._send("Your order shipped", kind="transactional")
        self.dispatch()
        self.assertEqual((first.state, first.fallback_id.state), ("failed", "sent"))
        self.fake.reset()
        first.action_retry()
        self.dispatch()
        self.assertEqual(first.state, "failed", "it would reach the person twice")
        self.assertEqual((self.fake.sent, self.max_fake.texts(on_max.chat_id)), ([], ["Your order shipped"]))
        # one that went by e-mail neither
        self.email_last("service")
        partner = self.env["res.partner"].create({"name": "Mailed", "email": "m@example.com"})
        mailed = self.make_contact(self.telegram, "9311", partner_id=partner.id)
        self.fake.block("9311")
        reply = mailed._send("We ship to Omsk")
        self.dispatch()
        self.assertEqual((reply.state, reply.fallback_medium), ("failed", "email"))
        reply.action_retry()
        self.assertEqual(reply.state, "failed")

    def test_a_shared_channel_falls_back_within_the_records_company(self):
        company_b = self.env["res.company"].create({"name": "Company B"})
        self.telegram.company_id = False  # shared by both companies
        self.assertEqual(self.max.company_id, self.env.company)
        partner, on_telegram, _on_max = self.customer("Shared Customer")
        self.fake.block(on_telegram.chat_id)
        order_b = self.env["sale.order"].create(
            {
                "partner_id": partner.id,
                "company_id": company_b.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})],
            }
        )
        message = on_telegram._send(f"Order {order_b.name} confirmed", kind="transactional", record=order_b)
        self.dispatch()
        self.assertEqual((message.state, message.failure_type), ("failed", "blocked"))
        self.assertFalse(message.fallback_id, "company A's bot does not speak of company B's order")
        self.assertEqual(self.max_fake.sent, [])
        # company A's order does go on through company A's MAX bot
        order_a = self.env["sale.order"].create(
            {"partner_id": partner.id, "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1})]}
        )
        on_telegram.state = "subscribed"
        message = on_telegram._send(f"Order {order_a.name} confirmed", kind="transactional", record=order_a)
        self.dispatch()
        self.assertEqual(message.fallback_id.channel_id, self.max)

    def test_one_that_may_have_arrived_does_not_fall_back_after_an_outage(self):
        self.prefer(self.telegram, self.max)
        _partner, on_telegram, on_max = self.customer()
        self.telegram.write({"request_timeout": 0.3, "max_attempts": 5, "fallback_after_minutes": 0.01})
        self.fake.script(("slow", 1.0), ("slow", 1.0), ("slow", 1.0))
        update = on_telegram._send("Your order shipped", kind="transactional")
        self.env["messenger.dispatcher"]._dispatch(time_budget=0.4, channel_ids=self.telegram.ids)
        self.assertEqual((update.state, update.maybe_delivered), ("queued", True), "retried on its channel")
        self.env.cr.execute(
            "UPDATE messenger_message SET create_date = create_date - interval '1 hour' WHERE id = %s", [update.id]
        )
        self.env["messenger.dispatcher"]._fall_back_stalled(self.telegram.ids)
        update.invalidate_recordset()
        self.assertEqual((update.state, update.fallback_id), ("queued", update.browse()))
        self.assertEqual(self.max_fake.texts(on_max.chat_id), [])

    def test_an_order_of_channels_has_each_step_once(self):
        Route = self.env["messenger.route"]
        Route.create([{"channel_id": self.telegram.id}, {"medium": "email"}, {"medium": "sms"}])
        for duplicate in ({"channel_id": self.telegram.id}, {"medium": "email"}):
            with self.assertRaises(IntegrityError), mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                Route.create(duplicate)
                self.env.flush_all()
        # the same step in a customer's own order is another order
        partner = self.env["res.partner"].create({"name": "Own order"})
        Route.create({"medium": "email", "partner_id": partner.id})
        self.env.flush_all()

    def test_the_outage_check_reads_no_campaign_queue(self):
        self.env.flush_all()
        self.env.cr.execute("SET LOCAL enable_seqscan = off")
        self.env.cr.execute(
            """EXPLAIN SELECT m.id FROM messenger_message m
               WHERE m.state = 'queued' AND m.direction = 'out' AND m.kind IN %s AND m.channel_id = %s""",
            [("transactional", "service"), self.telegram.id],
        )
        plan = " ".join(r[0] for r in self.env.cr.fetchall())
        self.assertIn("messenger_message_stalled_idx", plan)


@tagged("post_install", "-at_install")
class TestFallbackKilledDispatcher(CommittedCase):
    def test_never_twice_across_channels_with_a_killed_dispatcher(self):
        telegram = FakeTelegram(rate_limit=0, per_chat_interval=0.0).start()
        self.addCleanup(telegram.stop)
        max_fake = FakeMax(rate_limit=0, delay=0.3).start()
        self.addCleanup(max_fake.stop)
        count = 40
        with self.committed_env() as env:
            vals = {"request_timeout": 5.0, "rate_limit": 20, "per_chat_interval": 0.0}
            tg = env["messenger.channel"].create(
                {"name": "Fallback TG", "provider": "telegram", "token": telegram.token, "api_base_url": telegram.url}
                | vals
            )
            mx = env["messenger.channel"].create(
                {"name": "Fallback MAX", "provider": "max", "token": max_fake.token, "api_base_url": max_fake.url}
                | vals
            )
            self.channel_ids += [tg.id, mx.id]
            env["messenger.route"].create(
                [{"channel_id": c.id, "kind": "transactional", "sequence": i} for i, c in enumerate((tg, mx))]
            )
            partners = env["res.partner"].create([{"name": f"Fallback {i}"} for i in range(count)])
            self.addCleanup(self._remove_partners, partners.ids)
            contacts = env["messenger.contact"].create(
                [
                    {"name": p.name, "channel_id": c.id, "chat_id": str(9100 + i), "partner_id": p.id}
                    for i, p in enumerate(partners)
                    for c in (tg, mx)
                ]
            )
            on_telegram = contacts.filtered(lambda c: c.channel_id == tg)
            originals = on_telegram._send("Your order shipped", kind="transactional").ids
            channel_ids = [tg.id, mx.id]
        telegram.block(*[str(9100 + i) for i in range(count)])
        self.set_param("messenger_marketing.sending_timeout_seconds", "1")
        worker = self.start_worker(channel_ids)
        # the kill lands while the copies go out on MAX (each answered after 0.3 s)
        wait_until(lambda: max_fake.stats()["requests"] >= 5, 30, f"nothing reached MAX\n{worker.tail()}")
        worker.kill()
        time.sleep(1.1)  # past the sending timeout: what the killed process held is recovered
        with self.committed_env() as env:
            env["messenger.dispatcher"]._dispatch(time_budget=30, channel_ids=channel_ids, auto_commit=True)
        with self.committed_env() as env:
            rows = env["messenger.message"].search([("channel_id", "in", channel_ids), ("direction", "=", "out")])
            states = {(m.channel_id.id, m.state) for m in rows}
            firsts = rows.filtered(lambda m: m.id in originals)
            copies = rows - firsts
            # blocked on Telegram; one whose answer the kill cut off is for a person to check
            self.assertLessEqual(set(firsts.mapped("state")), {"failed", "uncertain"}, states)
            failed = firsts.filtered(lambda m: m.state == "failed")
            self.assertTrue(failed)
            self.assertEqual(sorted(copies.mapped("fallback_of_id").ids), sorted(failed.ids), "one copy each")
            self.assertLessEqual(set(copies.mapped("state")), {"sent", "uncertain"}, states)
            interrupted = rows.filtered(lambda m: m.state == "uncertain")
            self.assertEqual(set(interrupted.mapped("failure_type")), {"interrupted"} if interrupted else set())
            self.assertFalse(interrupted.fallback_id, "one that may have arrived never goes another way")
            sent_to = {m.contact_id.chat_id for m in copies if m.state == "sent"}
            unknown = {m.contact_id.chat_id for m in interrupted}
        self.assertEqual(len(sent_to | unknown), count, "nothing lost")
        delivered = collections.Counter(s["user_id"] for s in max_fake.sent)
        self.assertEqual(telegram.sent, [])
        self.assertEqual(max(delivered.values()), 1, "nobody got the update twice")
        # each one sent reached its person; one interrupted may have, or not
        self.assertLessEqual(sent_to, set(delivered))
        self.assertLessEqual(set(delivered), sent_to | unknown)

    def _remove_partners(self, ids):
        with self.committed_env() as env:
            env["res.partner"].browse(ids).unlink()
