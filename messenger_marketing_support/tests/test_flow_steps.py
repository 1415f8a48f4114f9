from odoo.tests import tagged

from odoo.addons.messenger_marketing.core.providers import InboundEvent
from odoo.addons.messenger_marketing.tests.common import MessengerCase

from .common import setup_knowledge_base
from .test_conversation import make_operators


@tagged("post_install", "-at_install")
class TestSupportFlowSteps(MessengerCase):
    """The support addon's steps inside a chatbot flow of the main addon."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.articles = setup_knowledge_base(cls.env)
        cls.operators, cls.team = make_operators(cls.env)
        cls.channel.team_id = cls.team  # answering from the knowledge base stays off on the channel
        cls.flow = cls.env["messenger.flow"].create({"name": "Help desk", "on_return": "restart"})
        Step = cls.env["messenger.flow.step"]
        cls.step_ask = Step.create(
            {"flow_id": cls.flow.id, "sequence": 10, "step_type": "kb", "text": "Ask us anything."}
        )
        cls.step_end = Step.create(
            {"flow_id": cls.flow.id, "sequence": 20, "step_type": "end", "text": "Glad to help!"}
        )
        cls.channel.landing_flow_id = cls.flow

    def event(self, kind, chat_id="900", **values):
        TestSupportFlowSteps.seq = getattr(TestSupportFlowSteps, "seq", 0) + 1
        event = InboundEvent(event_id=f"sf{self.seq}", kind=kind, chat_id=chat_id, name="Kira", lang="ru", **values)
        self.env["messenger.inbound"]._process(self.channel, [event])
        return self.env["messenger.contact"].search([("channel_id", "=", self.channel.id), ("chat_id", "=", chat_id)])

    def bodies(self, contact):
        return contact.message_ids_messenger.filtered(lambda m: m.direction == "out").sorted("id").mapped("body")

    def test_question_answered_then_the_flow_goes_on(self):
        contact = self.event("start", text="/start")
        self.assertEqual(self.bodies(contact), ["Ask us anything."])
        self.event("message", text="Сколько стоит доставкой курьером?")
        bodies = self.bodies(contact)
        self.assertIn(self.articles["delivery_ru"].short_answer, bodies[1])
        self.assertEqual(bodies[-1], "Glad to help!")
        question = self.env["messenger.support.question"].search([("contact_id", "=", contact.id)])
        self.assertEqual((question.article_id, question.outcome), (self.articles["delivery_ru"], "answered"))
        self.assertEqual(contact.flow_session_ids.state, "done")
        self.assertEqual(contact.answered_by, "bot")

    def test_no_match_hands_off_and_counts_for_support(self):
        contact = self.event("start", text="/start")
        self.event("message", text="Можно ли покрасить стол в зелёный?")
        self.assertEqual(contact.answered_by, "operator")
        self.assertIn(contact.user_id, self.operators)
        question = self.env["messenger.support.question"].search([("contact_id", "=", contact.id)])
        self.assertEqual((question.outcome, question.handoff_reason), ("handed_off", "no_match"))

    def test_no_match_goes_to_the_chosen_step(self):
        fallback = self.env["messenger.flow.step"].create(
            {"flow_id": self.flow.id, "sequence": 30, "step_type": "end", "text": "Call us at 8-800."}
        )
        self.step_ask.kb_fallback_step_id = fallback
        contact = self.event("start", text="/start")
        self.event("message", text="Можно ли покрасить стол в зелёный?")
        self.assertEqual(self.bodies(contact)[-1], "Call us at 8-800.")
        self.assertEqual(contact.answered_by, "bot")

    def test_flow_hand_off_is_a_support_hand_off(self):
        handoff = self.env["messenger.flow.step"].create(
            {"flow_id": self.flow.id, "sequence": 5, "step_type": "handoff", "text": "One moment."}
        )
        contact = self.event("start", text="/start")
        self.assertEqual(contact.answered_by, "operator")
        self.assertEqual(self.bodies(contact)[0], handoff.text)
        question = self.env["messenger.support.question"].search([("contact_id", "=", contact.id)])
        self.assertEqual((question.handoff_reason, question.operator_id), ("flow", contact.user_id))
