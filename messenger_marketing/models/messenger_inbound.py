"""What happens when a person writes to the bot: one place for webhooks and the simulator.

Features of this addon and of others hook in by overriding ``_on_start``, ``_on_text``,
``_on_button`` and ``_on_contact``: each returns True when it handled the event, so the first taker wins.
The "Contact us" button of the order messages is this addon's own: ``_on_contact_us`` hands the
conversation to a person, and extensions may override it to do it their way.
"""

import dataclasses
import logging
import re
import traceback

import psycopg2
from markupsafe import escape

from odoo import _, api, fields, models
from odoo.tools import plaintext2html
from odoo.tools.mail import formataddr, generate_tracking_message_id

from ..core import outbox
from ..core.providers.base import InboundMedia
from .messenger_contact import UNSUBSCRIBE_PAYLOAD
from .messenger_template import CONTACT_US_PAYLOAD

_logger = logging.getLogger(__name__)


def prefetched_columns(model):
    """The columns that reading any one of them reads with it (Odoo's prefetch): what a
    ``search_fetch`` gives to find a record and read it in one query."""
    return [name for name, field in model._fields.items() if field.column_type and field.prefetch is True]


# A contact's "last message" time is kept to the minute (see _contact).


class MessengerInbound(models.AbstractModel):
    _name = "messenger.inbound"
    _description = "Messenger Inbound Processing"

    @api.model
    def _process(self, channel, events):
        """Handle normalized events of one channel; replays are ignored. An event that
        fails is kept for the retry cron (messenger.webhook.event), so the provider is
        answered and does not send the same update forever (Telegram holds the later
        ones back meanwhile), and the customer's message is not lost."""
        self = self.sudo()  # noqa: PLW0642 - called by public webhooks after authentication
        Event = self.env["messenger.webhook.event"]
        for event in map(self._clean, events):
            row_id = Event._claim(channel, event)
            if not row_id:
                _logger.info("Messenger: ignoring replayed event %s on channel %s", event.event_id, channel.id)
                continue
            if event.kind == "other" or not (event.chat_id or event.provider_message_id):
                continue
            error = self._handle_event(channel, event)
            if error:
                Event.browse(row_id)._keep_failed(event, error)

    def _handle_event(self, channel, event):
        """Handle one recorded event, for the webhook and for the retry cron alike; return
        None, or the traceback of the failure, whose changes are rolled back. Database
        trouble is raised: the request or the cron fails and is run again."""
        try:
            with self.env.cr.savepoint():
                if event.kind == "status":  # about a message we sent: no contact to create
                    self.env["messenger.message"]._apply_status(channel, event)
                else:
                    contact = self._contact(channel, event)
                    getattr(self, f"_handle_{event.kind}")(contact, event)
        except psycopg2.OperationalError:
            raise
        except Exception:
            _logger.exception("Messenger: could not handle event %s of channel %s", event.event_id, channel.id)
            return traceback.format_exc()
        return None

    @staticmethod
    def _clean(event):
        """PostgreSQL stores no NUL character in a text: a provider may still send one."""
        values = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
        return dataclasses.replace(event, **{k: v.replace("\x00", "") for k, v in values.items() if isinstance(v, str)})

    def _contact(self, channel, event):
        Contact = self.env["messenger.contact"]
        domain = [("channel_id", "=", channel.id), ("chat_id", "=", event.chat_id)]
        # found and read in one query, the columns that reading any of them would fetch:
        # the webhook reads most of the contact anyway
        contact = Contact.search_fetch(domain, prefetched_columns(Contact), limit=1)
        vals = {k: v for k, v in (("name", event.name), ("username", event.username), ("lang", event.lang)) if v}
        if not contact:
            # company_id is stored, related to the channel's: the ORM would write it, and the
            # company record rule reads it, so this INSERT writes it too. What the provider
            # tells of the person goes in with it: no write after.
            self.env.cr.execute(
                """INSERT INTO messenger_contact (channel_id, company_id, chat_id, name, username, lang, state,
                                                 answered_by, create_date, write_date, create_uid, write_uid)
                   VALUES (%s, %s, %s, %s, %s, %s, 'subscribed', 'bot', now() at time zone 'utc',
                           now() at time zone 'utc', %s, %s)
                   ON CONFLICT (channel_id, chat_id) DO NOTHING
                   RETURNING id""",
                (
                    channel.id,
                    channel.company_id.id or None,
                    event.chat_id,
                    event.name or event.chat_id,
                    event.username or None,
                    event.lang or None,
                    self.env.uid,
                    self.env.uid,
                ),
            )
            row = self.env.cr.fetchone()
            # created here, or by a concurrent webhook of the same person: either way, found now
            contact = Contact.browse(row[0]) if row else Contact.search(domain, limit=1)
            contact._log_consent("start", event.kind)
            if event.phone and event.kind != "contact":
                # the provider vouches for the sender's number (WhatsApp): link the partner
                # who has it, without creating one for every stranger who writes
                contact._bind_phone(event.phone, create_partner=False)
        # Write only what changed: the time of the last message goes with the unread count
        # (_note_incoming), so a message updates the contact's row once.
        vals = {k: v for k, v in vals.items() if contact[k] != v}
        if vals:
            # none of these fields is tracked: skip reading the tracked ones
            contact.with_context(tracking_disable=True).write(vals)
        return contact

    def _record(self, contact, event, text):
        """Store the incoming message and show it in the contact's conversation in Discuss,
        with the customer as its author (a guest: never a partner, who could be a portal
        user or be e-mailed). Returns the messenger.message."""
        channel = contact._conversation()
        self.env["messenger.message"]._show_pending(contact)
        posted = channel._messenger_post(plaintext2html(text or ""), guest=contact.guest_id)
        message = self.env["messenger.message"].create(
            {
                "channel_id": contact.channel_id.id,
                "contact_id": contact.id,
                "direction": "in",
                "state": "received",
                "body": text,
                "provider_message_id": event.provider_message_id or False,
                "discuss_message_id": posted.id,
            }
        )
        contact._note_incoming(text or self._media_preview(event))
        return message

    def _media_preview(self, event):
        """How a message without text reads in the inbox: what it holds."""
        kinds = dict(self.env["messenger.media"]._fields["kind"]._description_selection(self.env))
        return ", ".join(f"[{kinds.get(media.kind, media.kind)}]" for media in event.media)

    @staticmethod
    def _message_text(event):
        """The text of a message event as the conversation keeps it: the caption, and a
        place as a link to a map (it has no file to fetch)."""
        lines = [event.text] if event.text else []
        for media in event.media:
            if media.kind == "location":
                lines.append(
                    f"📍 https://www.openstreetmap.org/?mlat={media.latitude:.6f}&mlon={media.longitude:.6f}"
                    f"#map=17/{media.latitude:.6f}/{media.longitude:.6f}"
                )
        return "\n".join(lines)

    @api.model
    def _author_values(self, contact):
        """The customer as the author of a chatter message. Their name is theirs to choose
        and reaches followers' e-mails as the sender's: only its words are kept, so no
        address or header can ride on it, with the database's own sender address."""
        name = re.sub(r"[^\w .'-]+", " ", contact.name or "", flags=re.UNICODE)
        name = re.sub(r"\s+", " ", name).strip()[:64] or contact.channel_id.name
        sender = self.env["ir.mail_server"]._get_default_from_address()
        return {
            "author_id": contact.partner_id.id or False,
            "email_from": formataddr((name, sender)) if sender else name,
        }

    def _show_in_chatter(self, record, contact, body):
        """Show what the customer wrote in the record's chatter, with them as the author.

        A record that somebody follows gets a real post, which notifies its followers (the
        operator who holds the conversation, the lead's salesperson). Otherwise the message
        is written directly: it costs a third of a post, and a busy bot's webhook writes one
        per update."""
        author = self._author_values(contact)
        if record.message_follower_ids:
            # The customer is the author: without mail_create_nosubscribe, posting would make
            # their partner a follower, and an operator's reply would reach them by e-mail too.
            context = {"messenger_inbound": True, "mail_create_nosubscribe": True}
            return record.with_context(**context).message_post(
                body=body, message_type="comment", subtype_xmlid="mail.mt_comment", **author
            )
        return record.sudo()._message_create(
            [
                {
                    "model": record._name,
                    "res_id": record.id,
                    "body": body,
                    "message_type": "comment",
                    "subtype_id": self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_comment"),
                    "reply_to": False,  # a messenger customer is not answered by e-mail
                    "message_id": generate_tracking_message_id("messenger"),
                    **author,
                }
            ]
        )

    # -- handlers, one per event kind ----------------------------------------------------
    def _handle_start(self, contact, event):
        self._record(contact, event, event.text or "/start")
        if contact.state != "subscribed":
            contact._set_consent("subscribed", "start", event.text)
        if event.payload and event.payload.startswith(("b", "p")):  # a binding link, or an old partner link
            self.env["messenger.binding.link"]._open(contact, event)
        if contact.answered_by == "operator":
            return  # a person holds the conversation: the bot stays silent
        if not self._on_start(contact, event) and contact.channel_id.welcome_message:
            contact._send(contact.channel_id.with_context(lang=contact._lang()).welcome_message)

    def _handle_message(self, contact, event):
        # a retried event comes back from its JSON copy: its media as dicts
        media = [InboundMedia(**m) if isinstance(m, dict) else m for m in event.media or []]
        event = dataclasses.replace(event, media=media)
        message = self._record(contact, event, self._message_text(event))
        self.env["messenger.media"]._plan(message, event.media)
        if contact._is_stop_word(event.text):
            contact._unsubscribe("stop_word", event.text)
            return
        self._mark_campaign_reply(contact)
        if contact.answered_by != "operator" and (event.text or not event.media):
            self._on_text(contact, event)

    def _mark_campaign_reply(self, contact):
        """A reply within three days of a campaign message counts for that campaign."""
        since = fields.Datetime.subtract(fields.Datetime.now(), days=3)
        last = self.env["messenger.message"].search(
            [("contact_id", "=", contact.id), ("mailing_trace_id", "!=", False), ("sent_at", ">=", since)],
            order="id desc",
            limit=1,
        )
        if last and last.mailing_trace_id.trace_status != "reply":
            last.mailing_trace_id.set_replied()

    def _handle_button(self, contact, event):
        self._record(contact, event, _("[button] %s", self._button_text(contact, event)))
        if event.payload == UNSUBSCRIBE_PAYLOAD:
            contact._unsubscribe("button", event.payload)
            return
        # the customer's first chat answers for them, also while an operator holds it
        if self.env["messenger.binding.link"]._answer(contact, event.payload):
            return
        if contact.answered_by == "operator":
            return  # a person holds it already (and is notified of the press, a follower)
        if event.payload == CONTACT_US_PAYLOAD:
            self._on_contact_us(contact, self._contact_us_record(contact))
        else:
            self._on_button(contact, event)

    def _contact_us_record(self, contact):
        """The record (an order, an invoice) of the last message with a "Contact us" button
        that went to the contact, if it had one: a press carries the payload only."""
        self.env["messenger.message"].flush_model()
        self.env.cr.execute(
            """SELECT res_model, res_id FROM messenger_message
               WHERE contact_id = %s AND direction = 'out' AND res_model IS NOT NULL AND res_id IS NOT NULL
                 AND state = ANY(%s)  -- went out, or may have
                 AND jsonb_path_exists(buttons, '$[*][*] ? (@.payload == $p)', jsonb_build_object('p', %s::text))
               ORDER BY id DESC LIMIT 1""",
            (contact.id, [*outbox.SENT, "sending", "uncertain"], CONTACT_US_PAYLOAD),
        )
        row = self.env.cr.fetchone()
        if not row or row[0] not in self.env:
            return None
        return self.env[row[0]].browse(row[1]).exists() or None

    def _contact_us_reason(self, record):
        """The hand-off's note: the customer pressed "Contact us", under which record's message."""
        if record:
            return escape(_("The customer pressed “Contact us” under the message about %s.")) % (
                record._get_html_link()
            )
        return _("The customer pressed “Contact us”.")

    def _button_text(self, contact, event):
        """How a button press reads in the conversation; features name their own buttons."""
        return self.env["messenger.binding.link"]._answer_label(contact, event.payload) or event.payload

    def _handle_contact(self, contact, event):
        self._record(contact, event, _("[shared phone number] %s", event.phone))
        if not event.group_chat:  # a group's updates would reach all its members
            contact._bind_phone(event.phone)
        if contact.answered_by != "operator":
            self._on_contact(contact, event)

    def _handle_blocked(self, contact, event):
        contact._set_consent("blocked", "provider", _("The person blocked the bot"))

    # -- extension points --------------------------------------------------------------
    def _on_start(self, contact, event):
        """A person opened the bot (maybe with a payload). True if a feature answered."""
        return False

    def _on_text(self, contact, event):
        """Free text that no stop word caught. True if a feature answered."""
        return False

    def _on_button(self, contact, event):
        """A button press. True if a feature answered."""
        return False

    def _on_contact_us(self, contact, record):
        """The customer pressed the "Contact us" button of a message (about ``record``, if
        it had one): a person takes the conversation over. Extensions may do more."""
        return contact._hand_off(self._contact_us_reason(record))

    def _on_contact(self, contact, event):
        """The person shared their phone number (already bound). True if a feature answered."""
        return False
