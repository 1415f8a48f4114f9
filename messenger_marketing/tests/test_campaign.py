import base64
from datetime import timedelta

import pytz

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged

from .common import MessengerCase, TelegramSetupMixin


class CampaignMixin:
    def make_people(self, count, start=30000, state="subscribed"):
        partners = self.env["res.partner"].create([{"name": f"Customer {start + i}"} for i in range(count)])
        contacts = self.env["messenger.contact"].create(
            [
                {
                    "name": p.name,
                    "channel_id": self.channel.id,
                    "chat_id": str(start + i),
                    "partner_id": p.id,
                    "state": state,
                }
                for i, p in enumerate(partners)
            ]
        )
        return partners, contacts

    def make_mailing(self, partners, **vals):
        return self.env["mailing.mailing"].create(
            {
                "name": "Spring sale",
                "subject": "Spring sale",
                "mailing_type": "messenger",
                "mailing_model_id": self.env.ref("base.model_res_partner").id,
                "mailing_domain": repr([("id", "in", partners.ids)]),
                "messenger_channel_ids": [(6, 0, self.channel.ids)],
                "messenger_body": "Spring sale: -20% on every chair this week!",
                **vals,
            }
        )

    def campaign_messages(self, mailing):
        return self.env["messenger.message"].search([("mailing_id", "=", mailing.id)])


