"""Campaigns as complete as Odoo's own mailings: a trace for every recipient, a state that
follows the outbox, and A/B tests with a winner sent to the rest."""

from collections import Counter
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged

from .common import MessengerCase
from .test_campaign import CampaignMixin


@tagged("post_install", "-at_install")
class TestCampaignTraces(CampaignMixin, MessengerCase):
    def make_audience(self, size, start):
        """``size`` partners (a multiple of 10): half reachable, and a tenth of each kind
        of person the launch cannot reach."""
        tenth = size // 10
        other = self.env["messenger.channel"].create({"name": f"Other {start}", "provider": "sandbox"})
        partners, contacts = self.make_people(size - 2 * tenth, start=start)
        reached, unsubscribed, blocked, elsewhere = (
            contacts[: 4 * tenth],
            contacts[4 * tenth : 5 * tenth],
            contacts[5 * tenth : 6 * tenth],
            contacts[6 * tenth : 7 * tenth],
        )
        unsubscribed.state = "unsubscribed"
        blocked.state = "blocked"
        elsewhere.channel_id = other  # subscribed, but not on the campaign's channel
        nobody = self.env["res.partner"].create([{"name": f"No chat {start + i}"} for i in range(tenth)])
        # a company reached through its own chat, and one of its people without a chat of
        # their own: both reach the company's chat, which gets one message
        companies = partners[7 * tenth :]
        companies.is_company = True
        employees = self.env["res.partner"].create(
            [{"name": f"Employee {start + i}", "parent_id": c.id} for i, c in enumerate(companies)]
        )
        expected = Counter(
            {
                False: len(reached) + len(companies),
                "messenger_unsubscribed": tenth,
                "messenger_blocked": tenth,
                "messenger_other_channel": tenth,
                "messenger_no_contact": tenth,
                "messenger_duplicate": tenth,
            }
        )
        return partners | nobody | employees, expected

    def launch(self, size, start):
        audience, expected = self.make_audience(size, start)
        self.assertEqual(len(audience), size)
        mailing = self.make_mailing(audience)
        self.env.flush_all()
        before = self.env.cr.sql_log_count
        queued = mailing._messenger_launch()
        self.env.flush_all()
        return mailing, audience, expected, queued, self.env.cr.sql_log_count - before

    def test_one_trace_per_recipient_with_its_reason(self):
        small = self.launch(200, 70000)
        mailing, audience, expected, queued, queries = self.launch(1000, 80000)
        traces = mailing.mailing_trace_ids
        self.assertEqual(len(traces), 1000)
        self.assertEqual(sorted(traces.mapped("res_id")), sorted(audience.ids), "one trace per recipient")
        self.assertEqual(Counter(traces.mapped("failure_type")), expected)
        cancelled = traces.filtered(lambda t: t.failure_type)
        self.assertEqual(set(cancelled.mapped("trace_status")), {"cancel"})
        self.assertFalse(cancelled.messenger_message_ids)
        self.assertEqual(queued, 500)
        self.assertEqual(len(traces.messenger_message_ids), 500)
        # Email Marketing's statistics count them as it counts cancelled e-mails and SMS
        mailing.invalidate_recordset()
        self.assertEqual((mailing.total, mailing.expected, mailing.canceled, mailing.scheduled), (1000, 1000, 500, 500))
        self.assertLessEqual(queries, small[4] + 2, f"{small[4]} queries for 200 recipients, {queries} for 1000")
        # a second launch (a resume) writes no second trace for anyone
        self.assertEqual(mailing._messenger_launch(), 0)
        mailing.invalidate_recordset()
        self.assertEqual(len(mailing.mailing_trace_ids), 1000)

    def test_messenger_contacts_audience_reasons(self):
        _partners, contacts = self.make_people(4, start=90000)
        contacts[1].state = "blocked"
        contacts[2].state = "unsubscribed"
        # the same person's second chat: one message reaches them
        twin = contacts[0].copy({"chat_id": "90000-twin"})
        mailing = self.make_mailing(
            contacts.partner_id,
            mailing_model_id=self.env.ref("messenger_marketing.model_messenger_contact").id,
            mailing_domain=repr([("id", "in", (contacts | twin).ids)]),
        )
        self.assertEqual(mailing._messenger_launch(), 2)
        reasons = {t.res_id: t.failure_type for t in mailing.mailing_trace_ids}
        self.assertEqual(reasons[contacts[1].id], "messenger_blocked")
        self.assertEqual(reasons[contacts[2].id], "messenger_unsubscribed")
        self.assertEqual(sorted([reasons[contacts[0].id], reasons[twin.id]], key=str), [False, "messenger_duplicate"])
        self.assertFalse(reasons[contacts[3].id])

    def test_state_follows_the_queue(self):
        partners, contacts = self.make_people(6, start=95000)
        mailing = self.make_mailing(partners)
        mailing._messenger_launch()
        self.assertEqual((mailing.state, mailing.sent_date), ("sending", False))
        mailing.action_messenger_pause()
        mailing._process_mass_mailing_queue()  # Odoo's queue does not call it done
        self.assertEqual(mailing.state, "sending", "a paused campaign is still sending")
        mailing.action_messenger_resume()
        self.fake.blocked.add(contacts[0].chat_id)
        self.dispatch(budget=5)
        messages = self.campaign_messages(mailing)
        self.assertEqual(Counter(messages.mapped("state")), {"sent": 5, "failed": 1})
        self.assertEqual(mailing.state, "done", "every message has an outcome")
        self.assertTrue(mailing.sent_date)
        # a person retries the failure: sending again until its new outcome
        self.fake.blocked.clear()
        messages.filtered(lambda m: m.state == "failed").action_retry()
        self.assertEqual(mailing.state, "sending")
        self.dispatch(budget=5)
        self.assertEqual(mailing.state, "done")

    def test_nobody_reachable_is_done_at_once(self):
        partners, _contacts = self.make_people(3, start=97000, state="unsubscribed")
        mailing = self.make_mailing(partners)
        self.assertEqual(mailing._messenger_launch(), 0)
        self.assertEqual(mailing.state, "done")
        self.assertTrue(mailing.sent_date)
        self.assertEqual(set(mailing.mailing_trace_ids.mapped("trace_status")), {"cancel"})


