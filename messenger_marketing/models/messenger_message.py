import uuid
from datetime import UTC, datetime

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import clean_context, html_sanitize, plaintext2html

from ..core import outbox
from ..core.providers import BLOCKED, OPTED_OUT, PERMANENT
from ..core.text import html_to_plain
from .messenger_access import MANAGER, check_group
from .messenger_contact import UNSUBSCRIBE_PAYLOAD
from .messenger_route import FALLBACK_KINDS

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
    (outbox.WITHDRAWN, "Changed or deleted before it was sent"),
]
# From waiting to read: a message in parts shows the least advanced of them.
STATUS_ORDER = ["queued", "held", "sending", "uncertain", "sent", "delivered", "read", "received"]
# What an edit of a post rewrites in its queued parts (see _replace_with).
PART_CONTENT = ("body", "body_format", "buttons", "attachment_id")
# The context key under which the transition methods write ``state``.
_IN_TRANSITION = "messenger_message_transition"
# In the context of the dispatcher: its messages are shown in their conversations after it.
DEFER_CONVERSATION = "messenger_defer_conversation"


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
    mail_message_id = fields.Many2one(
        "mail.message",
        ondelete="set null",
        index="btree_not_null",  # found by its post when the post is changed
        help="The post of a person in Odoo that it sends to the customer.",
    )
    discuss_message_id = fields.Many2one(
        "mail.message",
        "Conversation Message",
        ondelete="set null",
        index="btree_not_null",
        readonly=True,
        copy=False,
        help="How the message shows in the contact's conversation in Discuss.",
    )
    # Sent by the dispatcher, to be shown in the conversation by its own cron (see
    # _show_in_conversation); NULL or false otherwise.
    conversation_pending = fields.Boolean("Waiting for the Conversation", readonly=True, copy=False)
    media_ids = fields.One2many("messenger.media", "message_id", "Files Received")
    attachment_id = fields.Many2one(
        "ir.attachment",
        "File",
        ondelete="set null",
        help="Sent as the messenger's photo, document, audio or video message, with the text as its caption.",
    )
    chatter_log_id = fields.Many2one(
        "mail.message",
        ondelete="set null",
        help="Note in the related record's chatter that shows this message's status.",
    )
    mailing_id = fields.Many2one("mailing.mailing", "Campaign", ondelete="cascade")
    mailing_trace_id = fields.Many2one("mailing.trace", ondelete="set null")
    cards = fields.Json(
        readonly=True,
        help="Product cards shown side by side under the text (VK's carousel): title, description, "
        "picture and buttons of each.",
    )
    paid_broadcast = fields.Boolean(
        readonly=True, help="Sent as a Telegram paid broadcast: faster than the bot's free limit, for Stars."
    )
    fallback_of_id = fields.Many2one(
        "messenger.message",
        "Fallback Of",
        readonly=True,
        ondelete="set null",
        index="btree_not_null",
        help="The message that could not be delivered on its channel, which this one carries on another.",
    )
    fallback_ids = fields.One2many("messenger.message", "fallback_of_id", readonly=True)
    fallback_id = fields.Many2one(
        "messenger.message",
        "Sent Again As",
        compute="_compute_fallback_id",
        help="This message could not be delivered here: it went on through another channel as this one.",
    )
    fallback_medium = fields.Selection(
        [("email", "E-mail"), ("sms", "SMS")],
        "Sent Again By",
        readonly=True,
        help="No messenger channel was left to carry this message: it went by e-mail or SMS.",
    )
    maybe_delivered = fields.Boolean(
        "May Have Arrived",
        readonly=True,
        copy=False,
        help="An attempt went unanswered and was retried: the person may have it already, so it never "
        "goes on through another channel.",
    )
    fallback_mail_id = fields.Many2one(
        "mail.message", "Sent Again In", readonly=True, ondelete="set null", help="The e-mail or SMS that carried it."
    )

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
        # A campaign is Sending while it has a waiting row (mailing.mailing._messenger_follow_queue),
        # and a pause holds or releases them all.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_mailing_waiting_idx
               ON messenger_message (mailing_id)
               WHERE mailing_id IS NOT NULL AND state IN ('queued', 'sending', 'held')"""
        )
        # What a paid broadcast has spent (mailing.mailing._messenger_within_stars_budget, at
        # each claim): rows enter it only once claimed, so a launch does not write it.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_paid_spent_idx
               ON messenger_message (mailing_id)
               WHERE paid_broadcast AND state IN ('sending', 'sent', 'delivered', 'read')"""
        )
        # A message that could not be delivered goes on through another channel once.
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS messenger_message_fallback_uniq
               ON messenger_message (fallback_of_id) WHERE fallback_of_id IS NOT NULL"""
        )
        # The order updates and replies that may fall back after an outage
        # (messenger.dispatcher._fall_back_stalled), apart from a campaign's queue.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_stalled_idx
               ON messenger_message (channel_id, create_date)
               WHERE state = 'queued' AND direction = 'out' AND kind IN ('transactional', 'service')"""
        )
        # The dispatcher's sent messages waiting to be shown in their conversations.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_conversation_pending_idx
               ON messenger_message (contact_id, id) WHERE conversation_pending"""
        )
        # ...and checks that a chat has no older pending message.
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_message_pending_contact_idx
               ON messenger_message (contact_id, id)
               WHERE state IN ('queued', 'sending')"""
        )

    @api.depends("fallback_ids")
    def _compute_fallback_id(self):
        for message in self:
            message.fallback_id = message.fallback_ids[:1]

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

    # -- the lifecycle: the only writers of ``state`` (see core.outbox) -----------------
    def write(self, vals):
        if "state" in vals and not self.env.context.get(_IN_TRANSITION):
            # over RPC no group may write messages at all (the access rules say so first);
            # this keeps the features' own code to the transitions, which keep traces in step
            self.check_access("write")
            raise UserError(_("A message's status changes only through its transitions."))
        return super().write(vals)

    def _to(self, state, **vals):
        """Move the messages that may go to ``state`` (``core.outbox.TRANSITIONS``) there,
        writing ``vals`` with it; the others stay as they are. Returns the moved ones,
        with their campaign traces and chatter notes in step."""
        moved = self.filtered(lambda m: state in outbox.TRANSITIONS[m.state])
        if moved:
            moved.with_context(**{_IN_TRANSITION: True}).write({**vals, "state": state})
            moved._after_transition()
        return moved

    def _after_transition(self):
        self._sync_traces()
        self._sync_chatter_logs()
        self.mailing_id._messenger_follow_queue()
        self._show_in_conversation()

    # -- the conversation in Discuss --------------------------------------------------------
    def _show_in_conversation(self):
        """An outgoing message joins its contact's conversation when it leaves the queue
        (sent, failed, cancelled): the transaction that queued it (an order's confirmation,
        a webhook) only wrote rows. A campaign's messages join only conversations that
        exist: a launch reaches 100,000 people, most of whom never write back. Those shown
        already show their new status.

        The dispatcher only marks its messages for the conversation cron: a conversation's
        first post (a channel, a guest, a member) costs several times a send, and at 1,000
        messages a second it held the sending loop back (bench/README.md, "At the limit")."""
        new = self.filtered(
            lambda m: (
                m.direction == "out"
                and not m.discuss_message_id
                and m.state not in outbox.WAITING
                and (m.kind != "marketing" or m.contact_id.discuss_channel_id)
            )
        )
        if new and self.env.context.get(DEFER_CONVERSATION):
            new.sudo().conversation_pending = True
            self.env.ref("messenger_marketing.ir_cron_messenger_conversation")._trigger()
        else:
            new._post_to_conversation()
        self._sync_conversation_status()

    @api.model
    def _cron_show_in_conversation(self, limit=500):
        """Show the dispatcher's sent messages in their conversations, oldest first."""
        messages = self._conversation_pending(limit=limit)
        messages._post_to_conversation()
        if len(messages) == limit:  # more wait: the next run takes them
            self.env.ref("messenger_marketing.ir_cron_messenger_conversation")._trigger()
        return messages

    def _show_pending(self, contact):
        """Before a customer's message joins the conversation: what the dispatcher sent
        them and the cron has not shown yet, so that the conversation keeps its order."""
        self._conversation_pending(contact=contact)._post_to_conversation()

    @api.model
    def _conversation_pending(self, contact=None, limit=None):
        """The messages waiting to be shown in their conversations (of ``contact``), oldest
        first, locked: the cron and a webhook never post the same one."""
        self.flush_model(["conversation_pending", "contact_id"])
        self.env.cr.execute(
            """SELECT id FROM messenger_message
               WHERE conversation_pending AND (%(contact)s IS NULL OR contact_id = %(contact)s)
               ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED""",
            {"contact": contact.id if contact else None, "limit": limit},
        )
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    def _post_to_conversation(self):
        """Show the messages in their contacts' conversations, in order, each once."""
        # a withdrawn part (its post was changed or deleted) is shown by nothing: its post
        # shows what replaced it
        shown = self.filtered(lambda m: not m.discuss_message_id and m.failure_type != outbox.WITHDRAWN)
        for message in shown.sorted("id"):
            channel = message.contact_id._conversation()
            if message.discuss_message_id:  # the conversation's start showed it
                continue
            inbound = message.direction == "in"
            author = message.mail_message_id.author_id if message.mail_message_id else None
            posted = channel._messenger_post(
                message._conversation_body(),
                author=author,
                guest=message.contact_id.guest_id if inbound else None,
            )
            message.sudo().discuss_message_id = posted
        pending = self.filtered("conversation_pending")
        if pending:
            pending.sudo().conversation_pending = False

    def _conversation_body(self):
        """The message as the conversation shows it: its text, its picture and file, its buttons."""
        self.ensure_one()
        html = self.body_format == "html"
        body = Markup(html_sanitize(self.body or "")) if html else plaintext2html(self.body or "")
        if self.image_url:
            body += Markup('<p><a href="%s" target="_blank">%s</a></p>') % (self.image_url, _("Picture"))
        if self.attachment_id:
            body += Markup("<p>📎 %s</p>") % self.attachment_id.name
        for card in self.cards or []:
            body += Markup("<p>🛒 <b>%s</b> %s</p>") % (card.get("title") or "", card.get("description") or "")
        buttons = [b.get("text", "") for row in self._buttons_to_send() for b in row] if self.direction == "out" else []
        if buttons:
            body += Markup("<p>%s</p>") % Markup(" ").join(
                Markup('<span class="badge text-bg-secondary">%s</span>') % text for text in buttons
            )
        return body

    def _status_values(self):
        """What the conversation shows of the status of these parts of one message: a
        failure with its reason, else the least advanced of them; nothing for what came in.
        Whether it may still be edited goes with it: the same keys every time, so that a
        live update replaces each of them."""
        out = self.filtered(lambda m: m.direction == "out" and m.failure_type != outbox.WITHDRAWN)
        failed = out.filtered(lambda m: m.state in (*outbox.FAILED, "cancelled"))[:1]
        if failed:
            reason = failed.failure_reason or dict(self._fields["failure_type"]._description_selection(self.env)).get(
                failed.failure_type, ""
            )
            return {"messenger_status": failed.state, "messenger_failure": reason or False, "messenger_editable": False}
        if not out:
            return {"messenger_status": False, "messenger_failure": False, "messenger_editable": False}
        editable = all(part._may_be_changed(part.discuss_message_id) for part in out)  # Discuss's Edit, Delete
        state = min(out.mapped("state"), key=STATUS_ORDER.index)
        return {"messenger_status": state, "messenger_failure": False, "messenger_editable": editable}

    @api.model
    def _follow_post_change(self, post, change):
        """A person changes or deletes ``post`` (Discuss's Edit and Delete, removing one of its
        files: ``change`` does it). While the messages it makes for a customer wait in the
        queue, they follow it (``_replace_with``); once one has left the queue or may have
        reached the customer, the change is refused before anything changes: they keep
        what they got, and the platforms' edit and delete methods are not used."""
        parts = self._lock_post_parts(post)
        result = change()
        if parts:
            thread = self.env[post.model].browse(post.res_id)
            parts._replace_with([] if post._filter_empty() else thread._messenger_post_vals(post, parts.contact_id))
        return result

    @api.model
    def _lock_post_parts(self, post):
        """The parts of ``post`` still to be sent, locked; refused if one may not change."""
        parts = self.sudo().search(
            [
                ("direction", "=", "out"),
                ("failure_type", "!=", outbox.WITHDRAWN),
                "|",
                ("mail_message_id", "=", post.id),
                ("discuss_message_id", "=", post.id),
            ]
        )
        if not parts:
            return parts
        # the dispatcher claims past locked rows (SKIP LOCKED): none leaves the queue now,
        # and one it is claiming makes this transaction wait, then retry and refuse
        self.env.cr.execute("SELECT id FROM messenger_message WHERE id = ANY(%s) FOR UPDATE", [parts.ids])
        parts.invalidate_recordset(["state", "maybe_delivered"])
        gone = parts.filtered(lambda m: not m._may_be_changed(post))[:1]
        if gone and gone.mail_message_id != post:
            raise UserError(
                _("This message shows in the conversation what was sent from elsewhere: it cannot be changed here.")
            )
        if gone:
            states = dict(self._fields["state"]._description_selection(self.env))
            raise UserError(
                _(
                    "This message has left the queue (%(state)s): what %(name)s got on %(channel)s stays as it "
                    "was, so it can no longer be changed or deleted. Write a new message instead.",
                    state=states[gone.state],
                    name=gone.contact_id.name,
                    channel=gone.contact_id.channel_id.name,
                )
            )
        return parts

    def _may_be_changed(self, post):
        """Whether this part changes with ``post``: it is the post's own, not a conversation's
        copy of a message sent from elsewhere (the bot's, an order's, a campaign's, a chat
        lead's reply), the dispatcher has not taken it, and no attempt may have reached
        the person."""
        self.ensure_one()
        return self.mail_message_id == post and self.state in outbox.UNCLAIMED and not self.maybe_delivered

    def _replace_with(self, vals_list):
        """These parts of a post (locked by ``_lock_post_parts``) become the messages the
        post makes now, ``vals_list``: rewritten in place, in order, so that the post keeps
        its place among the chat's messages (the dispatcher sends them oldest first); the
        parts left over are withdrawn (shown nowhere), the extra ones queued after."""
        parts = self.sorted("id")
        for part, vals in zip(parts, vals_list, strict=False):
            # what a post's part says: the rest (its contact, kind, post) is the same by making
            part.write({"attachment_id": False, **{key: vals[key] for key in PART_CONTENT if key in vals}})
        parts[len(vals_list) :]._to("cancelled", failure_type=outbox.WITHDRAWN)
        kept = parts[: len(vals_list)] | self._queue(vals_list[len(parts) :])
        parts.contact_id._note_changed_answer()
        kept._sync_chatter_logs()
        parts._sync_conversation_status()
        return kept

    def _sync_conversation_status(self):
        """The conversations' members see the status change live."""
        shown = self.filtered("discuss_message_id").discuss_message_id
        if not shown:
            return
        parts = self.sudo().search([("discuss_message_id", "in", shown.ids)])
        for discuss_message, group in parts.grouped("discuss_message_id").items():
            channel = self.env["discuss.channel"].sudo().browse(discuss_message.res_id)
            channel._bus_send_store(discuss_message, group._status_values())

    def _fail(self, result):
        """Record a provider's refusal (a SendResult that is not a success): the reason a
        person can read, and what it means for the contact's consent."""
        if result.outcome == BLOCKED:
            failure = "blocked"
        elif result.outcome == OPTED_OUT:
            failure = "opted_out"
        elif result.outcome == PERMANENT:
            failure = "window" if result.outside_window else "rejected"
        else:
            failure = "provider_unavailable"
        # one that may have arrived stays marked so: a retry of it is never changed, nor carried on
        marked = {"maybe_delivered": True} if result.maybe_delivered else {}
        failed = self._to("failed", failure_type=failure, failure_reason=result.reason, **marked)
        if result.outcome == BLOCKED:
            failed.contact_id._set_consent("blocked", "provider", result.reason)
        elif result.outcome == OPTED_OUT:
            failed.contact_id._set_consent("unsubscribed", "provider", result.reason)
        if not result.maybe_delivered:  # one that may have arrived is for a person to check
            failed._fall_back()
        return failed

    # -- reaching the customer on another channel --------------------------------------
    def _chain(self):
        """This message and the ones it carries on for, back to the first."""
        self.ensure_one()
        chain, message = self.browse(), self
        while message and message not in chain:
            chain |= message
            message = message.fallback_of_id
        return chain

    def _fall_back(self):
        """Queue each of these undelivered messages (failed or cancelled) once more, on the
        customer's next channel that may receive it and that its chain has not tried yet
        (messenger.contact._reachable_by_partner, in the order of messenger.route). In the
        transaction that records the failure, so that a process that dies leaves either
        both or neither; and once: a message has at most one fallback (a unique index
        says so too). Marketing never falls back. Returns the new messages."""
        eligible = self.filtered(
            lambda m: (
                m.direction == "out"
                and m.kind in FALLBACK_KINDS
                and m.state in ("failed", "cancelled")
                and not m.maybe_delivered
                and m.contact_id.partner_id
            )
        )
        if not eligible:
            return self.browse()
        self.flush_model(["fallback_of_id"])
        self.env.cr.execute(
            "SELECT fallback_of_id FROM messenger_message WHERE fallback_of_id = ANY(%s)", [eligible.ids]
        )
        done = {r[0] for r in self.env.cr.fetchall()}
        Contact = self.env["messenger.contact"].sudo()
        vals_list, notes = [], []
        for message in eligible.filtered(lambda m: m.id not in done and not m.fallback_medium):
            chain = message._chain()
            partner = message.contact_id.partner_id
            company = message._fallback_company()
            contact = Contact._reachable_by_partner(
                partner, message.kind, company=company, exclude=chain.channel_id
            ).get(partner.id)
            if not contact:
                order = self.env["messenger.route"]._channel_order(partner, message.kind, company)
                message._fall_back_off_messenger(partner, order[partner.id], company)
                continue
            vals_list.append(
                {
                    "channel_id": contact.channel_id.id,
                    "contact_id": contact.id,
                    "direction": "out",
                    "kind": message.kind,
                    "body": message.body,
                    "body_format": message.body_format,
                    "image_url": message.image_url,
                    "attachment_id": message.attachment_id.id,
                    "buttons": message.buttons,
                    "priority": message.priority,
                    "res_model": message.res_model,
                    "res_id": message.res_id,
                    "fallback_of_id": message.id,
                }
            )
            notes.append((message, contact))
        copies = self.sudo()._queue(vals_list)
        for copy, (message, contact) in zip(copies, notes, strict=True):
            copy._log_fallback(message, contact)
        return copies

    def _fallback_company(self):
        """The company the message speaks for: its record's (an order's, a lead's), else its
        channel's, else the customer's, else the current one; never "any company" (a shared
        channel must not hand company B's order to company A's bot)."""
        self.ensure_one()
        record = self._record()
        return (
            (record.company_id if record and "company_id" in record._fields else None)
            or self.channel_id.company_id
            or self.contact_id.partner_id.company_id
            or self.env.company
        )

    def _fall_back_off_messenger(self, partner, order, company):
        """The last links of the order, once no messenger channel is left: an e-mail or an
        SMS through Odoo's own mail and sms (an optional app), queued for their crons.
        Written as the company, not posted on a chatter: a post would go through the
        record's message_post (a chat lead's sends it to the messenger again, which refuses
        it again...), and the partner's chatter is read by every employee."""
        self.ensure_one()
        record = self._record()
        if record and record._name == "res.partner":
            record = None  # the e-mail shows on the order it is about, never on a partner
        thread = {"model": record._name, "res_id": record.id} if record else {}
        for medium in [step for step in order if step in ("email", "sms")]:
            if medium == "email" and partner.email:
                sent = self._fallback_email(partner, company, thread)
            elif medium == "sms" and "sms.sms" in self.env and (partner.mobile or partner.phone):
                sent = self._fallback_sms(partner, company, thread)
            else:
                continue
            self.write({"fallback_medium": medium, "fallback_mail_id": sent.id})
            if record:
                label = dict(self._fields["fallback_medium"]._description_selection(self.env))[medium]
                record.sudo()._message_log(body=self._fallback_note(label))
            return True
        return False

    def _fallback_body(self):
        if self.body_format == "html":
            return Markup(html_sanitize(self.body or ""))
        return plaintext2html(self.body or "")

    def _fallback_email(self, partner, company, thread):
        """An e-mail queued for the mail cron; returns its mail.message."""
        email_from = company.email_formatted or self.env["ir.mail_server"]._get_default_from_address()
        body = self._fallback_body()
        mail = (
            self.env["mail.mail"]
            .sudo()
            .create(
                {
                    **thread,
                    "subject": company.name,
                    "body": body,
                    "body_html": body,
                    "author_id": company.partner_id.id,
                    "email_from": email_from,
                    "recipient_ids": [(4, partner.id)],
                    "message_type": "email_outgoing",
                    # kept (not deleted once sent): the message says what carried it
                    "auto_delete": False,
                }
            )
        )
        return mail.mail_message_id

    def _fallback_sms(self, partner, company, thread):
        """An SMS queued for the SMS cron; returns the mail.message that records it."""
        text = html_to_plain(self.body) if self.body_format == "html" else self.body or ""
        message = (
            self.env["mail.message"]
            .sudo()
            .create({**thread, "body": plaintext2html(text), "message_type": "sms", "author_id": company.partner_id.id})
        )
        self.env["sms.sms"].sudo().create(
            {
                "number": partner.mobile or partner.phone,
                "partner_id": partner.id,
                "body": text,
                "mail_message_id": message.id,
                "state": "outgoing",
            }
        )
        return message

    def _record(self):
        """The record the message is about (an order), if it still exists and has a chatter."""
        self.ensure_one()
        if self.res_model not in self.env or not self.res_id:
            return None
        record = self.env[self.res_model].browse(self.res_id).exists()
        return record if record and hasattr(record, "_message_log") else None

    def _fallback_note(self, next_label):
        reason = self.failure_reason or dict(self._fields["failure_type"]._description_selection(self.env)).get(
            self.failure_type, ""
        )
        return Markup("<p>%s</p>") % _(
            "Not delivered through %(channel)s (%(reason)s): sent again through %(next)s.",
            channel=self.channel_id.name,
            reason=reason,
            next=next_label,
        )

    def _log_fallback(self, original, contact):
        """Say on the record (an order) that the message goes on through another channel,
        and give the new message its own status note there."""
        self.ensure_one()
        record = self._record()
        if not record:
            return
        record.sudo()._message_log(body=original._fallback_note(contact.channel_id.name))
        log = record.sudo()._message_log(body=self._chatter_log_body(contact, self.body, self.state))
        self.chatter_log_id = log

    # The bulk forms, in SQL, for the dispatcher and campaigns (100,000 rows at a time).
    # Each moves only rows in a state the move starts from, and keeps traces in step.
    @api.model
    def _due_paid_broadcast(self, channel_id, now):
        """Whether the channel's next due row is a paid broadcast: a batch is all paid or
        all free, each sent at its own pace (the dispatcher claims one lane at a time)."""
        self.flush_model()
        self.env.cr.execute(
            """SELECT paid_broadcast FROM messenger_message
               WHERE state = 'queued' AND channel_id = %s AND next_attempt_at <= %s
               ORDER BY priority DESC, id LIMIT 1""",
            [channel_id, now],
        )
        row = self.env.cr.fetchone()
        return bool(row and row[0])

    @api.model
    def _claim_due(self, channel_id, limit, claimed_at, paid_broadcast=False):
        """queued → sending: up to ``limit`` of the channel's due rows of one lane (paid
        broadcasts or not), locked past other dispatchers (``SKIP LOCKED``), by priority;
        returns their ids."""
        self.flush_model()
        self.env.cr.execute(
            """UPDATE messenger_message SET state = 'sending', attempts = attempts + 1,
                      claimed_at = %(now)s, write_date = %(now)s, write_uid = %(uid)s
               WHERE id IN (SELECT m.id FROM messenger_message m
                            WHERE m.state = 'queued' AND m.channel_id = %(channel)s
                              AND m.next_attempt_at <= %(now)s AND COALESCE(m.paid_broadcast, false) = %(paid)s
                              -- one chat's messages go out in order: only its oldest pending one,
                              -- but one planned for later and never claimed (a campaign's slot in
                              -- its rate or sending window) does not hold a reply to the person;
                              -- one handed back to wait for the chat or a retry still does
                              AND NOT EXISTS (SELECT 1 FROM messenger_message o
                                              WHERE o.contact_id = m.contact_id AND o.id < m.id
                                                AND o.state IN ('queued', 'sending')
                                                AND NOT (o.state = 'queued' AND o.claimed_at IS NULL
                                                         AND o.next_attempt_at > %(now)s))
                            ORDER BY m.priority DESC, m.id LIMIT %(limit)s
                            FOR UPDATE SKIP LOCKED)
               RETURNING id""",
            {"now": claimed_at, "channel": channel_id, "limit": limit, "uid": self.env.uid, "paid": paid_broadcast},
        )
        ids = sorted(r[0] for r in self.env.cr.fetchall())
        self.invalidate_model()
        return self.browse(ids)

    @api.model
    def _still_claimed(self, claims):
        """Of ``claims`` [(id, claimed_at)], the ids still in ``sending`` under that claim,
        locked: a row that another process has handed on since (an interrupted-sending
        recovery, a retry) is not ours to write any more."""
        if not claims:
            return set()
        self.flush_model()
        self.env.cr.execute(
            """SELECT m.id FROM messenger_message m
               JOIN (SELECT unnest(%s::int[]) AS id, unnest(%s::timestamp[]) AS claimed_at) v
                 ON v.id = m.id AND v.claimed_at = m.claimed_at
               WHERE m.state = 'sending' FOR UPDATE OF m""",
            ([k for k, _c in claims], [c for _k, c in claims]),
        )
        return {r[0] for r in self.env.cr.fetchall()}

    @api.model
    def _hand_back(self, due):
        """sending → queued for rows not attempted (``due``: [(id, when)]): the attempt is
        given back, and they wait for their chat or the channel's pause."""
        if not due:
            return
        self.flush_model()
        self.env.cr.execute(
            """UPDATE messenger_message m SET state = 'queued', attempts = m.attempts - 1,
                      next_attempt_at = v.due, write_date = now() at time zone 'utc', write_uid = %s
               FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::timestamp[]) AS due) v
               WHERE m.id = v.id AND m.state = 'sending'""",
            (self.env.uid, [k for k, _d in due], [d for _k, d in due]),
        )
        self.invalidate_model()

    @api.model
    def _mark_sent(self, sent, now):
        """sending → sent for ``sent`` [(id, provider message id)]; returns the messages."""
        if not sent:
            return self.browse()
        self.flush_model()
        self.env.cr.execute(
            """UPDATE messenger_message m SET state = 'sent', provider_message_id = v.pid,
                      sent_at = %s, write_date = %s, write_uid = %s, failure_reason = NULL
               FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::varchar[]) AS pid) v
               WHERE m.id = v.id AND m.state = 'sending'
               RETURNING m.id""",
            (now, now, self.env.uid, [k for k, _p in sent], [p for _k, p in sent]),
        )
        messages = self.browse([r[0] for r in self.env.cr.fetchall()])
        self.invalidate_model()
        messages._after_transition()
        return messages

    @api.model
    def _move_mailings(self, mailings, from_state, to_state):
        """Hold or release the campaigns' waiting rows in one statement: a campaign can have
        100,000 of them. Released ones are due now at the earliest. A hold changes no
        trace (the rows are still to be sent), so none is synced."""
        assert to_state in outbox.TRANSITIONS[from_state] and {from_state, to_state} == {"queued", "held"}
        self.flush_model()
        self.env.cr.execute(
            """UPDATE messenger_message SET state = %(to)s, write_date = %(now)s, write_uid = %(uid)s,
                      next_attempt_at = GREATEST(next_attempt_at, %(now)s)
               WHERE mailing_id = ANY(%(mailings)s) AND state = %(from)s""",
            {
                "to": to_state,
                "from": from_state,
                "now": fields.Datetime.now(),
                "uid": self.env.uid,
                "mailings": mailings.ids,
            },
        )
        self.invalidate_model()

    # -- what the dispatcher reads of the queue ------------------------------------------
    @api.model
    def _due_channels(self, now, channel_ids=None, horizon=0.0):
        """The active channels with a queued row due by ``now``, but those whose first free
        sending slot is more than ``horizon`` seconds ahead (paused)."""
        self.flush_model()
        query = """SELECT DISTINCT m.channel_id FROM messenger_message m
                   JOIN messenger_channel c ON c.id = m.channel_id AND c.active
                   WHERE m.state = 'queued' AND m.next_attempt_at <= %s
                     AND (c.pacing_next_slot IS NULL OR c.pacing_next_slot <= %s + make_interval(secs => %s))"""
        params = [now, now, horizon]
        if channel_ids:
            query += " AND m.channel_id = ANY(%s)"
            params.append(list(channel_ids))
        self.env.cr.execute(query, params)
        return self.env["messenger.channel"].browse([r[0] for r in self.env.cr.fetchall()])

    @api.model
    def _next_due_at(self, channel_ids=None, horizon=0.0):
        """When the next queued row of an active channel falls due (None: nothing queued),
        for a paused channel not before its pause is within ``horizon`` seconds of its end."""
        self.flush_model()
        query = """SELECT min(GREATEST(m.next_attempt_at, c.pacing_next_slot - make_interval(secs => %s)))
                   FROM messenger_message m
                   JOIN messenger_channel c ON c.id = m.channel_id AND c.active
                   WHERE m.state = 'queued'"""
        params = [horizon]
        if channel_ids:
            query += " AND m.channel_id = ANY(%s)"
            params.append(list(channel_ids))
        self.env.cr.execute(query, params)
        return self.env.cr.fetchone()[0]

    @api.model
    def _last_sent(self, contacts, since):
        """{contact: (id, sent_at) of its last message written as sent}, for those sent to after ``since``."""
        self.flush_model(["contact_id", "sent_at"])
        self.env.cr.execute(
            """SELECT DISTINCT ON (contact_id) contact_id, id, sent_at FROM messenger_message
               WHERE contact_id = ANY(%s) AND sent_at > %s ORDER BY contact_id, sent_at DESC, id DESC""",
            [contacts.ids, since],
        )
        return {contacts.browse(contact_id): (id_, sent_at) for contact_id, id_, sent_at in self.env.cr.fetchall()}

    @api.model
    def _claimed_before(self, before):
        """Rows left in ``sending`` by a claim older than ``before`` (a process that died).
        In SQL: a domain would compare whole seconds, and take a claim up to a second late."""
        self.flush_model(["state", "claimed_at"])
        self.env.cr.execute("SELECT id FROM messenger_message WHERE state = 'sending' AND claimed_at < %s", [before])
        return self.browse([r[0] for r in self.env.cr.fetchall()])

    def _sync_traces(self):
        """Mirror the messages' status on their campaign traces (Email Marketing's statistics)."""
        ids = self.filtered("mailing_trace_id").ids
        if not ids:
            return
        self.flush_recordset(["state", "sent_at", "failure_reason"])
        params = {"ids": ids, "sent": list(outbox.SENT), "failed": list(outbox.FAILED), "uid": self.env.uid}
        params["ended"] = [*outbox.FAILED, "cancelled"]
        cases = []
        for index, (state, status) in enumerate(outbox.TRACE_STATUS.items()):
            cases.append(f"WHEN %(state{index})s THEN %(status{index})s")
            params.update({f"state{index}": state, f"status{index}": status})
        self.env.cr.execute(
            f"""UPDATE mailing_trace t SET
                   trace_status = CASE m.state {" ".join(cases)} ELSE t.trace_status END,
                   sent_datetime = CASE WHEN m.state = ANY(%(sent)s)
                                   THEN COALESCE(t.sent_datetime, m.sent_at) ELSE t.sent_datetime END,
                   open_datetime = CASE WHEN m.state = 'read' THEN COALESCE(t.open_datetime, m.write_date)
                                   ELSE t.open_datetime END,
                   failure_type = CASE WHEN m.state = ANY(%(failed)s) THEN 'unknown' ELSE t.failure_type END,
                   failure_reason = CASE WHEN m.state = ANY(%(ended)s) THEN m.failure_reason
                                    ELSE t.failure_reason END,
                   write_date = now() at time zone 'utc', write_uid = %(uid)s
               FROM messenger_message m WHERE m.mailing_trace_id = t.id AND m.id = ANY(%(ids)s)""",
            params,
        )
        self.env["mailing.trace"].invalidate_model()

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
            return messages._fail(result)
        if event.status not in ("delivered", "read"):
            return Message
        return messages._to(event.status)

    def _after_dispatch(self):
        """What follows a batch's results (traces and chatter notes followed each move):
        the campaigns' health check."""
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
        # not one that is being sent: only the dispatcher moves those; nor one that went on
        # through another channel or by e-mail: it would reach the person twice
        self.sudo().filtered(
            lambda m: m.direction == "out" and m.state in outbox.RETRYABLE and not (m.fallback_ids or m.fallback_medium)
        )._to(
            "queued",
            failure_type=False,
            failure_reason=False,
            next_attempt_at=fields.Datetime.now(),
            attempts=0,
        )
        self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        return True

    def action_cancel(self):
        check_group(self, MANAGER)
        self.sudo().filtered(lambda m: m.state in outbox.CANCELLABLE)._to("cancelled")
        return True
