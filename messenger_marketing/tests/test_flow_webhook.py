from datetime import datetime, timedelta

import pytz

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..core.flow import parse_button_payload
from .common import TelegramSetupMixin, binding_payload
from .flow_common import FlowSetupMixin, TelegramUpdatesMixin

SESSION_LOGGER = "odoo.addons.messenger_marketing.models.messenger_flow_session"


@tagged("post_install", "-at_install")
class TestFlowOverWebhooks(FlowSetupMixin, TelegramUpdatesMixin, TelegramSetupMixin, HttpCase):
    """A person walks a product's flow through real Telegram webhook calls."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.setup_flow()

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def session(self, chat_id=555):
        return self.contact(chat_id).flow_session_ids[:1]

    def walk_to_lead(self, phone="79123456789", email="olga@example.com"):
        self.send_text(f"/start {self.link.payload}")
        self.press(self.payload_of(self.last_out(), "Order"))
        self.press(self.payload_of(self.last_out(), "In the office"))
        self.share_phone(phone)
        self.send_text(email)
        return self.session()

    def test_whole_flow_makes_the_lead_and_a_second_run_updates_it(self):
        self.assertLessEqual(len(self.link.payload), 64)
        self.assertEqual(self.link.url, f"https://t.me/fake_shop_bot?start={self.link.payload}")
        self.send_text(f"/start {self.link.payload}")
        card = self.last_out()
        self.assertIn("Oak desk", card.body)
        self.assertIn("Solid oak", card.body)
        self.assertIn("250.00", card.body, "the price in the contact's pricelist currency")
        self.assertEqual([b["text"] for row in card.buttons for b in row], ["Order", "Ask a question"])
        for row in card.buttons:
            for button in row:
                self.assertLessEqual(len(button["payload"].encode()), 64)
                self.assertEqual(parse_button_payload(button["payload"])[0], self.step_card.id)
        session = self.session()
        self.assertEqual((session.state, session.step_id), ("waiting", self.step_card))
        self.assertEqual((session.utm_source_id, session.product_tmpl_id), (self.source, self.product))
        # the card goes out through the real client as an inline keyboard
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=self.channel.ids)
        sent = self.fake.sent[-1]
        self.assertIn("Oak desk", sent["text"])
        self.assertEqual(
            [b["text"] for row in sent["reply_markup"]["inline_keyboard"] for b in row], ["Order", "Ask a question"]
        )

        self.press(self.payload_of(card, "Order"))
        question = self.last_out()
        self.assertEqual(question.body, "Where will you use it?")
        self.press(self.payload_of(question, "In the office"))
        ask_phone = self.last_out()
        self.assertEqual(ask_phone.buttons, [[{"text": "Share my phone number", "request_contact": True}]])
        self.share_phone("79123456789")
        self.assertEqual(self.last_out().body, "What is your e-mail address?")
        self.send_text("olga@example.com")

        lead = session.lead_id
        self.assertTrue(lead)
        self.assertEqual(lead.type, "opportunity")
        self.assertEqual(lead.phone, "+79123456789")
        self.assertEqual(lead.email_from, "olga@example.com")
        self.assertEqual(lead.messenger_product_tmpl_id, self.product)
        self.assertEqual((lead.source_id, lead.campaign_id), (self.source, self.campaign))
        self.assertEqual(lead.medium_id, self.env.ref("messenger_marketing.utm_medium_messenger"))
        self.assertEqual(lead.team_id, self.team)
        self.assertEqual(lead.user_id, self.salesperson)
        self.assertEqual(lead.messenger_contact_id, self.contact())
        self.assertEqual(lead.partner_id, self.contact().partner_id, "the shared phone bound a partner")
        self.assertTrue(lead.is_messenger_lead)
        self.assertIn("In the office", lead.description)
        transcript = "".join(lead.message_ids.mapped("body"))
        self.assertIn("Where will you use it?", transcript)
        self.assertIn("[button] In the office", transcript, "a press reads as its label")
        self.assertIn("olga@example.com", transcript)
        self.assertEqual(session.answers["Use"], "In the office")
        self.assertEqual(session.step_id, self.step_callback)
        self.assertIn("When shall we call you?", self.last_out().body)

    def test_second_run_updates_the_same_open_lead(self):
        first = self.walk_to_lead()
        lead = first.lead_id
        # finish, then come back through the same link: the open lead is updated, not doubled
        self.press(self.payload_of(self.last_out(), "As soon as possible"))
        self.assertEqual((first.state, self.last_out().body), ("done", "Have a nice day!"))
        second = self.walk_to_lead(phone="+79990001122", email="olga.p@example.com")
        self.assertNotEqual(second, first)
        self.assertEqual(self.env["crm.lead"].search([("messenger_contact_id", "=", self.contact().id)]), lead)
        self.assertEqual(second.lead_id, lead)
        self.assertEqual((lead.phone, lead.email_from), ("+79990001122", "olga.p@example.com"))
        self.assertIn("came back", "".join(lead.message_ids.mapped("body")))
        self.assertEqual(self.link.session_count, 2)
        # a won lead is closed: the next run makes a new one
        lead.action_set_won()
        self.press(self.payload_of(self.last_out(), "As soon as possible"))
        third = self.walk_to_lead()
        self.assertNotEqual(third.lead_id, lead)
        self.assertEqual(len(self.contact().lead_ids), 2)

    def test_bad_inputs_get_help_and_are_asked_again(self):
        self.send_text(f"/start {self.link.payload}")
        # text where a button was expected: the hint and the buttons again
        self.send_text("how much is delivery?")
        help_message = self.last_out()
        self.assertEqual(help_message.body, self.flow.choose_hint)
        self.assertEqual([b["text"] for row in help_message.buttons for b in row], ["Order", "Ask a question"])
        self.assertEqual(self.session().step_id, self.step_card)
        self.press(self.payload_of(help_message, "Order"))
        self.press(self.payload_of(self.last_out(), "At home"))
        # a phone number that is none
        self.send_text("call me maybe")
        self.assertIn("does not look like a phone number", self.last_out().body)
        self.assertEqual(self.session().step_id, self.step_phone)
        self.send_text("+44 20 7183 8750")
        self.assertEqual(self.session().phone, "+442071838750")
        # an invalid e-mail is asked again, the valid one goes on
        for wrong in ("olga@", "olga at example dot com", "olga@example"):
            self.send_text(wrong)
            self.assertIn("does not look like an e-mail address", self.last_out().body, wrong)
            self.assertEqual(self.session().step_id, self.step_email)
        self.send_text("Olga@Example.com")
        self.assertEqual(self.session().email, "olga@example.com")
        # a typed number binds no existing partner; the opportunity gets a new customer
        partner = self.contact().partner_id
        self.assertEqual(self.session().lead_id.partner_id, partner)
        self.assertEqual((partner.name, partner.phone, partner.email), ("Olga P", "+442071838750", "olga@example.com"))
        self.assertEqual(self.contact().consent_log_ids[:1].method, "lead")
        self.assertEqual(self.session().step_id, self.step_callback)
        # a time that cannot be read
        self.send_text("whenever")
        self.assertIn("could not read a time", self.last_out().body)
        self.assertFalse(self.session().callback_at)

    def test_foreign_or_stale_callback_data_is_refused_and_logged(self):
        other_flow = self.env["messenger.flow"].create({"name": "Other"})
        other_step = self.env["messenger.flow.step"].create(
            {"flow_id": other_flow.id, "step_type": "question", "text": "Other?"}
        )
        other_button = self.env["messenger.flow.button"].create({"step_id": other_step.id, "label": "Yes"})
        self.send_text(f"/start {self.link.payload}")
        card = self.last_out()
        before = len(self.outgoing())
        forged = [
            f"flow:{other_step.id}:{other_button.id}",  # a real button of another flow
            f"flow:{self.step_card.id}:{other_button.id}",  # the right step, a button that is not its own
            f"flow:{self.step_card.id}:999999",
            "flow:not-a-step",
        ]
        for payload in forged:
            with self.assertLogs(SESSION_LOGGER, "WARNING") as logs:
                response = self.press(payload)
            self.assertEqual(response.status_code, 200)
            self.assertIn("refused button payload", logs.output[0])
            self.assertIn(payload[:20], logs.output[0])
        session = self.session()
        self.assertEqual((session.step_id, session.answers), (self.step_card, False))
        self.assertEqual(len(self.outgoing()), before + len(forged), "each refusal asks the question again")
        # an old button of this flow, pressed after the flow moved on, is refused too
        self.press(self.payload_of(card, "Order"))
        self.assertEqual(self.session().step_id, self.step_use)
        self.press(self.payload_of(card, "Ask a question"))
        self.assertEqual(self.session().step_id, self.step_use)
        self.assertEqual(self.contact().answered_by, "bot")
        self.assertIn("no longer active", self.last_out().body)

    def test_flow_button_without_flow(self):
        self.send_text("/start")
        with self.assertLogs(SESSION_LOGGER, "WARNING"):
            self.press(f"flow:{self.step_card.id}:{self.button_order.id}")
        self.assertIn("/start", self.last_out().body)
        self.assertFalse(self.contact().flow_session_ids)

    def test_callback_request_schedules_the_call_for_the_salesperson(self):
        self.env.company.partner_id.tz = "Europe/Moscow"
        self.walk_to_lead()
        lead = self.session().lead_id
        self.send_text("tomorrow 15:30")
        moscow = pytz.timezone("Europe/Moscow")
        today = pytz.utc.localize(fields.Datetime.now()).astimezone(moscow).date()
        expected = moscow.localize(
            datetime.combine(today + timedelta(days=1), datetime.min.time()).replace(hour=15, minute=30)
        )
        expected_utc = expected.astimezone(pytz.utc).replace(tzinfo=None)
        self.assertEqual(lead.messenger_callback_at, expected_utc)
        self.assertEqual(self.session().callback_at, expected_utc)
        activity = lead.activity_ids
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_call"))
        self.assertEqual(activity.user_id, self.salesperson)
        self.assertEqual(activity.date_deadline, expected.date())
        self.assertIn("3:30", activity.summary)
        self.assertIn("Thank you! We will call you at", self.outgoing()[-2].body)
        self.assertEqual(self.last_out().body, "Have a nice day!")

    def test_ask_a_question_hands_over_to_a_person(self):
        self.send_text(f"/start {self.link.payload}")
        self.press(self.payload_of(self.last_out(), "Ask a question"))
        contact = self.contact()
        self.assertEqual((contact.answered_by, contact.user_id), ("operator", self.salesperson))
        self.assertEqual(self.session().state, "done")
        self.assertIn(self.channel.handoff_message, self.outgoing().mapped("body"))
        # the bot stays silent now: free text goes to the person, no flow answers it
        before = len(self.outgoing())
        self.send_text("Is it solid oak?")
        self.assertEqual(len(self.outgoing()), before)

    def test_tampered_entry_link_falls_back_to_the_welcome(self):
        tampered = self.link.payload[:-1] + ("A" if self.link.payload[-1] != "A" else "B")
        with self.assertLogs("odoo.addons.messenger_marketing.models.messenger_landing", "WARNING"):
            self.send_text(f"/start {tampered}")
        self.assertFalse(self.contact().flow_session_ids)
        self.assertEqual(self.last_out().body, self.channel.welcome_message)

    def test_landing_flow_answers_start_and_partner_links_still_bind(self):
        self.channel.landing_flow_id = self.flow
        partner = self.env["res.partner"].create({"name": "Bound by link"})
        with self.assertLogs("odoo.addons.messenger_marketing.models.messenger_flow_step", "WARNING"):
            self.send_text(f"/start {binding_payload(self.channel, partner)}")
        contact = self.contact()
        self.assertEqual(contact.partner_id, partner)
        session = contact.flow_session_ids
        self.assertEqual((session.flow_id, session.link_id), (self.flow, self.env["messenger.flow.link"]))
        # without a product the card is skipped, with a warning, and the question comes
        self.assertEqual(session.step_id, self.step_use)

    def test_resume_or_restart_as_the_flow_says(self):
        self.flow.on_return = "resume"
        self.send_text(f"/start {self.link.payload}")
        self.press(self.payload_of(self.last_out(), "Order"))
        first = self.session()
        self.send_text(f"/start {self.link.payload}")
        self.assertEqual(self.contact().flow_session_ids, first, "resumed, not restarted")
        self.assertEqual((first.step_id, self.last_out().body), (self.step_use, "Where will you use it?"))
        self.flow.on_return = "restart"
        self.send_text(f"/start {self.link.payload}")
        sessions = self.contact().flow_session_ids
        self.assertEqual(len(sessions), 2)
        self.assertEqual((first.state, sessions[0].step_id), ("stopped", self.step_card))

    def test_free_text_without_a_waiting_flow_is_left_to_others(self):
        self.send_text("hello there")
        self.assertFalse(self.outgoing(), "no flow waits: nothing answers (the support addon may)")
        self.assertFalse(self.env["messenger.flow.session"]._on_text(self.contact(), "hello"))

    def test_reply_from_the_lead_reaches_the_customer(self):
        lead = self.walk_to_lead().lead_id
        before = len(self.outgoing())
        lead.with_user(self.salesperson).message_post(
            body="Hello Olga, the desk ships tomorrow.", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        lead.with_user(self.salesperson).message_post(
            body="internal: check stock", message_type="comment", subtype_xmlid="mail.mt_note"
        )
        self.env.invalidate_all()
        replies = self.outgoing()[before:]
        self.assertEqual(replies.mapped("body"), ["Hello Olga, the desk ships tomorrow."])
        self.assertEqual((replies.kind, replies.priority), ("service", 10))
        self.assertTrue(replies.mail_message_id)
        # what the customer writes next shows in the lead
        self.send_text("Great, thanks!")
        self.assertIn("Great, thanks!", lead.message_ids[0].body)
        # the lead opens the conversation
        action = lead.action_open_messenger_contact()
        channel = self.contact().discuss_channel_id
        self.assertEqual(
            (action["tag"], action["params"]["active_id"]), ("mail.action_discuss", f"discuss.channel_{channel.id}")
        )
        self.assertIn("Great, thanks!", channel.message_ids[0].body, "in Discuss too")

    def test_public_images_are_signed(self):
        self.product.image_1920 = (
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
        )
        self.send_text(f"/start {self.link.payload}")
        card = self.last_out()
        self.assertIn("/messenger/image/", card.image_url)
        path = card.image_url.split(self.env["ir.config_parameter"].sudo().get_param("web.base.url"))[-1]
        response = self.url_open(path)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "image/png")
        ref = path.split("/messenger/image/")[1].split("?")[0]
        forged = ref.replace(f"t{self.product.id}-", f"t{self.product.id + 1}-")
        self.assertEqual(self.url_open(f"/messenger/image/{forged}").status_code, 404)
        # the QR code of the link is served by Odoo's barcode route
        qr = self.url_open(self.link.qr_url)
        self.assertEqual((qr.status_code, qr.headers["Content-Type"]), (200, "image/png"))