@tagged("post_install", "-at_install")
class TestCampaignAB(CampaignMixin, MessengerCase):
    def test_winner_by_click_rate_goes_to_the_rest(self):
        self.channel.rate_limit = 100
        self.fake.rate_limit = 100
        partners, contacts = self.make_people(300, start=100000)
        first = self.make_mailing(
            partners,
            ab_testing_enabled=True,
            ab_testing_pc=20,
            ab_testing_messenger_winner_selection="clicks_ratio",
            ab_testing_schedule_datetime=fields.Datetime.now() + timedelta(days=1),
            messenger_button_ids=[(0, 0, {"label": "See the chairs", "url": "https://shop.example.com/chairs"})],
        )
        campaign = first.campaign_id
        self.assertTrue(campaign, "an A/B test gets its marketing campaign")
        second = first.copy({"messenger_body": "Chairs -20%: this week only."})
        third = first.copy({"messenger_body": "Our chairs are 20% off."})
        versions = first | second | third
        self.assertEqual(campaign.mailing_messenger_ids.filtered("ab_testing_enabled"), versions)
        self.assertEqual(first.ab_testing_mailings_messenger_count, 3)
        for version in versions:
            self.assertEqual(version._messenger_launch(), 60, "a fifth of the audience each")
        self.dispatch(budget=20)
        self.assertEqual(len(self.fake.sent), 180)
        self.assertEqual(set(versions.mapped("state")), {"done"})
        tested = self.env["messenger.message"].search([("mailing_id", "in", versions.ids)])
        self.assertEqual(len(tested.contact_id), 180, "the test share gets one version each")
        # clicks: 6 on the first version, 15 on the second, 3 on the third
        for version, clicks in zip(versions, (6, 15, 3), strict=True):
            code = version.messenger_button_ids.link_tracker_id.code
            for trace in version.mailing_trace_ids[:clicks]:
                self.env["link.tracker.click"].sudo().add_click(code, ip="10.0.0.1", mailing_trace_id=trace.id)
        versions.invalidate_recordset()
        self.assertEqual(versions.mapped("clicks_ratio"), [10, 25, 5])
        # at the scheduled time, Odoo's A/B cron sends the winner
        campaign.ab_testing_schedule_datetime = fields.Datetime.now() - timedelta(minutes=1)
        self.env["utm.campaign"]._cron_process_mass_mailing_ab_testing()
        winner = campaign.ab_testing_winner_mailing_id
        self.assertTrue(winner)
        self.assertEqual(winner.messenger_body, second.messenger_body)
        self.assertEqual(winner.state, "in_queue")
        winner._process_mass_mailing_queue()
        self.assertEqual(winner.state, "sending")
        self.dispatch(budget=20)
        self.assertEqual(winner.state, "done")
        final = self.campaign_messages(winner)
        self.assertEqual(len(final), 120, "the remaining recipients only")
        everything = tested | final
        self.assertEqual(Counter(everything.mapped("contact_id").ids), Counter(contacts.ids), "nobody gets two")
        self.assertEqual(len(everything), 300)
        self.assertEqual(len(self.fake.sent), 300)
        traces = self.env["mailing.trace"].search([("campaign_id", "=", campaign.id)])
        self.assertEqual(sorted(traces.mapped("res_id")), sorted(partners.ids), "one trace per person")
        self.assertTrue(campaign.ab_testing_completed)

    def test_manual_winner(self):
        partners, _contacts = self.make_people(10, start=110000)
        first = self.make_mailing(
            partners, ab_testing_enabled=True, ab_testing_pc=30, ab_testing_messenger_winner_selection="manual"
        )
        self.assertEqual(first.campaign_id.ab_testing_messenger_winner_selection, "manual")
        second = first.copy({"messenger_body": "Another text"})
        self.assertEqual(first._messenger_launch() + second._messenger_launch(), 6)
        self.dispatch(budget=5)
        # the scheduled time passes: a manual test waits for a person's choice
        first.campaign_id.ab_testing_schedule_datetime = fields.Datetime.now() - timedelta(minutes=1)
        self.env["utm.campaign"]._cron_process_mass_mailing_ab_testing()
        self.assertFalse(first.campaign_id.ab_testing_winner_mailing_id)
        second.action_select_as_winner()
        winner = first.campaign_id.ab_testing_winner_mailing_id
        winner._process_mass_mailing_queue()
        self.assertEqual(len(self.campaign_messages(winner)), 4)
        self.assertEqual(set(self.campaign_messages(winner).mapped("body")), {"Another text"})

    def test_only_a_messenger_manager_sends_the_winner(self):
        """Odoo picks an automatic winner among the versions as superuser and launches its
        copy so: an Email Marketing user must not send a messenger campaign that way."""
        partners, _contacts = self.make_people(20, start=115000)
        first = self.make_mailing(
            partners,
            ab_testing_enabled=True,
            ab_testing_pc=20,
            ab_testing_messenger_winner_selection="clicks_ratio",
            ab_testing_schedule_datetime=fields.Datetime.now() + timedelta(days=1),
        )
        second = first.copy({"messenger_body": "Other"})
        first._messenger_launch()
        second._messenger_launch()
        self.dispatch(budget=5)
        self.assertEqual(set((first | second).mapped("state")), {"done"})
        marketer = new_test_user(self.env, "ab_marketer", groups="base.group_user,mass_mailing.group_mass_mailing_user")
        for method in ("action_send_winner_mailing", "action_select_as_winner"):
            with self.subTest(method=method), self.assertRaises(AccessError):
                getattr(first.with_user(marketer), method)()
        self.assertFalse(first.campaign_id.ab_testing_winner_mailing_id)
        self.assertEqual(self.env["mailing.mailing"].search_count([("campaign_id", "=", first.campaign_id.id)]), 2)
        manager = new_test_user(
            self.env,
            "ab_manager",
            groups="base.group_user,mass_mailing.group_mass_mailing_user,messenger_marketing.group_messenger_manager",
        )
        first.with_user(manager).action_send_winner_mailing()
        winner = first.campaign_id.ab_testing_winner_mailing_id
        self.assertTrue(winner)
        winner._process_mass_mailing_queue()
        self.assertEqual(len(self.campaign_messages(winner)), 12, "the rest of the audience")
        # a campaign that is no A/B test has no winner to send: a clear answer
        with self.assertRaises(UserError):
            self.make_mailing(partners).with_user(manager).action_select_as_winner()


