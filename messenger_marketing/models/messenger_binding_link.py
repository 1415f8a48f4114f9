"""Personal links that bind a messenger chat to a customer.

A link is a bearer token that may leak (a forwarded message, a shared screen), so it binds
one private chat, once, within a few days. A customer who already gets their updates in
another chat of the channel keeps them there unless that chat confirms the move (or the new
chat shares the customer's phone number, which the messenger vouches for).

The start parameter is the link's id signed with the channel's link secret (derived from
the database secret), as entry links are: nothing secret is stored in a table that users
read, a link works on its own channel only, and forging one takes 2^71 webhook calls.
"""

import logging
import re
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError

from ..core import signing

_logger = logging.getLogger(__name__)

DAYS_PARAM = "messenger_marketing.binding_link_days"
DEFAULT_DAYS = 7
# What a caller names when making a link; the rest is the server's.
CREATE_FIELDS = {"channel_id", "partner_id"}
# The answers of the first chat: "by<id>" (yes, move) and "bn<id>" (no), signed.
ANSWER = re.compile(r"^b([yn])(\d+)-")
# Partner links of the first releases, valid forever: refused since binding links exist.
OLD_PARTNER_LINK = re.compile(r"^p\d+-")


class MessengerBindingLink(models.Model):
    _name = "messenger.binding.link"
    _description = "Messenger Binding Link"
    _order = "id desc"

    channel_id = fields.Many2one("messenger.channel", required=True, readonly=True, ondelete="cascade", index=True)
    partner_id = fields.Many2one(
        "res.partner", "Customer", required=True, readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    expires_at = fields.Datetime("Valid Until", required=True, readonly=True)
    used_at = fields.Datetime("Opened At", readonly=True, copy=False)
    contact_id = fields.Many2one(
        "messenger.contact",
        "Chat",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The chat that opened the link.",
    )
    state = fields.Selection(
        [
            ("open", "Not opened yet"),
            ("pending", "Waiting for the customer's first chat to confirm"),
            ("bound", "Bound its chat"),
            ("declined", "Declined in the customer's first chat"),
        ],
        "Status",
        default="open",
        required=True,
        readonly=True,
        copy=False,
    )
    payload = fields.Char(compute="_compute_url", help="The signed start parameter.")
    url = fields.Char("Link", compute="_compute_url")

    @api.depends("channel_id", "channel_id.bot_username", "channel_id.provider")
    def _compute_url(self):
        for link in self:
            if not link.id or not link.channel_id:
                link.payload = link.url = False
                continue
            link.payload = signing.sign(link.channel_id._link_secret(), f"b{link.id}")
            link.url = link.channel_id._deep_link(link.payload)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            for vals in vals_list:
                if set(vals) - CREATE_FIELDS:
                    raise AccessError(self.env._("A binding link names a customer and a channel, nothing more."))
            # the caller may only link a customer and a channel that they may see
            for field, model in (("partner_id", "res.partner"), ("channel_id", "messenger.channel")):
                self.env[model].browse([v[field] for v in vals_list if v.get(field)]).check_access("read")
            # explicit values, so that no default_* key of the caller's context fills them
            expires_at = fields.Datetime.now() + timedelta(days=self._validity_days())
            vals_list = [
                {**vals, "expires_at": expires_at, "used_at": False, "contact_id": False, "state": "open"}
                for vals in vals_list
            ]
        else:
            for vals in vals_list:
                vals.setdefault("expires_at", fields.Datetime.now() + timedelta(days=self._validity_days()))
        return super().create(vals_list)

    @api.model
    def _validity_days(self):
        value = self.env["ir.config_parameter"].sudo().get_param(DAYS_PARAM)
        try:
            days = int(value)
        except (TypeError, ValueError):
            return DEFAULT_DAYS
        return days if days > 0 else DEFAULT_DAYS

    def _lock(self):
        """Hold the link until commit. A second chat opening it (or a second answer) meanwhile
        waits here, then fails to serialize, and its webhook is retried: it sees the link used."""
        self.env.cr.execute("SELECT id FROM messenger_binding_link WHERE id = %s FOR UPDATE", [self.id])
        self.invalidate_recordset()

    @api.model
    def _from_payload(self, channel, payload):
        link = channel._signed_record(self._name, "b", payload)
        return link if link and link.channel_id == channel else None

    # -- a person opened a link --------------------------------------------------------
    @api.model
    def _open(self, contact, event):
        """``contact``'s chat opened a start payload that may be a binding link."""
        channel = contact.channel_id
        if OLD_PARTNER_LINK.match(event.payload):
            _logger.warning(
                "Messenger: refused a partner link of the old kind on channel %s (contact %s): "
                "make a new one with the invitation wizard",
                channel.id,
                contact.id,
            )
            return
        link = self._from_payload(channel, event.payload)
        if not link:
            _logger.warning(
                "Messenger: refused a binding link with a bad signature on channel %s (contact %s)",
                channel.id,
                contact.id,
            )
            return
        link._lock()
        partner = link.partner_id
        if contact.partner_id == partner and not event.group_chat:
            if link.state == "open":
                link.write({"used_at": fields.Datetime.now(), "contact_id": contact.id, "state": "bound"})
            return  # the customer opened their link again: nothing to do
        refusal = (
            (event.group_chat and "it was opened in a group chat")
            or (link.state != "open" and "it was used already")
            or (link.expires_at <= fields.Datetime.now() and "it expired")
        )
        holders = contact._partner_chats(partner)
        if refusal:
            _logger.warning(
                "Messenger: binding link %s binds nothing on channel %s (contact %s): %s",
                link.id,
                channel.id,
                contact.id,
                refusal,
            )
            for holder in holders:
                holder._send(
                    holder._in_lang()._(
                        "Someone opened your personal link in another chat. Nothing changed: "
                        "your updates stay in this chat."
                    )
                )
            return
        link.write({"used_at": fields.Datetime.now(), "contact_id": contact.id})
        if not holders:
            link.state = "bound"
            contact._bind_partner(partner, "deep_link", event.payload)
            return
        link.state = "pending"
        for holder in holders:
            env = holder._in_lang()
            holder._send(
                env._("Someone opened your personal link in another chat. Was it you?"),
                buttons=[
                    [
                        {"text": env._("Yes, move my updates there"), "payload": link._answer_payload("y")},
                        {"text": env._("No"), "payload": link._answer_payload("n")},
                    ]
                ],
            )
        contact._send(
            contact._in_lang()._(
                "This customer gets their updates in another chat: we asked there to confirm the move to this one."
            )
        )

    # -- the first chat answers ----------------------------------------------------------
    def _answer_payload(self, answer):
        self.ensure_one()
        return signing.sign(self.channel_id._link_secret(), f"b{answer}{self.id}")

    @api.model
    def _answer_label(self, contact, payload):
        """How a press of the first chat's buttons reads in the conversation, or None."""
        match = ANSWER.match(payload or "")
        if not match:
            return None
        env = contact._in_lang()
        return env._("Yes, move my updates there") if match.group(1) == "y" else env._("No")

    @api.model
    def _answer(self, contact, payload):
        """A button press in ``contact``'s chat; True when it answers a binding link."""
        match = ANSWER.match(payload or "")
        if not match:
            return False
        value = signing.verify(contact.channel_id._link_secret(), payload)
        link = self.sudo().browse(int(value[2:])).exists() if value else None
        if not link:
            _logger.warning("Messenger: refused a binding answer with a bad signature from contact %s", contact.id)
            return True
        link._lock()
        days = self._validity_days()
        now = fields.Datetime.now()
        asked = link.state == "pending" and link.used_at > now - timedelta(days=days) and link.expires_at > now
        # only a chat that holds the customer answers for them, never the chat asking
        if not asked or contact.partner_id != link.partner_id:
            _logger.warning(
                "Messenger: ignored an answer to binding link %s from contact %s: not asked there or not pending",
                link.id,
                contact.id,
            )
            return True
        if match.group(1) == "n" or not link.contact_id:
            link.state = "declined"
            contact._send(contact._in_lang()._("Nothing changed: your updates stay in this chat."))
            return True
        link.state = "bound"
        link.contact_id._bind_partner(link.partner_id, "confirmed", contact.display_name)
        return True
