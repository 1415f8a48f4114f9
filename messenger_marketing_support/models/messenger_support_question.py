from odoo import api, fields, models
from odoo.tools import SQL

from .messenger_support_article import LANGUAGES

OUTCOMES = [
    ("open", "Not answered"),
    ("answered", "Answered automatically"),
    ("helpful", "Helpful"),
    ("not_helpful", "Not helpful"),
    ("handed_off", "Handed off"),
]
HANDOFF_REASONS = [
    ("no_match", "No article matched"),
    ("not_helpful", "The article did not help"),
    ("asked", "Asked for a person"),
    ("flow", "A chatbot flow handed over"),
    ("other", "Other"),
]


class MessengerSupportQuestion(models.Model):
    """One question a customer asked the bot, and what became of it: the statistics of
    the knowledge base and of the operators."""

    _name = "messenger.support.question"
    _description = "Support Question"
    _order = "id desc"
    _rec_name = "text"

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True)
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    partner_id = fields.Many2one(related="contact_id.partner_id", string="Customer")
    text = fields.Text("Question", required=True)
    lang = fields.Selection([(code, label) for code, label, _config in LANGUAGES], "Language")
    article_id = fields.Many2one(
        "messenger.support.article",
        "Best Article",
        ondelete="set null",
        index="btree_not_null",
        help="The article that matched best, also when its confidence was too low to answer.",
    )
    confidence = fields.Float(aggregator="avg", help="How well the best article matched, from 0 to 100 %.")
    auto_answered = fields.Boolean("Answered Automatically", help="The bot sent the article's short answer.")
    feedback = fields.Selection([("helpful", "Helpful"), ("not_helpful", "Not helpful")])
    handoff_at = fields.Datetime("Handed Off At")
    handoff_reason = fields.Selection(HANDOFF_REASONS, "Hand-off Reason")
    operator_id = fields.Many2one("res.users", "Operator", help="Who the conversation was handed to.")
    first_reply_at = fields.Datetime(
        "First Human Answer At", help="When an operator first replied from Odoo after the hand-off."
    )
    reply_delay_minutes = fields.Float(
        "Minutes to First Human Answer", compute="_compute_reply_delay", store=True, aggregator="avg"
    )
    outcome = fields.Selection(OUTCOMES, compute="_compute_outcome", store=True, index=True)

    @api.depends("handoff_at", "first_reply_at")
    def _compute_reply_delay(self):
        for question in self:
            if question.handoff_at and question.first_reply_at:
                question.reply_delay_minutes = (question.first_reply_at - question.handoff_at).total_seconds() / 60
            else:
                question.reply_delay_minutes = 0.0

    @api.depends("auto_answered", "feedback", "handoff_at")
    def _compute_outcome(self):
        for question in self:
            if question.feedback:
                question.outcome = question.feedback
            elif question.handoff_at:
                question.outcome = "handed_off"
            else:
                question.outcome = "answered" if question.auto_answered else "open"

    @api.model
    def _statistics(self, domain=()):
        """Figures over the questions of ``domain``, in one query: received, answered
        automatically, helpful, not helpful, handed off, answered by a person, and the
        median minutes from hand-off to the first human answer (None without any)."""
        query = self._search(list(domain))

        def column(name):
            return SQL.identifier(query.table, name)

        self.env.cr.execute(
            query.select(
                SQL("count(*)"),
                SQL("count(*) FILTER (WHERE %s)", column("auto_answered")),
                SQL("count(*) FILTER (WHERE %s = 'helpful')", column("feedback")),
                SQL("count(*) FILTER (WHERE %s = 'not_helpful')", column("feedback")),
                SQL("count(*) FILTER (WHERE %s IS NOT NULL)", column("handoff_at")),
                SQL("count(*) FILTER (WHERE %s IS NOT NULL)", column("first_reply_at")),
                SQL(
                    "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM %s - %s) / 60)",
                    column("first_reply_at"),
                    column("handoff_at"),
                ),
            )
        )
        row = self.env.cr.fetchone()
        keys = ("questions", "answered", "helpful", "not_helpful", "handed_off", "human_answered", "median_minutes")
        return dict(zip(keys, row, strict=True))

    @api.model
    def _record_first_replies(self, messages):
        """Operators' replies (messages sent from a contact's chatter) answer the contact's
        latest handed-off question, if no person answered it yet."""
        for message in messages.filtered(lambda m: m.direction == "out" and m.mail_message_id):
            question = self.sudo().search(
                [("contact_id", "=", message.contact_id.id), ("handoff_at", "!=", False)], order="id desc", limit=1
            )
            if question and not question.first_reply_at:
                question.write(
                    {
                        "first_reply_at": max(message.create_date, question.handoff_at),
                        "operator_id": question.operator_id.id or message.create_uid.id,
                    }
                )