@tagged("post_install", "-at_install")
class TestBehaviourSegments(CampaignMixin, MessengerCase):
    def test_segments_filter_the_audience(self):
        partners, contacts = self.make_people(6, start=120000)
        mailing = self.make_mailing(
            partners,
            messenger_button_ids=[(0, 0, {"label": "See the chairs", "url": "https://shop.example.com/chairs"})],
        )
        mailing._messenger_launch()
        self.dispatch(budget=5)
        messages = {m.contact_id: m for m in self.campaign_messages(mailing)}
        messages[contacts[0]]._to("read")
        code = mailing.messenger_button_ids.link_tracker_id.code
        self.env["link.tracker.click"].sudo().add_click(
            code, ip="10.0.0.2", mailing_trace_id=messages[contacts[1]].mailing_trace_id.id
        )
        messages[contacts[2]].mailing_trace_id.set_replied()
        flow = self.env["messenger.flow"].create({"name": "Chair advice"})
        self.env["messenger.flow.session"].create(
            {"contact_id": contacts[3].id, "flow_id": flow.id, "answers": {"Room": "Office"}}
        )
        self.env["messenger.flow.session"].create({"contact_id": contacts[5].id, "flow_id": flow.id, "answers": {}})
        self.env["crm.lead"].create({"name": "Chair lead", "messenger_contact_id": contacts[4].id})
        product = self.env["product.template"].create({"name": "Chair", "list_price": 100})
        self.env["messenger.price.alert"].create({"contact_id": contacts[5].id, "product_tmpl_id": product.id})
        self.env.flush_all()
        expected = {
            "messenger_read_last_campaign": contacts[0],
            "messenger_clicked": contacts[1],
            "messenger_replied": contacts[2],
            "messenger_answered_flow": contacts[3],
            "messenger_has_open_lead": contacts[4],
            "messenger_price_alert": contacts[5],
        }
        Contact, Partner = self.env["messenger.contact"], self.env["res.partner"]
        for fact, contact in expected.items():
            self.assertEqual(Contact.search([("id", "in", contacts.ids), (fact, "=", True)]), contact, fact)
            self.assertEqual(Partner.search([("id", "in", partners.ids), (fact, "=", True)]), contact.partner_id, fact)
            self.assertEqual(len(Contact.search([("id", "in", contacts.ids), (fact, "!=", True)])), 5, fact)
            self.assertTrue(contact[fact], fact)
        self.assertFalse(contacts[1].messenger_read_last_campaign)
        # "last" is the latest campaign message that reached them: a waiting one or a
        # failed one did not, whatever the campaigns' order
        follow_up, failed = self.make_mailing(partners[:1]), self.make_mailing(partners[:1])
        self.fake.script(("400", "message text is empty"))
        failed._messenger_launch()
        self.assertTrue(contacts[0].messenger_read_last_campaign, "queued: not reached yet")
        self.dispatch(budget=3)
        self.assertEqual(self.campaign_messages(failed).state, "failed")
        contacts.invalidate_recordset()
        self.assertTrue(contacts[0].messenger_read_last_campaign, "failed: never reached them")
        # a later campaign that they did not read yet: no longer "read the last campaign"
        follow_up._messenger_launch()
        self.dispatch(budget=3)
        self.assertEqual(self.campaign_messages(follow_up).state, "sent")
        self.assertFalse(Contact.search([("id", "in", contacts.ids), ("messenger_read_last_campaign", "=", True)]))
        self.campaign_messages(follow_up)._to("read")
        self.env.flush_all()
        self.assertEqual(
            Contact.search([("id", "in", contacts.ids), ("messenger_read_last_campaign", "=", True)]), contacts[0]
        )
        # as Email Marketing's filter: a campaign to those who clicked or replied
        segment = self.make_mailing(
            partners,
            mailing_domain=repr(
                [("id", "in", partners.ids), "|", ("messenger_clicked", "=", True), ("messenger_replied", "=", True)]
            ),
        )
        self.assertEqual(segment.messenger_reachable_count, 2)
        self.assertEqual(segment._messenger_launch(), 2)
        self.assertEqual(self.campaign_messages(segment).contact_id, contacts[1] | contacts[2])
