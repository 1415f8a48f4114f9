import re
from datetime import timedelta

import pytz

from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

# How far ahead to look for the next working hours (covers long holidays).
OPENING_SEARCH_DAYS = 30
STATISTICS_DAYS = 30


class MessengerChannel(models.Model):
    _inherit = "messenger.channel"

    # off by default: once on, every question goes to the bot or to a person, so a channel
    # starts it when its articles and its team are ready
    kb_enabled = fields.Boolean(
        "Answer from the Knowledge Base",
        help="Free text that no chatbot flow is waiting for is answered with the best matching article, "
        "or handed over to a person.",
    )
    kb_threshold = fields.Float(
        "Answer Automatically Above",
        default=0.5,
        help="Confidence a match needs for the bot to answer (0-100 %). Below it, a person answers.",
    )
    kb_handoff_words = fields.Char(
        "Words That Call a Person",
        default="оператор, operator, человек, human",
        help="Comma-separated. A message with a word that starts with one of these goes to a person at once.",
    )
    support_calendar_id = fields.Many2one(
        "resource.calendar",
        "Working Hours",
        help="When operators answer. Outside these hours the bot tells the customer when a person will answer. "
        "Leave empty if someone answers at any time.",
    )
    # self.env._, not _: with no language in the context (module install) _ falls back to the
    # admin's language and would store it as the English source of the translated field
    support_offline_message = fields.Text(
        "Outside Working Hours Message",
        translate=True,
        default=lambda self: self.env._("Our team is away right now. A person will answer you here from {when}."),
        help="Sent instead of the hand-off message outside working hours; {when} becomes the next opening time.",
    )
    # -- statistics of the last 30 days ---------------------------------------------------
    support_question_count = fields.Integer("Questions", compute="_compute_support_statistics")
    support_answered_count = fields.Integer("Answered Automatically", compute="_compute_support_statistics")
    support_helpful_count = fields.Integer("Marked Helpful", compute="_compute_support_statistics")
    support_not_helpful_count = fields.Integer("Marked Not Helpful", compute="_compute_support_statistics")
    support_handoff_count = fields.Integer("Handed Off", compute="_compute_support_statistics")
    support_median_reply_minutes = fields.Float(
        "Median Minutes to First Human Answer", compute="_compute_support_statistics"
    )

    @api.constrains("kb_threshold")
    def _check_kb_threshold(self):
        if any(not 0 <= channel.kb_threshold <= 1 for channel in self):
            raise ValidationError(_("The confidence threshold must be between 0 and 100 %."))

    def _compute_support_statistics(self):
        since = fields.Datetime.now() - timedelta(days=STATISTICS_DAYS)
        Question = self.env["messenger.support.question"]
        for channel in self:
            stats = (
                Question._statistics([("channel_id", "=", channel.id), ("create_date", ">=", since)])
                if channel.id
                else {}
            )
            channel.support_question_count = stats.get("questions", 0)
            channel.support_answered_count = stats.get("answered", 0)
            channel.support_helpful_count = stats.get("helpful", 0)
            channel.support_not_helpful_count = stats.get("not_helpful", 0)
            channel.support_handoff_count = stats.get("handed_off", 0)
            channel.support_median_reply_minutes = stats.get("median_minutes") or 0.0

    def action_view_support_questions(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "messenger_marketing_support.action_messenger_support_question"
        )
        action["domain"] = [("channel_id", "=", self.id)]
        return action

    # -- support behaviour -------------------------------------------------------------------
    def _support_asks_for_person(self, text):
        """Whether the message contains a word that starts with one of the hand-off words."""
        self.ensure_one()
        stems = [w.strip().lower() for w in (self.kb_handoff_words or "").split(",") if w.strip()]
        words = re.findall(r"\w+", (text or "").lower())
        return any(word.startswith(stem) for word in words for stem in stems)

    def _support_next_opening(self, now=None):
        """None when a person can answer now (no working hours set, or within them);
        otherwise the start of the next working hours (naive UTC, as Odoo stores them), or
        False when there are none in the next 30 days."""
        self.ensure_one()
        calendar = self.support_calendar_id
        if not calendar:
            return None
        now = pytz.utc.localize(now or fields.Datetime.now())
        intervals = calendar._work_intervals_batch(now, now + timedelta(days=OPENING_SEARCH_DAYS))[False]
        for start, stop, _meta in intervals:
            if stop > now:
                return None if start <= now else start.astimezone(pytz.utc).replace(tzinfo=None)
        return False
