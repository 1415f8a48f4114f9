import calendar
import json
from datetime import timedelta

from markupsafe import Markup

from odoo import fields
from odoo.tests import HttpCase, tagged

from odoo.addons.messenger_marketing.core.providers import InboundEvent
from odoo.addons.messenger_marketing.tests.common import MessengerCase, TelegramSetupMixin

from .common import setup_knowledge_base


def make_operators(env, team_name="Support team"):
    group = env.ref("messenger_marketing.group_messenger_user")
    operators = env["res.users"].create(
        [
            {
                "name": f"Support {n}",
                "login": f"support_{n}",
                "email": f"{n}@example.com",  # operators post in the chatter
                "groups_id": [(6, 0, group.ids)],
            }
            for n in ("anna", "boris")
        ]
    )
    team = env["crm.team"].create({"name": team_name, "member_ids": [(6, 0, operators.ids)]})
    return operators, team


@tagged("post_install", "-at_install")
class TestSupportConversation(TelegramSetupMixin, HttpCase):
    """The whole support path over real HTTP: Telegram webhooks in, the fake Telegram API out."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env, per_chat_interval=0.05)
        cls.fake.control("set", per_chat_interval=0.05)  # several answers to one chat, quickly
        cls.articles = setup_knowledge_base(cls.env)
        cls.operators, cls.team = make_operators(cls.env)
        cls.channel.write({"kb_enabled": True, "team_id": cls.team.id, "kb_threshold": 0.5})
        cls.update_id = 7000

    def setUp(self):
        super().setUp()
        self.fake.reset()

    # -- helpers -------------------------------------------------------------------------
    def post(self, update):
        self.env.flush_all()
        response = self.url_open(
            f"/messenger/webhook/{self.channel.webhook_key}",
            data=json.dumps(update).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": self.channel.webhook_secret,
            },
        )
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        return response

    def next_update_id(self):
        TestSupportConversation.update_id += 1
        return self.update_id

    def person(self, chat_id, lang):
        return {"id": chat_id, "is_bot": False, "first_name": "Olga", "language_code": lang}

    def say(self, text, chat_id=701, lang="en"):
        update_id = self.next_update_id()
        message = {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": self.person(chat_id, lang),
            "text": text,
        }
        return self.post({"update_id": update_id, "message": message})

    def press(self, data, chat_id=701, lang="en"):
        update_id = self.next_update_id()
        query = {
            "id": f"cb-{update_id}",
            "data": data,
            "chat_instance": "x",
            "from": self.person(chat_id, lang),
            "message": {"message_id": 1, "date": 1700000000, "chat": {"id": chat_id, "type": "private"}},
        }
        return self.post({"update_id": update_id, "callback_query": query})

    def contact(self, chat_id=701):
        return self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", str(chat_id))]
        )

    def dispatch(self):
        self.env["messenger.dispatcher"]._dispatch(time_budget=10, channel_ids=self.channel.ids)
        self.env.invalidate_all()

    def outgoing(self, contact):
        return contact.message_ids_messenger.filtered(lambda m: m.direction == "out")

    # -- tests -----------------------------------------------------------------------------
    def test_answer_with_article_link_and_feedback_buttons(self):
        article = self.articles["delivery_ru"]
        # Telegram set to English, question in Russian: matched in Russian
        self.say("Сколько стоит доставка?")
        contact = self.contact()
        question = contact.support_question_ids
        self.assertEqual(
            (question.article_id, question.auto_answered, question.outcome, question.lang, question.confidence),
            (article, True, "answered", "ru", 1.0),
        )
        self.assertEqual(self.fake.texts(), [], "nothing goes to Telegram inside the webhook")
        self.dispatch()
        [sent] = self.fake.sent
        self.assertEqual(sent["text"], f"{article.short_answer}\n\nDid this help?")
        [[link], [yes, no]] = sent["reply_markup"]["inline_keyboard"]
        self.assertEqual((link["text"], link["url"]), ("Read the article", article.url))
        self.assertTrue(article.url.endswith(f"/messenger/kb/{article.id}"), article.url)
        self.assertEqual(
            [(yes["text"], yes["callback_data"]), (no["text"], no["callback_data"])],
            [("Yes", f"kb:y:{question.id}"), ("No", f"kb:n:{question.id}")],
        )
        self.assertLessEqual(max(len(b["callback_data"].encode()) for b in (yes, no)), 64)

        response = self.press(yes["callback_data"])
        self.assertEqual(response.json()["method"], "answerCallbackQuery")
        self.assertEqual((question.feedback, question.outcome), ("helpful", "helpful"))
        # the first press counts; a later No on the same answer changes nothing
        self.press(yes["callback_data"])
        self.press(no["callback_data"])
        self.assertEqual((question.outcome, contact.answered_by), ("helpful", "bot"))
        self.dispatch()
        self.assertEqual(self.fake.texts()[1:], ["Glad I could help!"])

    def test_not_helpful_hands_off_operator_answers_then_bot_again(self):
        self.say("What does shipping cost?", chat_id=702)
        contact = self.contact(702)
        question = contact.support_question_ids
        self.assertEqual(question.article_id, self.articles["delivery_en"])
        self.press(f"kb:n:{question.id}", chat_id=702)

        # handed off: an operator of the team holds it, with an activity, and the customer is told
        operator = contact.user_id
        self.assertIn(operator, self.operators)
        self.assertEqual(contact.answered_by, "operator")
        self.assertEqual(contact.activity_ids.user_id, operator)
        self.assertIn(operator.partner_id, contact.discuss_channel_id.channel_member_ids.partner_id)
        self.assertEqual(
            (question.outcome, question.handoff_reason, question.operator_id, question.handoff_at),
            ("not_helpful", "not_helpful", operator, contact.handoff_at),
        )
        # the operator's note says why, with the question and the article that did not help
        notes = contact.discuss_channel_id.message_ids.filtered(lambda m: operator.partner_id in m.partner_ids)
        self.assertIn("The article did not help: <i>What does shipping cost?</i> (Delivery prices)", notes[0].body)
        self.dispatch()
        self.assertEqual(self.fake.texts("702")[-1], self.channel.handoff_message)

        # the bot stays silent while the operator holds the conversation
        sent_before = self.outgoing(contact)
        self.say("I also want a refund", chat_id=702)
        self.assertEqual(self.outgoing(contact), sent_before)
        self.assertEqual(contact.support_question_ids, question, "no question while a person answers")
        self.assertIn("I also want a refund", contact.discuss_channel_id.message_ids[:1].body, "the operator sees it")

        # the operator's reply reaches Telegram through the queue, and counts as the first human answer
        contact.discuss_channel_id.with_user(operator).sudo().message_post(
            body=Markup("<p>Shipping to Kazan is $7.</p>"), message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        self.assertTrue(question.first_reply_at)
        self.assertGreaterEqual(question.reply_delay_minutes, 0.0)
        self.dispatch()
        self.assertEqual(self.fake.texts("702")[-1], "Shipping to Kazan is $7.")

        # the operator closes the conversation: the bot answers again
        contact.with_user(operator).action_hand_back_to_bot()
        self.say("I want a refund", chat_id=702)
        latest = contact.support_question_ids[:1]
        self.assertEqual((latest.article_id, latest.outcome), (self.articles["returns_en"], "answered"))
        self.dispatch()
        self.assertTrue(self.fake.texts("702")[-1].startswith(self.articles["returns_en"].short_answer))

    def test_unrelated_question_is_handed_off(self):
        self.say("What will the weather be in Moscow tomorrow?", chat_id=703)
        contact = self.contact(703)
        question = contact.support_question_ids
        self.assertEqual(
            (question.article_id, question.auto_answered, question.outcome, question.handoff_reason),
            (self.env["messenger.support.article"], False, "handed_off", "no_match"),
        )
        self.assertEqual(contact.answered_by, "operator")
        self.dispatch()
        self.assertEqual(self.fake.texts("703"), [self.channel.handoff_message])

    def test_threshold_works_both_ways(self):
        # "доставка дивана": one of two words is a tag of the delivery article, confidence 50 %
        self.say("доставка дивана", chat_id=704)
        answered = self.contact(704).support_question_ids
        self.assertEqual((answered.confidence, answered.outcome), (0.5, "answered"))
        self.channel.kb_threshold = 0.6
        self.say("доставка дивана", chat_id=705)
        below = self.contact(705).support_question_ids
        self.assertEqual(
            (below.article_id, below.confidence, below.outcome, below.handoff_reason),
            (self.articles["delivery_ru"], 0.5, "handed_off", "no_match"),
        )
        self.assertEqual(self.contact(705).answered_by, "operator")

    def test_asking_for_a_person(self):
        self.say("Позовите оператора, вопрос по доставке", chat_id=706, lang="ru")
        contact = self.contact(706)
        question = contact.support_question_ids
        self.assertEqual((question.auto_answered, question.handoff_reason), (False, "asked"))
        self.assertEqual(contact.answered_by, "operator")
        # the "Contact us" button of the order messages also calls a person
        self.say("Where is my order?", chat_id=707)
        self.contact(707).action_hand_back_to_bot()
        self.press("contact_us", chat_id=707)
        self.assertEqual(self.contact(707).answered_by, "operator")
        self.contact(707).action_hand_back_to_bot()
        self.press("kb:op", chat_id=707)
        self.assertEqual(self.contact(707).answered_by, "operator")
        self.assertEqual(len(self.contact(707).support_question_ids), 1, "a button press is no question")

    def test_contact_us_is_the_support_hand_off_once(self):
        # the bot answered a question from an article; then the customer presses "Contact us"
        # under an order message
        self.say("What does shipping cost?", chat_id=720)
        contact = self.contact(720)
        question = contact.support_question_ids
        self.assertEqual(question.outcome, "answered")
        order = self.env["sale.order"].create({"partner_id": self.env["res.partner"].create({"name": "Olga"}).id})
        buttons = [[{"text": "Contact us", "payload": "contact_us"}]]
        contact._send("Your order is confirmed.", buttons=buttons, record=order)
        self.dispatch()
        handed_off_before = self.channel.support_handoff_count

        def notes():
            return contact.discuss_channel_id.message_ids.filtered(lambda m: "pressed “Contact us”" in (m.body or ""))

        self.press("contact_us", chat_id=720)
        self.assertEqual((contact.answered_by, contact.user_id in self.operators), ("operator", True))
        [activity] = contact.activity_ids
        # the support's hand-off, with its reason, enriching the base addon's note on the order
        prefix = "<p>Asked for a person. The customer pressed “Contact us” under the message about"
        self.assertTrue(str(activity.note).startswith(prefix), activity.note)
        self.assertIn(order.name, str(activity.note))
        self.assertEqual(len(notes()), 1, "handed off once: by the support addon, not by the base addon too")
        # a press is no question: the article's question keeps its outcome, the figures theirs
        self.assertEqual(contact.support_question_ids, question)
        self.assertEqual((question.outcome, question.handoff_at), ("answered", False))
        self.channel.invalidate_recordset(["support_handoff_count"])
        self.assertEqual(self.channel.support_handoff_count, handed_off_before)
        self.dispatch()
        self.assertEqual(self.fake.texts("720").count(self.channel.handoff_message), 1)

        # pressed again while the operator holds the conversation: nothing is done twice
        self.press("contact_us", chat_id=720)
        self.dispatch()
        self.assertEqual((len(contact.activity_ids), len(notes())), (1, 1))
        self.assertEqual(self.fake.texts("720").count(self.channel.handoff_message), 1)

        # without the knowledge base, the base addon's plain hand-off
        self.channel.kb_enabled = False
        self.press("contact_us", chat_id=721)
        other = self.contact(721)
        self.assertEqual(other.answered_by, "operator")
        self.assertEqual(str(other.activity_ids.note), "<p>The customer pressed “Contact us”.</p>")

    def test_round_robin_two_handoffs_two_operators(self):
        self.say("Do you sell gift cards?", chat_id=708)
        self.say("Can I visit your warehouse?", chat_id=709)
        first, second = self.contact(708), self.contact(709)
        self.assertEqual((first.answered_by, second.answered_by), ("operator", "operator"))
        self.assertEqual(first.user_id | second.user_id, self.operators, "two hand-offs, two operators")
        self.assertEqual(first.activity_ids.user_id, first.user_id)
        self.assertEqual(second.activity_ids.user_id, second.user_id)

    def test_outside_working_hours_the_bot_says_when_a_person_answers(self):
        now = fields.Datetime.now()
        opening_day = now + timedelta(days=3)
        hours = self.env["resource.calendar"].create(
            {
                "name": "Support hours",
                "tz": "UTC",
                "attendance_ids": [
                    (5, 0, 0),
                    (0, 0, {"name": "Shift", "dayofweek": str(opening_day.weekday()), "hour_from": 9, "hour_to": 17}),
                ],
            }
        )
        self.channel.support_calendar_id = hours
        self.say("Can I pay in bitcoin?", chat_id=710)
        contact = self.contact(710)
        self.assertEqual(contact.answered_by, "operator", "handed off all the same: the operator answers later")
        self.dispatch()
        [notice] = self.fake.texts("710")
        day, month = calendar.day_name[opening_day.weekday()], calendar.month_name[opening_day.month]
        when = f"{day} {opening_day.day} {month}, 09:00"
        self.assertEqual(notice, f"Our team is away right now. A person will answer you here from {when} (UTC).")

        # within working hours: the usual hand-off message
        hours.attendance_ids = [
            (5, 0, 0),
            *[(0, 0, {"name": f"Day {d}", "dayofweek": str(d), "hour_from": 0, "hour_to": 24}) for d in range(7)],
        ]
        self.say("Can I pay in bitcoin?", chat_id=711)
        self.dispatch()
        self.assertEqual(self.fake.texts("711"), [self.channel.handoff_message])

    def test_stop_word_and_disabled_knowledge_base(self):
        new_channel = self.env["messenger.channel"].create({"name": "New", "provider": "sandbox"})
        self.assertFalse(new_channel.kb_enabled, "a channel starts answering once its articles are ready")
        self.say("стоп", chat_id=712, lang="ru")
        contact = self.contact(712)
        self.assertEqual((contact.state, contact.answered_by), ("unsubscribed", "bot"))
        self.assertFalse(contact.support_question_ids)
        self.channel.kb_enabled = False
        self.say("Сколько стоит доставка?", chat_id=713)
        contact = self.contact(713)
        self.assertFalse(contact.support_question_ids)
        self.assertEqual((contact.answered_by, self.outgoing(contact)), ("bot", self.env["messenger.message"]))


class TestSupportStatistics(MessengerCase):
    """Counts and the median time to the first human answer, from real conversations."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.articles = setup_knowledge_base(cls.env)
        cls.operators, cls.team = make_operators(cls.env)
        cls.channel.write({"kb_enabled": True, "team_id": cls.team.id, "kb_threshold": 0.5})
        cls.seq = 0

    def event(self, chat_id, kind, **values):
        TestSupportStatistics.seq += 1
        event = InboundEvent(event_id=f"s{self.seq}", kind=kind, chat_id=str(chat_id), lang="en", **values)
        self.env["messenger.inbound"]._process(self.channel, [event])
        return self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", str(chat_id))]
        )

    def reply_after(self, contact, minutes):
        """The operator answers ``minutes`` after the hand-off."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE messenger_support_question SET handoff_at = handoff_at - make_interval(mins => %s) "
            "WHERE contact_id = %s AND handoff_at IS NOT NULL",
            [minutes, contact.id],
        )
        self.env.invalidate_all()
        contact.discuss_channel_id.with_user(contact.user_id).sudo().message_post(
            body="On it!", message_type="comment", subtype_xmlid="mail.mt_comment"
        )

    def test_statistics(self):
        Question = self.env["messenger.support.question"]
        delivery, returns = self.articles["delivery_en"], self.articles["returns_en"]
        helpful = self.event(1, "message", text="shipping cost?")
        self.event(1, "button", payload=f"kb:y:{helpful.support_question_ids.id}")
        for chat_id, minutes in ((2, 10), (3, 50)):
            contact = self.event(chat_id, "message", text="delivery price")
            self.event(chat_id, "button", payload=f"kb:n:{contact.support_question_ids.id}")
            self.reply_after(contact, minutes)
        unmatched = self.event(4, "message", text="Do you sell gift cards?")
        self.reply_after(unmatched, 30)
        self.event(5, "message", text="refund")  # answered, no feedback
        self.event(6, "message", text="operator please")  # handed off, nobody answered yet
        # a second reply does not change the first answer's time
        unmatched.discuss_channel_id.with_user(unmatched.user_id).sudo().message_post(
            body="Anything else?", message_type="comment", subtype_xmlid="mail.mt_comment"
        )

        stats = Question._statistics([("channel_id", "=", self.channel.id)])
        median = stats.pop("median_minutes")
        self.assertEqual(
            stats,
            {"questions": 6, "answered": 4, "helpful": 1, "not_helpful": 2, "handed_off": 4, "human_answered": 3},
        )
        self.assertAlmostEqual(median, 30, delta=1)
        outcomes = dict(Question._read_group([("channel_id", "=", self.channel.id)], ["outcome"], ["__count"]))
        self.assertEqual(outcomes, {"helpful": 1, "not_helpful": 2, "handed_off": 2, "answered": 1})
        self.assertEqual(
            (delivery.answer_count, delivery.helpful_count, delivery.not_helpful_count), (3, 1, 2), "from the questions"
        )
        self.assertEqual((returns.answer_count, returns.not_helpful_count), (1, 0))
        self.assertEqual(
            (self.channel.support_question_count, self.channel.support_handoff_count), (6, 4), "last 30 days"
        )
        self.assertAlmostEqual(self.channel.support_median_reply_minutes, 30, delta=1)