@tagged("post_install", "-at_install")
class TestCampaign(CampaignMixin, MessengerCase):
    def test_only_subscribed_unique_contacts_receive_it_once(self):
        partners, contacts = self.make_people(300)
        unsubscribed, blocked = contacts[:20], contacts[20:30]
        unsubscribed.state = "unsubscribed"
        blocked.state = "blocked"
        # fifteen people have a second contact on the channel: they must get one message, on
        # the newer chat when neither wrote (messenger.contact._reachable_by_partner's rule)
        second = self.env["messenger.contact"].create(
            [
                {
                    "name": c.name,
                    "channel_id": self.channel.id,
                    "chat_id": str(int(c.chat_id) + 500000),
                    "partner_id": c.partner_id.id,
                }
                for c in contacts[100:115]
            ]
        )
        mailing = self.make_mailing(partners)
        self.assertEqual(mailing.messenger_reachable_count, 270)
        self.assertEqual(mailing.total, 300, "every recipient, as Email Marketing counts them")
        mailing.action_launch()
        mailing._process_mass_mailing_queue()
        messages = self.campaign_messages(mailing)
        self.assertEqual(len(messages), 270)
        self.assertEqual(len(messages.contact_id.partner_id), 270)
        self.assertFalse(messages.contact_id & (unsubscribed | blocked))
        self.assertEqual(messages.contact_id & (contacts[100:115] | second), second)
        self.assertEqual(set(messages.mapped("kind")), {"marketing"})
        self.assertEqual(mailing.state, "sending", "until every message has an outcome")
        self.assertEqual((mailing.expected, mailing.canceled, mailing.scheduled), (300, 30, 270))
        self.channel.rate_limit = 100
        self.fake.rate_limit = 100
        self.dispatch(budget=30)
        self.assertEqual(self.fake.violations, 0, self.fake.violation_log[:5])
        self.assertEqual(len(self.fake.sent), 270)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        mailing.invalidate_recordset()
        self.assertEqual(mailing.state, "done")
        self.assertEqual(mailing.delivered, 270)
        self.assertEqual(mailing.messenger_progress, 100.0)
        self.assertEqual((mailing.messenger_sent_count, mailing.messenger_queued_count), (270, 0))
        # the unsubscribe button is on every message
        self.assertTrue(
            all(s["reply_markup"]["inline_keyboard"][-1][0]["callback_data"] == "unsub" for s in self.fake.sent)
        )
        # launching again sends nothing more
        mailing.action_launch()
        mailing._process_mass_mailing_queue()
        self.assertEqual(len(self.campaign_messages(mailing)), 270)
        self.assertEqual(mailing._messenger_launch(partners.ids), 0)
        self.dispatch(budget=5)
        self.assertEqual(len(self.fake.sent), 270)

    def test_reachable_count_is_a_plain_read(self):
        """The form's count runs no DDL (it used to fill a temporary table on every read),
        and a domain value with a "%" in it is passed through intact."""
        partners, _contacts = self.make_people(5)
        partners[:2].write({"comment": "50% off"})
        mailing = self.make_mailing(partners, mailing_domain=repr([("comment", "ilike", "50% off")]))
        self.assertEqual(mailing.messenger_reachable_count, 2)
        self.env.cr.execute("SELECT to_regclass('pg_temp.messenger_launch_audience')")
        self.assertIsNone(self.env.cr.fetchone()[0])
        mailing.mailing_domain = repr([("id", "in", partners.ids)])
        self.assertEqual(mailing.messenger_reachable_count, 5)

    def test_unsubscribe_while_sending(self):
        partners, contacts = self.make_people(5)
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        leaving = contacts[2]
        from ..core.providers import InboundEvent

        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="u1", kind="message", chat_id=leaving.chat_id, text="stop")]
        )
        self.dispatch(budget=10)
        self.assertEqual(self.fake.texts(leaving.chat_id), [self.channel.unsubscribe_message])
        self.assertEqual(len(self.fake.sent), 5, "four campaign messages and one confirmation")
        message = self.campaign_messages(mailing).filtered(lambda m: m.contact_id == leaving)
        self.assertEqual((message.state, message.mailing_trace_id.trace_status), ("cancelled", "cancel"))

    def test_unsubscribe_button_counts_for_the_campaign(self):
        partners, contacts = self.make_people(2)
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        self.dispatch(budget=5)
        from ..core.providers import InboundEvent

        self.env["messenger.inbound"]._process(
            self.channel, [InboundEvent(event_id="b1", kind="button", chat_id=contacts[0].chat_id, payload="unsub")]
        )
        self.assertEqual(contacts[0].state, "unsubscribed")
        mailing.invalidate_recordset()
        self.assertEqual(mailing.messenger_optout_count, 1)
        # a reply counts as replied
        self.env["messenger.inbound"]._process(
            self.channel,
            [InboundEvent(event_id="r1", kind="message", chat_id=contacts[1].chat_id, text="How much is it?")],
        )
        mailing.invalidate_recordset()
        self.assertEqual(mailing.replied, 1)
        self.assertEqual(mailing.messenger_replied_count, 1)

    def test_campaign_rate_and_channel_limit(self):
        self.channel.rate_limit = 20
        self.fake.rate_limit = 20
        partners, _contacts = self.make_people(60)
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        self.dispatch(budget=20)
        self.assertEqual(len(self.fake.sent), 60)
        self.assertEqual(self.fake.violations, 0)
        # a campaign's own lower rate spreads its messages
        partners2, _contacts2 = self.make_people(10, start=40000)
        slow = self.make_mailing(partners2, messenger_rate=2.0)
        slow._messenger_launch()
        due = sorted(self.campaign_messages(slow).mapped("next_attempt_at"))
        self.assertEqual((due[-1] - due[0]).total_seconds(), 4.5, "10 messages at 2/s")

    def test_sending_window_in_recipient_time_zone(self):
        partners, _contacts = self.make_people(2)
        partners[0].tz = "Asia/Vladivostok"
        partners[1].tz = "Europe/Kaliningrad"
        now = fields.Datetime.now()
        # a one-hour window that is not now anywhere: starts in three hours, Vladivostok time
        local_now = pytz.utc.localize(now).astimezone(pytz.timezone("Asia/Vladivostok"))
        start = (local_now.hour + 3) % 24
        mailing = self.make_mailing(partners, messenger_window_start=start, messenger_window_end=start + 1)
        mailing._messenger_launch()
        messages = self.campaign_messages(mailing)
        self.assertTrue(all(m.next_attempt_at > now for m in messages))
        for message in messages:
            tz = pytz.timezone(message.contact_id.partner_id.tz)
            local = pytz.utc.localize(message.next_attempt_at).astimezone(tz)
            self.assertEqual((local.hour, local.minute), (start, 0), message.contact_id.partner_id.tz)
            self.assertLess(message.next_attempt_at - now, timedelta(days=1))
        self.dispatch(budget=2)
        self.assertEqual(self.fake.texts(), [], "nothing is sent outside the window")

    def test_pause_and_resume(self):
        partners, _contacts = self.make_people(10)
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        mailing.action_messenger_pause()
        self.assertEqual(set(self.campaign_messages(mailing).mapped("state")), {"held"})
        self.dispatch(budget=2)
        self.assertEqual(self.fake.texts(), [])
        mailing.action_messenger_resume()
        self.dispatch(budget=10)
        self.assertEqual(len(self.fake.sent), 10)
        self.assertFalse(mailing.messenger_paused)

    def test_auto_pause_on_blocks(self):
        # small batches (a rate of 5/s claims 10 at a time), so the check runs early
        self.channel.write({"auto_pause_threshold": 30, "auto_pause_min_messages": 10, "rate_limit": 5})
        self.fake.rate_limit = 5
        partners, contacts = self.make_people(40)
        self.fake.blocked.update(contacts[:12].mapped("chat_id"))
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        self.dispatch(budget=10)
        self.assertTrue(mailing.messenger_paused)
        self.assertIn("Paused automatically", mailing.message_ids[0].body)
        self.assertTrue(mailing.activity_ids)
        held = self.campaign_messages(mailing).filtered(lambda m: m.state == "held")
        self.assertTrue(held, "the rest waits for a person")
        self.assertEqual(len(held), 30)
        self.assertEqual(self.fake.texts(), [], "the first ten were all refused")
        mailing.invalidate_recordset()
        self.assertEqual((mailing.messenger_failed_count, mailing.messenger_queued_count), (10, 30))
        failures = mailing.with_context(messenger_failed=True).action_view_messenger_messages()
        self.assertEqual(self.env["messenger.message"].search_count(failures["domain"]), 10)

    def test_test_send(self):
        partners, contacts = self.make_people(2)
        contacts[1].state = "unsubscribed"
        mailing = self.make_mailing(partners)
        action = mailing.action_test()
        wizard = (
            self.env[action["res_model"]]
            .with_context(**action["context"])
            .create({"contact_ids": [(6, 0, contacts.ids)]})
        )
        wizard.action_send()
        self.dispatch(budget=5)
        self.assertEqual(self.fake.texts(), [f"[Test] {mailing.messenger_body}"])
        self.assertFalse(self.campaign_messages(mailing), "a test is not part of the campaign")

    def test_a_campaign_carries_a_file(self):
        partners, _contacts = self.make_people(2)
        mailing = self.make_mailing(
            partners, messenger_file=base64.b64encode(b"%PDF-1.4 catalogue"), messenger_file_name="catalogue.pdf"
        )
        mailing._messenger_launch()
        rows = self.campaign_messages(mailing)
        self.assertEqual(len(rows), 2)
        self.assertEqual(set(rows.mapped("attachment_id.name")), {"catalogue.pdf"})
        outgoing = self.env["messenger.dispatcher"]._outgoing(rows[0])
        self.assertEqual((outgoing.attachment.kind, outgoing.attachment.data), ("document", b"%PDF-1.4 catalogue"))
        self.assertEqual(outgoing.text, "Spring sale: -20% on every chair this week!", "the text is its caption")

    def test_image_and_template(self):
        partners, contacts = self.make_people(1)
        template = self.env["messenger.template"].create(
            {"name": "Sale", "model_id": self.env.ref("base.model_res_partner").id, "body": "Autumn sale starts now!"}
        )
        mailing = self.make_mailing(partners, messenger_image_url="https://shop.example.com/sale.png")
        mailing.messenger_template_id = template
        mailing._onchange_messenger_template_id()
        self.assertEqual(mailing.messenger_body, "Autumn sale starts now!")
        mailing._messenger_launch()
        self.dispatch(budget=5)
        sent = self.fake.sent[0]
        self.assertEqual(
            (sent["photo"], sent["text"]), ("https://shop.example.com/sale.png", "Autumn sale starts now!")
        )
        self.assertEqual(sent["reply_markup"]["inline_keyboard"][-1][0]["callback_data"], "unsub")
        # a picture's caption has a shorter limit: refused with a reason before any call
        too_long = contacts._send("x" * 1100, kind="service", image_url="https://shop.example.com/a.png")
        self.dispatch(budget=5)
        self.assertEqual(too_long.state, "failed")
        self.assertIn("1024", too_long.failure_reason)
        self.assertEqual(len(self.fake.sent), 1)
        # placeholders would go out literally: refused
        with self.assertRaises(UserError):
            mailing.messenger_body = "Hello {{ object.name }}"

    def test_audience_of_messenger_contacts(self):
        _partners, contacts = self.make_people(3)
        mailing = self.make_mailing(
            _partners,
            mailing_model_id=self.env.ref("messenger_marketing.model_messenger_contact").id,
            mailing_domain=repr([("id", "in", contacts[:2].ids)]),
        )
        self.assertEqual(mailing._messenger_launch(), 2)

    def test_launch_queries_do_not_grow(self):
        def launch_queries(count, start):
            partners, _contacts = self.make_people(count, start=start)
            mailing = self.make_mailing(partners)
            self.env.flush_all()
            before = self.env.cr.sql_log_count
            queued = mailing._messenger_launch()
            self.env.flush_all()
            return self.env.cr.sql_log_count - before, queued

        small, small_count = launch_queries(200, 50000)
        large, large_count = launch_queries(2000, 60000)
        self.assertEqual((small_count, large_count), (200, 2000))
        self.assertLessEqual(large, small + 2, f"{small} queries for 200 recipients, {large} for 2000")


