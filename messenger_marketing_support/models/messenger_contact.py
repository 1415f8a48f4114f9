import re

from markupsafe import Markup

from odoo import fields, models
from odoo.tools import format_datetime

from .messenger_support_article import TS_CONFIGS

# Button payloads (Telegram allows 64 bytes): feedback on question <id>, and "a person, please".
PAYLOAD_PREFIX = "kb:"
HELPFUL_PAYLOAD = "kb:y:%d"
NOT_HELPFUL_PAYLOAD = "kb:n:%d"
HANDOFF_PAYLOAD = "kb:op"

CYRILLIC = re.compile("[\u0400-\u04ff]")
LATIN = re.compile("[A-Za-z]")


class MessengerContact(models.Model):
    _inherit = "messenger.contact"

    support_question_ids = fields.One2many("messenger.support.question", "contact_id", string="Support Questions")

    # -- what a chatbot flow step can call ------------------------------------------------
    def _answer_from_knowledge_base(self, text):
        """Answer ``text`` with the best matching published article when the match is at
        least as sure as the channel's threshold: its short answer, a link to the article
        and "Did this help?" buttons. The question is recorded either way. Returns whether
        the bot answered; when not, the caller decides (usually ``_support_hand_off``)."""
        self.ensure_one()
        channel = self.channel_id
        lang = self._support_language(text)
        article, confidence = (
            self.env["messenger.support.article"].sudo()._match(text, lang, channel.company_id, channel.kb_threshold)
        )
        answered = bool(article) and confidence >= channel.kb_threshold
        question = (
            self.env["messenger.support.question"]
            .sudo()
            .create(
                {
                    "contact_id": self.id,
                    "channel_id": channel.id,
                    "text": text,
                    "lang": lang,
                    "article_id": article.id,
                    "confidence": confidence,
                    "auto_answered": answered,
                }
            )
        )
        if answered:
            env = self.with_context(lang=self._support_odoo_lang(lang)).env
            rows = [[{"text": env._("Read the article"), "url": article.url}]] if article.url else []
            rows.append(
                [
                    {"text": env._("Yes"), "payload": HELPFUL_PAYLOAD % question.id},
                    {"text": env._("No"), "payload": NOT_HELPFUL_PAYLOAD % question.id},
                ]
            )
            # a literal _() call, not one inside the f-string, so that the term is exported
            did_it_help = env._("Did this help?")
            self._send(f"{article.short_answer.strip()}\n\n{did_it_help}", buttons=rows, kind="service")
        return answered

    def _support_question(self, text):
        """Record a question that goes to a person without a knowledge-base answer."""
        self.ensure_one()
        return (
            self.env["messenger.support.question"]
            .sudo()
            .create(
                {
                    "contact_id": self.id,
                    "channel_id": self.channel_id.id,
                    "text": text,
                    "lang": self._support_language(text),
                }
            )
        )

    def _support_hand_off(self, reason, question=None, detail=None):
        """Hand the conversation to a person (see ``_hand_off``) and record it on the
        question that led there: ``question``, or the contact's latest question that is not
        handed off yet and was not marked helpful. ``reason`` is a key of HANDOFF_REASONS;
        ``detail``, more for the operator's note."""
        self.ensure_one()
        Question = self.env["messenger.support.question"].sudo()
        if question is None:
            question = Question.search(
                [("contact_id", "=", self.id), ("handoff_at", "=", False), ("feedback", "!=", "helpful")],
                order="id desc",
                limit=1,
            )
        if self.answered_by == "operator":
            return False
        labels = dict(Question._fields["handoff_reason"]._description_selection(self.env))
        note = labels.get(reason, reason)
        if question:
            note = Markup("%s: <i>%s</i>") % (note, question.text)
            if question.article_id and question.auto_answered:
                note += Markup(" (%s)") % question.article_id.name
        if detail:
            note = Markup("%s. %s") % (note, detail)
        self._hand_off(note)
        if question:
            question.write({"handoff_at": self.handoff_at, "handoff_reason": reason, "operator_id": self.user_id.id})
        return True

    # -- feedback ------------------------------------------------------------------------
    def _support_feedback(self, question, helpful):
        """The customer pressed Yes or No under an answer; only the first press counts."""
        self.ensure_one()
        if question.contact_id != self or question.feedback:
            return
        question.sudo().feedback = "helpful" if helpful else "not_helpful"
        if helpful:
            env = self.with_context(lang=self._support_odoo_lang(question.lang)).env
            self._send(env._("Glad I could help!"), kind="service")
        else:
            self._support_hand_off("not_helpful", question)

    # -- language and hours ----------------------------------------------------------------
    def _support_language(self, text):
        """The article language to match ``text`` in: the customer's language, unless the
        letters say otherwise (Cyrillic from a customer whose language is not Russian is
        Russian; Latin letters only from a Russian-speaking one is English)."""
        self.ensure_one()
        # the language the customer uses, also when Odoo has no translation for it (_lang()
        # falls back to an installed language)
        code = (self.partner_id.lang or self.lang or self.env.lang or "en").split("_")[0].split("-")[0].lower()
        if code not in TS_CONFIGS:
            code = "other"
        cyrillic = bool(CYRILLIC.search(text or ""))
        if cyrillic and code not in ("ru", "other"):
            return "ru"
        if code == "ru" and not cyrillic and LATIN.search(text or ""):
            return "en"
        return code

    def _support_odoo_lang(self, code):
        """An installed Odoo language for the article language ``code``, for the bot's own
        words (Yes, No, ...); the customer's language when none is installed."""
        self.ensure_one()
        contact_lang = self._lang()
        if contact_lang and contact_lang.split("_")[0] == code:
            return contact_lang
        installed = self.env["res.lang"].sudo().search([("active", "=", True)]).mapped("code")
        return next((lang for lang in installed if lang.split("_")[0] == code), contact_lang)

    def _handoff_notice(self):
        """Outside the channel's working hours, say when a person will answer."""
        opening = self.channel_id._support_next_opening()
        if opening is None:
            return super()._handoff_notice()
        lang = self._lang()
        channel = self.channel_id.with_context(lang=lang)
        if opening:
            tz = self.channel_id.support_calendar_id.tz or "UTC"
            when = format_datetime(self.env, opening, tz=tz, dt_format="EEEE d MMMM, HH:mm (z)", lang_code=lang)
        else:
            when = self.with_context(lang=lang).env._("the next working day")
        return (channel.support_offline_message or "").replace("{when}", when) or super()._handoff_notice()
