import re
from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

from ..core import outbox
from .messenger_access import MANAGER, USER, check_group, check_protected_fields

# Whole-message words that unsubscribe, compared case-insensitively after trimming.
STOP_WORDS = {"stop", "/stop", "unsubscribe", "стоп", "отписаться", "отписка", "/unsubscribe"}
UNSUBSCRIBE_PAYLOAD = "unsub"
# A conversation that starts in Discuss shows the contact's last messages before it.
BACKFILL = 20


class MessengerContact(models.Model):
    _name = "messenger.contact"
    _description = "Messenger Contact"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "last_message_at desc nulls last, id desc"
    _rec_names_search = ["name", "username", "chat_id", "partner_id"]
    _mailing_enabled = True  # a campaign audience can be a segment of messenger contacts

    name = fields.Char(required=True)
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    provider = fields.Selection(related="channel_id.provider")
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    chat_id = fields.Char("Chat ID", required=True, help="The person's id in the messenger.")
    username = fields.Char()
    lang = fields.Char("Language Code", help="Language the messenger reports for the person.")
    phone = fields.Char(help="Phone number the person shared with the bot.")
    partner_id = fields.Many2one("res.partner", index=True, tracking=True, ondelete="set null")
    state = fields.Selection(
        [("subscribed", "Subscribed"), ("unsubscribed", "Unsubscribed"), ("blocked", "Blocked the bot")],
        default="subscribed",
        required=True,
        index=True,
        tracking=True,
    )
    consent_log_ids = fields.One2many("messenger.consent.log", "contact_id", string="Consent Log")
    message_ids_messenger = fields.One2many("messenger.message", "contact_id", string="Messenger Messages")
    last_message_at = fields.Datetime(readonly=True)
    last_inbound_at = fields.Datetime(
        "Last Message from the Person",
        readonly=True,
        help="WhatsApp, Messenger and Instagram deliver free messages only within 24 hours of it.",
    )
    # -- who answers: the bot, or a person who took the conversation over ----------------
    answered_by = fields.Selection(
        [("bot", "Bot"), ("operator", "Operator")],
        default="bot",
        required=True,
        tracking=True,
        help="While an operator holds the conversation the bot stays silent.",
    )
    user_id = fields.Many2one("res.users", "Operator", tracking=True, index="btree_not_null")
    handoff_at = fields.Datetime("Handed Off At", readonly=True, copy=False)
    # -- inbox ---------------------------------------------------------------------------
    last_message_preview = fields.Char("Last Message", readonly=True)
    unread_count = fields.Integer("Unread", readonly=True, help="Messages from the customer nobody opened yet.")
    waiting_reply = fields.Boolean(
        "Waiting for a Reply", readonly=True, index=True, help="The customer wrote last and nobody answered yet."
    )
    discuss_channel_id = fields.Many2one(
        "discuss.channel", "Conversation", readonly=True, copy=False, index="btree_not_null", ondelete="set null"
    )
    guest_id = fields.Many2one(
        "mail.guest",
        "Customer in Discuss",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The person as the author of their messages in the conversation.",
    )

    # Consent changes through _set_consent, which logs it; the inbox figures and the
    # hand-off through their own methods. Never over RPC, for any group.
    _protected_fields = (
        "state",
        "last_message_at",
        "last_inbound_at",
        "last_message_preview",
        "unread_count",
        "waiting_reply",
        "answered_by",
        "handoff_at",
        "discuss_channel_id",
        "guest_id",
    )
    # Which chat a contact is: moving it to another chat would hand the customer's
    # conversation and order updates to a stranger.
    _identity_fields = ("channel_id", "chat_id")

    _sql_constraints = [
        ("chat_unique", "UNIQUE(channel_id, chat_id)", "A chat can have only one contact per channel."),
    ]

    @api.model_create_multi
    def create(self, vals_list):
        check_protected_fields(self, vals_list, self._protected_fields)
        contacts = super().create(vals_list)
        # a contact made in Odoo (the webhook logs its own "start") starts its consent log
        contacts._log_consent("manual", self.env.user.name)
        return contacts

    def write(self, vals):
        check_protected_fields(self, [vals], self._protected_fields + self._identity_fields)
        if "partner_id" in vals and not self.env.su:
            vals = dict(vals)
            self._bind_by_hand(self.env["res.partner"].browse(vals.pop("partner_id") or []))
        return super().write(vals)

    def _bind_by_hand(self, partner):
        """A user links the chats to a customer (or unlinks them), in the consent log as
        theirs. Taking a customer from the chat where they already get their updates is a
        manager's call, and that chat is told (as a binding link with a proof does)."""
        check_group(self, USER, "write")
        if not partner:
            linked = self.filtered("partner_id")
            linked.sudo().partner_id = False
            linked._log_consent("manual", self.env.user.name)
            return
        partner.check_access("read")
        for contact in self:
            company = contact.channel_id.company_id
            if partner.company_id and company and partner.company_id != company:
                raise UserError(
                    _(
                        "%(partner)s belongs to another company than %(channel)s.",
                        partner=partner.display_name,
                        channel=contact.channel_id.display_name,
                    )
                )
            if contact._partner_chats(partner) and not self.env.user.has_group(MANAGER):
                raise AccessError(
                    _(
                        "%(partner)s already gets their updates in another chat of %(channel)s: only a Messenger "
                        "Manager can move them.",
                        partner=partner.display_name,
                        channel=contact.channel_id.display_name,
                    )
                )
        self._bind_partner(partner, "manual", self.env.user.name)

    @api.depends("name", "channel_id")
    def _compute_display_name(self):
        for contact in self:
            contact.display_name = f"{contact.name} ({contact.channel_id.name})" if contact.channel_id else contact.name

    # -- the conversation in Discuss ----------------------------------------------------------
    def _conversation(self):
        """The contact's Discuss channel (as superuser), made with the first message either
        way, with the contact's earlier messages in it."""
        self.ensure_one()
        if self.discuss_channel_id:
            return self.discuss_channel_id.sudo()
        # two webhooks of a new person at once: the second waits here, then finds the channel
        self.flush_recordset(["discuss_channel_id"])
        self.env.cr.execute("SELECT discuss_channel_id FROM messenger_contact WHERE id = %s FOR UPDATE", [self.id])
        if self.env.cr.fetchone()[0]:
            self.invalidate_recordset(["discuss_channel_id", "guest_id"])
            return self.discuss_channel_id.sudo()
        channel = self._create_conversation()
        earlier = (
            self.env["messenger.message"]
            .sudo()
            .search([("contact_id", "=", self.id), ("discuss_message_id", "=", False)], order="id desc", limit=BACKFILL)
        )
        earlier._post_to_conversation()
        return channel

    def _create_conversation(self):
        """The contact's Discuss channel, new, with the customer as its guest member."""
        self.ensure_one()
        # the customer's name is theirs to choose: only its words, as for a chatter author
        name = re.sub(r"\s+", " ", re.sub(r"[^\w .'-]+", " ", self.name or "", flags=re.UNICODE)).strip()[:64]
        guest = self.guest_id or self.env["mail.guest"].sudo().create({"name": name or self.channel_id.name})
        # created as the public user, whom Odoo does not make a member as it does the creator
        channel = (
            self.env["discuss.channel"]
            .with_user(self.env.ref("base.public_user"))
            .sudo()
            .create(
                {
                    "name": self.display_name,
                    "channel_type": "messenger",
                    "messenger_contact_id": self.id,
                }
            )
            .with_env(self.env)
            .sudo()
        )
        self.env["discuss.channel.member"].sudo().create({"channel_id": channel.id, "guest_id": guest.id})
        self.sudo().with_context(tracking_disable=True).write({"discuss_channel_id": channel.id, "guest_id": guest.id})
        return channel

    def _send_reply(self, text, attachments, post):
        """An operator's post goes to the customer (see ``_reply_vals``)."""
        self.ensure_one()
        if not self._can_receive("service"):
            # the post stays in the conversation, and its author reads why nothing went
            self._conversation()._messenger_note(
                _("Not sent: %(name)s blocked the bot on %(channel)s.", name=self.name, channel=self.channel_id.name)
            )
            return self.env["messenger.message"]
        return self.env["messenger.message"].sudo()._queue(self._reply_vals(text, attachments, post))

    def _reply_vals(self, text, attachments, post):
        """The messages an operator's post makes: its text, then one per file (the text is
        the first file's caption when it fits one)."""
        self.ensure_one()
        extra = {"mail_message_id": post.id, "discuss_message_id": post.id}
        provider = self.channel_id._provider_class()
        vals_list = []
        caption = ""
        if text and attachments and provider.fits(text, with_image=True):
            caption, text = text, ""
        if text:
            vals_list += self._message_vals(text, kind="service", priority=10, **extra)
        for index, attachment in enumerate(attachments.sorted("id")):
            vals_list += self._message_vals(
                caption if index == 0 else "", kind="service", priority=10, attachment_id=attachment.id, **extra
            )
        return vals_list

    def _mark_read(self, users):
        """The conversation was read: nothing unread in the inbox; its counter follows."""
        self.sudo().unread_count = 0
        for partner in users.partner_id:
            self.env["bus.bus"]._sendone(partner, "messenger_marketing.unread", {})

    def _note_incoming(self, text):
        """An incoming message: one more unread, waiting for a reply."""
        now = fields.Datetime.now()
        # in SQL for the increment: two webhooks of one person at once both count (the
        # ORM would write the count it read); write_date/write_uid as the ORM would
        self.env.cr.execute(
            """UPDATE messenger_contact SET unread_count = COALESCE(unread_count, 0) + 1, waiting_reply = true,
                      last_message_preview = %s, last_message_at = %s, last_inbound_at = %s,
                      write_date = %s, write_uid = %s WHERE id IN %s""",
            [(text or "")[:120], now, now, now, self.env.uid, tuple(self.ids)],
        )
        self.invalidate_recordset(
            [
                *("unread_count", "waiting_reply", "last_message_preview"),
                *("last_message_at", "last_inbound_at", "write_date", "write_uid"),
            ]
        )
        # the counter shows the user's conversations and nobody's: tell those who see it
        targets = self.user_id.partner_id
        if not all(self.mapped("user_id")):
            targets = [*targets, self.env.ref("messenger_marketing.group_messenger_user")]
        for target in targets:
            self.env["bus.bus"]._sendone(target, "messenger_marketing.unread", {})

    def _note_changed_answer(self):
        """A person's answer was changed or deleted before it went: whether the customer
        waits for a reply, and the preview, are counted again from what remains."""
        self.ensure_one()
        Message = self.env["messenger.message"].sudo()
        mine = [("contact_id", "=", self.id), ("failure_type", "!=", outbox.WITHDRAWN)]
        answers = [*mine, ("direction", "=", "out"), ("kind", "=", "service")]
        if self.answered_by == "operator":
            answers.append(("mail_message_id", "!=", False))  # a person owes it: the hand-off notice is none
        last_answer = Message.search(answers, order="id desc", limit=1)
        last_in = Message.search([*mine, ("direction", "=", "in")], order="id desc", limit=1)
        last = Message.search(mine, order="id desc", limit=1)
        self.sudo().with_context(tracking_disable=True).write(
            {"waiting_reply": last_in.id > last_answer.id, "last_message_preview": (last.body or "")[:120]}
        )

    def _note_answered(self, text):
        """The bot or a person answered the conversation."""
        self.sudo().with_context(tracking_disable=True).write(
            {"waiting_reply": False, "last_message_preview": (text or "")[:120]}
        )

    def action_open_conversation(self):
        """From the inbox and the contact's form: the conversation in Discuss, read, with
        the user as a member (who then sees it in the sidebar, live)."""
        self.ensure_one()
        check_group(self, USER)
        channel = self._conversation()
        channel._messenger_join(self.env.user)
        if self.unread_count:
            self._mark_read(self.env.user)
        return {
            "type": "ir.actions.client",
            "tag": "mail.action_discuss",
            "name": channel.name,
            # in the context too: a button's context names the contact as the active record
            "context": {"active_id": f"discuss.channel_{channel.id}"},
            "params": {"active_id": f"discuss.channel_{channel.id}"},
        }

    @api.model
    def messenger_unread_summary(self):
        """For the systray counter: conversations with unread messages that are the
        current user's, or nobody's."""
        domain = [("unread_count", ">", 0), ("user_id", "in", [self.env.uid, False])]
        return {"count": self.search_count(domain)}

    # -- consent -----------------------------------------------------------------------
    def _can_receive(self, kind):
        """Whether a message of this kind may go to the contact now (checked at queuing and
        again just before sending, so an opt-out always wins)."""
        self.ensure_one()
        if self.state == "blocked":
            return False
        if kind == "marketing":
            return self.state == "subscribed"
        if kind == "transactional" and self.channel_id.transactional_consent == "subscribed":
            return self.state == "subscribed"
        return True

    def _set_consent(self, state, method, source="", mailing=None):
        """Change the subscription state and log it (``mailing``: the campaign the change
        answers); returns the contacts that changed. The only way a consent changes."""
        changed = self.filtered(lambda c: c.state != state)
        if changed:
            changed.sudo().write({"state": state})
            changed._log_consent(method, source, mailing)
        if state != "subscribed" and changed:
            # an opt-out stops what is already waiting (a paused campaign's rows too),
            # visibly, not only at send time
            cancelled = (
                self.env["messenger.message"]
                .sudo()
                .search(
                    [
                        ("contact_id", "in", changed.ids),
                        ("state", "in", ["queued", "held"]),
                        ("kind", "in", ["marketing"] + (["transactional", "service"] if state == "blocked" else [])),
                    ]
                )
                ._to("cancelled", failure_type="opted_out" if state != "blocked" else "blocked")
            )
            if state == "blocked":  # an order update still reaches them, on another channel
                cancelled._fall_back()
        return changed

    def _log_consent(self, method, source="", mailing=None):
        """A consent-log line for each contact, with its current state: who (an Odoo user
        for a change made in Odoo), how, and what triggered it."""
        # sudo keeps the user: a change made in Odoo is theirs, also when written as superuser
        user = self.env.user if method == "manual" else self.env["res.users"]
        self.env["messenger.consent.log"].sudo().create(
            [
                {
                    "contact_id": contact.id,
                    "state": contact.state,
                    "method": method,
                    "source": source,
                    "user_id": user.id,
                    "mailing_id": mailing.id if mailing else False,
                }
                for contact in self
            ]
        )
        # read newest first (the log's order), not in the order the cache received the lines
        self.invalidate_recordset(["consent_log_ids"])

    def _unsubscribe(self, method, source=""):
        for contact in self:
            # credit the opt-out to the campaign the person last heard from
            last = (
                self.env["messenger.message"]
                .sudo()
                .search(
                    [("contact_id", "=", contact.id), ("mailing_id", "!=", False), ("state", "in", outbox.SENT)],
                    order="id desc",
                    limit=1,
                )
            )
            contact._set_consent("unsubscribed", method, source, mailing=last.mailing_id)
            if contact.state == "unsubscribed":
                contact._send(contact.channel_id.unsubscribe_message, kind="service")

    @staticmethod
    def _is_stop_word(text):
        return re.sub(r"\s+", " ", (text or "").strip().lower()).strip(" !.") in STOP_WORDS

    @api.model
    def _reachable_by_partner(self, partners, kind, channel=None, company=None, exclude=None):
        """{partner id: contact} for the partners who can get a message of this kind: the
        one rule of every feature (order messages, the composer; campaigns follow it in
        SQL, see mailing.mailing._messenger_candidates_sql). A partner's own contacts
        first, else their commercial partner's; among them the one on the first channel of
        the partner's order of channels for ``kind`` (messenger.route: theirs, else the
        company's), then the one used last (then the newest); only through active
        channels, through ``channel`` (one or several) when given, not through ``exclude``,
        of ``company`` or of no company when given; only contacts whose consent allows
        ``kind`` (``_can_receive``). Searched with the caller's rights."""
        domain = [
            ("partner_id", "in", (partners | partners.commercial_partner_id).ids),
            ("state", "!=", "blocked"),
            ("channel_id.active", "=", True),
        ]
        if channel:
            domain.append(("channel_id", "in", channel.ids))
        if exclude:
            domain.append(("channel_id", "not in", exclude.ids))
        if company is not None:
            # a shared customer hears of company B's records from company B's channels only
            domain.append(("company_id", "in", [company.id, False]))
        order = {}
        if kind != "marketing":
            order = self.env["messenger.route"]._channel_order(partners | partners.commercial_partner_id, kind, company)
        best = {}
        for contact in self.search(domain, order="last_message_at desc nulls last, id desc"):
            if not contact._can_receive(kind):
                continue
            ranks = order.get(contact.partner_id.id) or []
            rank = ranks.index(contact.channel_id.id) if contact.channel_id.id in ranks else len(ranks)
            if contact.partner_id.id not in best or rank < best[contact.partner_id.id][0]:
                best[contact.partner_id.id] = (rank, contact)
        best = {partner_id: contact for partner_id, (_rank, contact) in best.items()}
        reachable = {}
        for partner in partners:
            contact = best.get(partner.id) or best.get(partner.commercial_partner_id.id)
            if contact:
                reachable[partner.id] = contact
        return reachable

    # -- partner binding ---------------------------------------------------------------
    def _bind_partner(self, partner, method, source=""):
        """Link the contacts to the partner, with a consent-log line. Callers bind on a proof
        only (a fresh binding link of a partner who has no chat on the channel, the number the
        provider vouches for, the first chat's confirmation), so the partner's other chats on
        the channel lose them, and are told."""
        for contact in self.filtered(lambda c: c.partner_id != partner):
            previous = contact._partner_chats(partner)
            contact.sudo().partner_id = partner
            contact._log_consent(method, source)
            previous._unbind_partner(method, contact.display_name)

    def _unbind_partner(self, method, moved_to):
        """The partner's updates moved to the chat ``moved_to``: these chats lose the partner."""
        for contact in self:
            partner = contact.partner_id
            contact.sudo().partner_id = False
            env = contact._in_lang()
            contact._log_consent(
                method, env._("%(partner)s moved to %(chat)s", partner=partner.display_name, chat=moved_to)
            )
            if method == "phone":
                notice = env._("Your updates now go to another chat, which shared your phone number.")
            elif method == "manual":
                notice = env._("Our team moved your updates to another chat. Write to us here if it was not you.")
            else:
                notice = env._("Done: your updates now go to the other chat.")
            contact._send(notice)

    def _partner_chats(self, partner):
        """The partner's other chats on this contact's channel."""
        self.ensure_one()
        return self.sudo().search(
            [("channel_id", "=", self.channel_id.id), ("partner_id", "=", partner.id), ("id", "!=", self.id)]
        )

    def _in_lang(self):
        """An environment in the contact's language, for the texts the bot sends them."""
        self.ensure_one()
        return self.with_context(lang=self._lang()).env

    def _bind_phone(self, phone, create_partner=True):
        """Link the contact to the partner with this phone number, or to a new one (or to
        none, without ``create_partner``)."""
        self.ensure_one()
        Partner = self.env["res.partner"].sudo()
        country = self.channel_id.company_id.country_id or self.env.company.country_id
        # Telegram shares full international numbers, sometimes without the "+".
        phone = phone.strip()
        if phone.isdigit():
            phone = f"+{phone}"
        number = Partner._phone_format(number=phone, country=country) or phone
        self.sudo().phone = number
        digits = re.sub(r"\D", "", number)[-9:]
        partner = Partner.browse()
        if len(digits) >= 6:
            # compare digits only: stored numbers are written in any format ("+7 912 345-67-89")
            self.env.cr.execute(
                """SELECT id FROM res_partner WHERE active
                   AND (company_id IS NULL OR company_id = %(company)s)
                   AND (regexp_replace(phone, '[^0-9]', '', 'g') LIKE %(tail)s
                        OR regexp_replace(mobile, '[^0-9]', '', 'g') LIKE %(tail)s)
                   ORDER BY id LIMIT 50""",
                {"tail": f"%{digits}", "company": self.channel_id.company_id.id},
            )
            candidates = Partner.browse([r[0] for r in self.env.cr.fetchall()])
            partner = candidates.filtered(
                lambda p: (
                    number
                    in (
                        Partner._phone_format(number=n, country=p.country_id or country)
                        for n in (p.phone, p.mobile)
                        if n
                    )
                )
            )[:1]
        if not partner:
            partner = self.partner_id if self.partner_id and not self.partner_id.phone else partner
            if partner:
                partner.phone = number
            elif create_partner:
                partner = Partner.create({"name": self.name, "phone": number, "lang": self._odoo_lang()})
            else:
                return
        self._bind_partner(partner, "phone", number)

    def _odoo_lang(self):
        """The installed Odoo language matching the messenger's language code, if any."""
        code = (self.lang or "").split("-")[0].lower()
        if not code:
            return False
        langs = self.env["res.lang"].sudo().search([("active", "=", True)])
        return next((lang.code for lang in langs if lang.code.split("_")[0].lower() == code), False)

    # -- messages ----------------------------------------------------------------------
    def _send(self, text, kind="service", buttons=None, record=None, priority=0, **extra):
        """Queue a message to each contact. Returns the queued messages; contacts whose
        consent does not allow this kind get nothing. A text over the provider's limit
        goes as several messages, the buttons on the last one. ``text_format="html"`` in
        ``extra`` sends HTML (rendered by Telegram, plain text elsewhere)."""
        return (
            self.env["messenger.message"]
            .sudo()
            ._queue(
                [
                    vals
                    for contact in self
                    for vals in contact._message_vals(text, kind, buttons, record, priority, **extra)
                ]
            )
        )

    def _message_vals(self, text, kind="service", buttons=None, record=None, priority=0, **extra):
        self.ensure_one()
        text_format = extra.pop("text_format", "plain")
        if not self._can_receive(kind):
            return []
        # the text as the provider takes it, in parts within its limits; the last part
        # carries the buttons (and marketing's unsubscribe button)
        with_buttons = bool(buttons) or kind == "marketing"
        provider = self.channel_id._provider_class()
        attachment_id = extra.get("attachment_id")
        if attachment_id and text and not provider.fits(text, text_format, with_buttons, with_image=True):
            # too long for the file's caption: the text first, then the file with the buttons
            rest = {k: v for k, v in extra.items() if k != "attachment_id"}
            return self._message_vals(
                text, kind, None, record, priority, text_format=text_format, **rest
            ) + self._message_vals("", kind, buttons, record, priority, attachment_id=attachment_id, **rest)
        if extra.get("whatsapp_template_id") or extra.get("image_url") or extra.get("cards") or attachment_id:
            # one message: a caption cannot be split (the provider refuses it when too
            # long), and outside the window a template replaces the message as a whole
            parts = [provider.prepare_text(text, text_format)]
        else:
            parts = provider.split(text, text_format, with_buttons) or [("", "plain")]
        return [
            {
                "channel_id": self.channel_id.id,
                "contact_id": self.id,
                "direction": "out",
                "kind": kind,
                "body": part,
                "body_format": part_format,
                "buttons": (buttons or []) if index == len(parts) - 1 else [],
                "res_model": record._name if record else False,
                "res_id": record.id if record else False,
                "priority": priority,
                **extra,
            }
            for index, (part, part_format) in enumerate(parts)
        ]

    # -- hand-off to a person ------------------------------------------------------------
    def _hand_off(self, reason=""):
        """Give the conversation to a person: the next operator of the channel's team joins
        its Discuss channel and is notified there (and gets an activity), and the bot stays
        silent until the conversation is handed back. The customer is told a person will answer."""
        for contact in self.filtered(lambda c: c.answered_by != "operator"):
            operator = contact.channel_id._next_operator()
            contact.sudo().write(
                {"answered_by": "operator", "user_id": operator.id, "handoff_at": fields.Datetime.now()}
            )
            note = Markup("<p>%s</p>") % (reason or _("The conversation was handed over to a person."))
            channel = contact._conversation()
            if operator:
                channel._messenger_join(operator)
                channel._messenger_notify(operator.partner_id, note)
                contact.sudo().activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=_("Answer %(name)s in %(channel)s", name=contact.name, channel=contact.channel_id.name),
                    note=note,
                    user_id=operator.id,
                )
            else:
                note += Markup("<p>%s</p>") % _("No operator is set: choose a sales team on the channel.")
                channel._messenger_notify(self.env["res.partner"], note)
            notice = contact._handoff_notice()
            if notice:
                contact._send(notice, kind="service", priority=10)
                contact.sudo().waiting_reply = True  # the notice is no answer: a person still owes one
        return True

    def _handoff_notice(self):
        """What the customer is told when a person takes over (extensions may say when)."""
        self.ensure_one()
        return self.channel_id.with_context(lang=self._lang()).handoff_message

    def action_hand_back_to_bot(self):
        """The operator is done: the bot answers again, and the operator leaves the conversation."""
        check_group(self, USER, "write")
        held = self.filtered(lambda c: c.answered_by == "operator")
        held.sudo().write({"answered_by": "bot", "handoff_at": False})
        held.sudo().activity_ids.filtered(
            lambda a: a.activity_type_id == self.env.ref("mail.mail_activity_data_todo")
        ).action_feedback(feedback=_("Handed back to the bot."))
        for contact in held.filtered("discuss_channel_id"):
            channel = contact.discuss_channel_id.sudo()
            channel._messenger_note(_("Handed back to the bot."))
            channel._messenger_leave(contact.user_id)
        return True

    def action_take_over(self):
        """An operator takes the conversation from the bot, from Odoo: they join it in Discuss."""
        check_group(self, USER, "write")
        for contact in self.filtered(lambda c: c.answered_by != "operator"):
            contact.sudo().write(
                {"answered_by": "operator", "user_id": self.env.user.id, "handoff_at": fields.Datetime.now()}
            )
            channel = contact._conversation()
            channel._messenger_join(self.env.user)
            channel._messenger_note(_("%s took the conversation over.", self.env.user.name))
        return True

    @api.model
    def _cron_hand_back_idle(self):
        """Conversations that nobody wrote in for the channel's timeout go back to the bot."""
        self.env.flush_all()
        now = fields.Datetime.now()
        for channel in self.env["messenger.channel"].sudo().search([("handoff_timeout_hours", ">", 0)]):
            since = now - timedelta(hours=channel.handoff_timeout_hours)
            self.env.cr.execute(
                """SELECT c.id FROM messenger_contact c
                   WHERE c.channel_id = %s AND c.answered_by = 'operator' AND c.handoff_at < %s
                     AND NOT EXISTS (SELECT 1 FROM messenger_message m
                                     WHERE m.contact_id = c.id AND m.create_date >= %s)""",
                (channel.id, since, since),
            )
            idle = self.sudo().browse([r[0] for r in self.env.cr.fetchall()])
            idle.action_hand_back_to_bot()

    def action_unsubscribe(self):
        check_group(self, USER, "write")
        self._set_consent("unsubscribed", "manual", self.env.user.name)
        return True

    def action_subscribe(self):
        check_group(self, USER, "write")
        self._set_consent("subscribed", "manual", self.env.user.name)
        return True

    def action_sandbox_block(self):
        """Play the person who blocks the bot, on a sandbox channel only: to try what
        follows (the fallback to the customer's next channel)."""
        check_group(self, MANAGER, "write")
        for contact in self.sudo():
            if contact.channel_id.provider != "sandbox":
                raise UserError(_("On a messenger, only the person can block the bot; in Odoo, a sandbox contact can."))
            # the manager's act, in the consent log: not the person's, as a webhook would say
            contact._set_consent("blocked", "manual", _("Blocked in the sandbox"))
        return True

    def _lang(self):
        """Language for texts sent to the contact: the partner's, else the messenger's."""
        self.ensure_one()
        return self.partner_id.lang or self._odoo_lang() or self.env.lang
