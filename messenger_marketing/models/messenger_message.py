import uuid
from datetime import UTC, datetime

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools import clean_context

from ..core.providers import BLOCKED, OPTED_OUT, PERMANENT
from .messenger_access import MANAGER, check_group
from .messenger_contact import UNSUBSCRIBE_PAYLOAD

STATES = [
    ("queued", "Queued"),
    ("sending", "Sending"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
    ("uncertain", "Outcome Unknown"),
    ("held", "On Hold"),
    ("received", "Received"),
]
FAILURE_TYPES = [
    ("opted_out", "Contact opted out"),
    ("blocked", "Contact blocked the bot"),
    ("rejected", "Rejected by the provider"),
    ("window", "Outside the messaging window"),
    ("provider_unavailable", "Provider unavailable"),
    ("interrupted", "Sending interrupted"),
]
# Where a status callback may move a message: only forward, never from read back to delivered.
STATUS_RANK = {"sending": 0, "sent": 1, "delivered": 2, "read": 3}


class MessengerMessage(models.Model):
    """The outbox and the inbox: every message to or from a messenger contact.

    No group may create or write messages over RPC (see the access rules): they are made
    by the features (composer, replies, order events, campaigns, flows) for contacts the
    caller may reach, and move only through the dispatcher and the provider's callbacks."""

    _name = "messenger.message"
    _description = "Messenger Message"
    _order = "id desc"
    _rec_name = "body"

    # channel_id and mailing_id have no index of their own: the partial indexes below and
    # the (mailing_id, contact_id) unique index serve their queries, and every index costs
    # on a 100,000-recipient launch.
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade")
    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True)
    partner_id = fields.Many2one(related="contact_id.partner_id")
    # Not stored: a campaign writes its rows in one INSERT (mailing_mailing) and a column
    # more costs on every launch; the company rule goes through the channel, a join on a
    # few rows, and is right for every row however it was written.
    company_id = fields.Many2one(related="channel_id.company_id")
    direction = fields.Selection([("out", "Outgoing"), ("in", "Incoming")], required=True, default="out")
    kind = fields.Selection(
        [("service", "Conversation"), ("transactional", "Transactional"), ("marketing", "Marketing")],
        required=True,
        default="service",
        help="Marketing messages go only to subscribed contacts; transactional ones follow the "
        "channel's consent setting; conversation replies go to anyone who has not blocked the bot.",
    )
    body = fields.Text()
    body_format = fields.Selection(
        [("plain", "Plain text"), ("html", "HTML")],
        "Text Format",
        default="plain",
        required=True,
        help="HTML is sent as such where the messenger renders it (Telegram), as plain text elsewhere.",
    )
    whatsapp_template_id = fields.Many2one(
        "messenger.whatsapp.template",
        "WhatsApp Template",
        ondelete="set null",
        help="Sent instead of the text when WhatsApp's 24-hour window is closed.",
    )
    image_url = fields.Char("Image URL", help="A picture sent with the text as its caption.")
    buttons = fields.Json(help="Rows of buttons: [[{text, payload | url | request_contact}]]")
    # no plain index on state: the queries that need one have partial indexes (see init)
    state = fields.Selection(STATES, required=True, default="queued")
    failure_type = fields.Selection(FAILURE_TYPES)
    failure_reason = fields.Char()
    provider_message_id = fields.Char("Provider Message ID", index="btree_not_null")
    uuid = fields.Char(
        default=lambda self: uuid.uuid4().hex,
        readonly=True,
        copy=False,
        help="Idempotency key sent to providers that support one.",
    )
    attempts = fields.Integer(readonly=True, default=0)
    priority = fields.Integer(default=0, help="Higher goes first: conversation replies before campaigns.")
    next_attempt_at = fields.Datetime(default=fields.Datetime.now, required=True)
    claimed_at = fields.Datetime(readonly=True)
    sent_at = fields.Datetime(readonly=True)
    res_model = fields.Char("Related Model")
    res_id = fields.Many2oneReference("Related Record", model_field="res_model")
    mail_message_id = fields.Many2one("mail.message", ondelete="set null", help="The chatter post it answers.")
    chatter_log_id = fields.Many2one(
        "mail.message",
        ondelete="set null",
        help="Note in the related record's chatter that shows this message's status.",
    )
    mailing_id = fields.Many2one("mailing.mailing", "Campaign", ondelete="cascade")
    mailing_trace_id = fields.Many2one("mailing.trace", ondelete="set null")

    def init(self):
        # The dispatcher's claim query reads only due outgoing rows.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_due_idx
               ON messenger_message (channel_id, priority DESC, id)
               WHERE state = 'queued'"""
        )
        # A record's messages (an order's smart button); campaign rows are found through
        # their mailing, and skipping them here keeps a launch fast.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_record_idx
               ON messenger_message (res_model, res_id) WHERE mailing_id IS NULL AND res_id IS NOT NULL"""
        )
        # The dispatcher looks for rows a dead process left in "sending".
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_sending_idx
               ON messenger_message (claimed_at) WHERE state = 'sending'"""
        )
        # A campaign reaches a contact once, however often it is launched.
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS messenger_message_mailing_contact_uniq
               ON messenger_message (mailing_id, contact_id) WHERE mailing_id IS NOT NULL"""
        )
        # ...and checks that a chat has no older pending message.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_pending_contact_idx
               ON messenger_message (contact_id, id)
               WHERE state IN ('queued', 'sending')"""
        )

    @api.model
    def _queue(self, vals_list):
        """Write outgoing messages and wake the dispatcher once the transaction commits
        (the cron trigger is only seen by the cron runner after commit)."""
        # callers' "default_…" context keys (a wizard's default_mailing_id…) are not ours
        messages = self.with_context(clean_context(self.env.context)).create(vals_list)
        answers = messages.filtered(lambda m: m.kind == "service")
        for contact, replies in answers.grouped("contact_id").items():
            contact._note_answered(replies[-1].body)
        if messages:
            self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        return messages

    @api.model
    def _chatter_log_body(self, contact, text, state, reason=""):
        label = dict(self._fields["state"]._description_selection(self.env))[state]
        if reason:
            label = f"{label}: {reason}"
        return Markup("<p><b>%s</b> → %s · <i>%s</i></p><p style='white-space: pre-wrap'>%s</p>") % (
            contact.channel_id.name,
            contact.name,
            label,
            text,
        )

    def _sync_chatter_logs(self):
        """Show each message's current status in the note it left on its record."""
        for message in self.filtered("chatter_log_id"):
            message.chatter_log_id.sudo().body = self._chatter_log_body(
                message.contact_id, message.body, message.state, message.failure_reason or ""
            )

    def write(self, vals):
        result = super().write(vals)
        if "state" in vals:
            self._sync_traces()
        return result

    def _sync_traces(self):
        """Mirror the messages' status on their campaign traces (Email Marketing's statistics)."""
        ids = self.filtered("mailing_trace_id").ids
        if not ids:
            return
        self.flush_recordset(["state", "sent_at", "failure_reason"])
        self.env.cr.execute(
            """UPDATE mailing_trace t SET
                   trace_status = CASE m.state WHEN 'sent' THEN 'sent' WHEN 'delivered' THEN 'sent'
                                  WHEN 'read' THEN 'open' WHEN 'failed' THEN 'error' WHEN 'uncertain' THEN 'error'
                                  WHEN 'cancelled' THEN 'cancel' ELSE t.trace_status END,
                   sent_datetime = CASE WHEN m.state IN ('sent', 'delivered', 'read')
                                   THEN COALESCE(t.sent_datetime, m.sent_at) ELSE t.sent_datetime END,
                   open_datetime = CASE WHEN m.state = 'read' THEN COALESCE(t.open_datetime, m.write_date)
                                   ELSE t.open_datetime END,
                   failure_type = CASE WHEN m.state IN ('failed', 'uncertain') THEN 'unknown' ELSE t.failure_type END,
                   failure_reason = CASE WHEN m.state IN ('failed', 'cancelled', 'uncertain') THEN m.failure_reason
                                    ELSE t.failure_reason END,
                   write_date = now() at time zone 'utc'
               FROM messenger_message m WHERE m.mailing_trace_id = t.id AND m.id = ANY(%s)""",
            [ids],
        )
        self.env["mailing.trace"].invalidate_model()

    def _fail(self, result):
        """Record a provider's refusal (a SendResult that is not a success): the reason a
        person can read, and what it means for the contact's consent."""
        for message in self:
            if result.outcome == BLOCKED:
                failure = "blocked"
            elif result.outcome == OPTED_OUT:
                failure = "opted_out"
            elif result.outcome == PERMANENT:
                failure = "window" if result.outside_window else "rejected"
            else:
                failure = "provider_unavailable"
            message.write({"state": "failed", "failure_type": failure, "failure_reason": result.reason})
            if result.outcome == BLOCKED:
                message.contact_id._set_consent("blocked", "provider", result.reason)
            elif result.outcome == OPTED_OUT:
                message.contact_id._set_consent("unsubscribed", "provider", result.reason)

    @api.model
    def _apply_status(self, channel, event):
        """A provider's status callback: move the messages it names forward (sent →
        delivered → read), or fail one the provider could not deliver."""
        Message = self.sudo()
        domain = [("channel_id", "=", channel.id), ("direction", "=", "out")]
        if event.provider_message_id:
            messages = Message.search([*domain, ("provider_message_id", "=", event.provider_message_id)], limit=1)
            if messages and event.up_to:  # this one and every earlier one to the chat
                earlier = [("contact_id", "=", messages.contact_id.id), ("id", "<=", messages.id)]
                messages = Message.search([*domain, *earlier])
        elif event.watermark and event.chat_id:
            until = datetime.fromtimestamp(event.watermark, tz=UTC).replace(tzinfo=None)
            messages = Message.search(
                [*domain, ("contact_id.chat_id", "=", event.chat_id), ("sent_at", "<=", until)],
            )
        else:
            messages = Message
        if event.status == "failed":
            result = channel._provider().classify_status_error(0, event.error or {"message": event.text})
            messages.filtered(lambda m: m.state in ("sending", "sent"))._fail(result)
            return messages
        rank = STATUS_RANK.get(event.status)
        if rank is None:
            return Message
        moved = messages.filtered(lambda m: STATUS_RANK.get(m.state, 99) < rank)
        moved.write({"state": event.status})
        moved._sync_chatter_logs()
        return moved

    def _after_dispatch(self):
        """What follows a batch's results (their campaign traces are already in step): the
        notes in the related records' chatter, and the campaigns' health check."""
        self.filtered("chatter_log_id")._sync_chatter_logs()
        self.mailing_id._messenger_check_health()

    def _buttons_to_send(self):
        """The buttons as the person sees them: every marketing message carries its way
        out, added here so that no feature can forget it."""
        self.ensure_one()
        buttons = list(self.buttons or [])
        if self.kind == "marketing":
            channel = self.channel_id.with_context(lang=self.contact_id._lang())
            buttons.append(
                [{"text": channel.unsubscribe_button_label or _("Unsubscribe"), "payload": UNSUBSCRIBE_PAYLOAD}]
            )
        return buttons

    def action_retry(self):
        check_group(self, MANAGER)
        self.sudo().filtered(lambda m: m.direction == "out" and m.state in ("failed", "uncertain")).write(
            {
                "state": "queued",
                "failure_type": False,
                "failure_reason": False,
                "next_attempt_at": fields.Datetime.now(),
                "attempts": 0,
            }
        )
        self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        return True

    def action_cancel(self):
        check_group(self, MANAGER)
        self.sudo().filtered(lambda m: m.state in ("queued", "uncertain", "failed")).write({"state": "cancelled"})
        return True