@tagged("post_install", "-at_install")
class TestCampaignClick(CampaignMixin, TelegramSetupMixin, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)

    def test_click_on_tracked_button(self):
        partners, contacts = self.make_people(2)
        mailing = self.make_mailing(
            partners,
            messenger_button_ids=[(0, 0, {"label": "See the chairs", "url": "https://shop.example.com/chairs"})],
        )
        mailing._messenger_launch()
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids)
        sent = next(s for s in self.fake.sent if s["chat_id"] == contacts[0].chat_id)
        keyboard = sent["reply_markup"]["inline_keyboard"]
        self.assertEqual(keyboard[0][0]["text"], "See the chairs")
        url = keyboard[0][0]["url"]
        self.assertIn("/r/", url)
        self.assertEqual(keyboard[-1][0]["callback_data"], "unsub")
        path = url[url.index("/r/") :]
        response = self.url_open(path, allow_redirects=False)
        self.assertEqual(response.status_code, 301)
        self.assertTrue(response.headers["Location"].startswith("https://shop.example.com/chairs?utm_"))
        mailing.invalidate_recordset()
        self.assertEqual(mailing.clicked, 1)
        self.assertEqual(mailing.messenger_clicked_count, 1)
        trace = self.campaign_messages(mailing).filtered(lambda m: m.contact_id == contacts[0]).mailing_trace_id
        self.assertTrue(trace.links_click_datetime)


@tagged("post_install", "-at_install")
class TestCampaignTour(HttpCase):
    def test_manager_sends_a_campaign_test(self):
        channel = self.env["messenger.channel"].create({"name": "Tour sandbox", "provider": "sandbox"})
        tester = self.env["messenger.contact"].create(
            {"name": "Tour Tester", "channel_id": channel.id, "chat_id": "tour-tester"}
        )
        self.start_tour("/odoo", "messenger_campaign_test_tour", login="admin")
        mailing = self.env["mailing.mailing"].search([("subject", "=", "Tour spring sale")])
        self.assertEqual((mailing.mailing_type, mailing.messenger_channel_ids), ("messenger", channel))
        self.assertEqual(mailing.mailing_model_id.model, "messenger.contact", "a campaign reaches messenger contacts")
        test = tester.message_ids_messenger
        self.assertEqual((test.body, test.kind), ("[Test] Chairs are 20 % off this week.", "marketing"))
        self.assertEqual(mailing.state, "draft", "a test does not launch the campaign")
