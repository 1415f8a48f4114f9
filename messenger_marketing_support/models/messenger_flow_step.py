from odoo import _, fields, models

from odoo.addons.messenger_marketing.models.messenger_flow_step import WAIT


class MessengerFlowStep(models.Model):
    """Support steps for chatbot flows: answer the person's question from the knowledge
    base, and hand-offs counted in the support statistics (with the working hours)."""

    _inherit = "messenger.flow.step"

    step_type = fields.Selection(selection_add=[("kb", "Answer from the knowledge base")], ondelete={"kb": "cascade"})
    kb_fallback_step_id = fields.Many2one(
        "messenger.flow.step",
        "When No Article Answers",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        ondelete="set null",
        help="Where the flow goes when no article is sure enough. Empty: hand over to a person.",
    )

    def _default_texts(self):
        return {**super()._default_texts(), "kb": _("What is your question? Write it in a few words.")}

    def _run_kb(self, session):
        session._say(self._text(), buttons=self._button_rows())
        return WAIT

    def _input_kb(self, session, answer):
        if answer.token:  # a button of the step, e.g. "Back to the menu"
            return self._input_buttons(session, answer)
        text = (answer.text or "").strip()
        if not text:
            self._reask(session)
            return WAIT
        session._store(self, text, default_key=_("Question"))
        contact = session.contact_id
        if contact.channel_id._support_asks_for_person(text):
            question = contact._support_question(text)
            contact._support_hand_off("asked", question)
            return self.browse()
        if contact._answer_from_knowledge_base(text):
            return self._next()
        if self.kb_fallback_step_id:
            return self.kb_fallback_step_id
        contact._support_hand_off("no_match")
        return self.browse()  # a person takes it from here

    def _run_handoff(self, session):
        """A flow's hand-off counts as a support hand-off: it shows in the statistics with
        the reason, and outside working hours the customer is told when a person answers."""
        if self.text:
            session._say(self.text)
        contact = session.contact_id
        summary = session._answers_text()
        question = contact._support_question(summary or session.flow_id.name)
        contact._support_hand_off("flow", question)
        return self.browse()
