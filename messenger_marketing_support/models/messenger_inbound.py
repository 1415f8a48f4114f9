from odoo import models

from odoo.addons.messenger_marketing.core.public import parse_id

from .messenger_contact import HANDOFF_PAYLOAD, PAYLOAD_PREFIX


class MessengerInbound(models.AbstractModel):
    """Free text that nothing else answered (a chatbot flow waiting for input comes first)
    gets an article from the knowledge base, or goes to a person."""

    _inherit = "messenger.inbound"

    def _on_text(self, contact, event):
        if super()._on_text(contact, event):
            return True
        if not contact.channel_id.kb_enabled:
            return False
        if contact.channel_id._support_asks_for_person(event.text):
            contact._support_hand_off("asked", contact._support_question(event.text))
        elif not contact._answer_from_knowledge_base(event.text):
            contact._support_hand_off("no_match")
        return True

    def _on_button(self, contact, event):
        if super()._on_button(contact, event):
            return True
        payload = event.payload or ""
        if not payload.startswith(PAYLOAD_PREFIX) or not contact.channel_id.kb_enabled:
            return False
        Question = self.env["messenger.support.question"]
        if payload == HANDOFF_PAYLOAD:
            # a button press is no question of the knowledge base: the hand-off is not tied to one
            contact._support_hand_off("asked", Question)
            return True
        kind, _sep, question_id = payload[len(PAYLOAD_PREFIX) :].partition(":")
        question = Question.browse(parse_id(question_id) or 0)
        if kind in ("y", "n") and question.exists():
            contact._support_feedback(question, helpful=kind == "y")
        return True  # our namespace: an unknown or stale kb: button is answered by nothing else

    def _on_contact_us(self, contact, record):
        """With the knowledge base on, "Contact us" is the support's hand-off: "Asked for
        a person", with the record the base names. Like "a person, please" (HANDOFF_PAYLOAD),
        a press is no question, so it ties no question's statistics; it hands off once,
        here instead of the base's plain hand-off."""
        if not contact.channel_id.kb_enabled:
            return super()._on_contact_us(contact, record)
        Question = self.env["messenger.support.question"]
        return contact._support_hand_off("asked", Question, detail=self._contact_us_reason(record))
