import base64
import mimetypes
import uuid

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..core.providers import InboundEvent
from ..core.providers.base import InboundMedia
from ..models.messenger_access import MANAGER, check_group


class MessengerSimulator(models.TransientModel):
    """Write to a sandbox channel as a customer and read the bot's answers.

    Your words go through the same inbound path as a real webhook; the bot's answers
    go through the outbox and the dispatcher, which for a sandbox channel only marks
    them sent, so the simulator dispatches them at once."""

    _name = "messenger.simulator"
    _description = "Messenger Simulator"

    channel_id = fields.Many2one(
        "messenger.channel",
        required=True,
        domain=[("provider", "=", "sandbox")],
        default=lambda self: self.env["messenger.channel"].search([("provider", "=", "sandbox")], limit=1),
    )
    customer_name = fields.Char(default=lambda self: _("Test customer (%s)", self.env.user.name), required=True)
    text = fields.Char("Your Message", help="Type what a customer would; type a button's label to press it.")
    media_kind = fields.Selection(
        [("photo", "Photo"), ("document", "Document"), ("voice", "Voice message"), ("location", "Location")],
        "Also Send",
    )
    media_file = fields.Binary("File", attachment=False)
    media_filename = fields.Char("File Name")
    latitude = fields.Float(digits=(10, 6), default=55.751244)
    longitude = fields.Float(digits=(10, 6), default=37.618423)
    contact_id = fields.Many2one("messenger.contact", compute="_compute_contact")
    conversation = fields.Html(compute="_compute_conversation", sanitize=False)

    def _chat_id(self):
        return f"simulator-{self.env.uid}"

    @api.depends("channel_id")
    def _compute_contact(self):
        for wizard in self:
            wizard.contact_id = self.env["messenger.contact"].search(
                [("channel_id", "=", wizard.channel_id.id), ("chat_id", "=", wizard._chat_id())], limit=1
            )

    @api.depends("contact_id", "text")
    def _compute_conversation(self):
        for wizard in self:
            wizard.conversation = (wizard.contact_id and wizard._conversation_html(limit=30)) or Markup(
                '<p class="text-muted">%s</p>'
            ) % _("Say something, or type /start to begin.")

    def _conversation_html(self, limit=30):
        """The chat as the customer's phone shows it: the last messages both ways as
        bubbles, buttons included."""
        messages = self.env["messenger.message"].search(
            [("contact_id", "=", self.contact_id.id)], order="id desc", limit=limit
        )
        parts = []
        for message in reversed(messages):
            side = "text-end" if message.direction == "in" else "text-start"
            color = "bg-primary text-white" if message.direction == "in" else "bg-light"
            buttons = Markup("").join(
                Markup('<span class="badge text-bg-secondary me-1">%s</span>') % b.get("text", "")
                for row in message._buttons_to_send()
                for b in row
            )
            image = (
                Markup('<img src="%s" class="d-block mb-1 rounded" style="max-width: 200px" alt=""/>')
                % message.image_url
                if message.image_url
                else ""
            )
            files = Markup("").join(
                Markup('<span class="d-block">📎 %s</span>') % name
                for name in (message.attachment_id | message.media_ids.attachment_id).mapped("name")
            )
            when = fields.Datetime.context_timestamp(self, message.create_date).strftime("%d.%m %H:%M")
            parts.append(
                Markup(
                    '<div class="%s my-1"><span class="d-inline-block rounded p-2 o_messenger_sim_%s %s" '
                    'style="white-space: pre-wrap">%s%s%s</span><div>%s</div><small class="text-muted">%s</small></div>'
                )
                % (side, message.direction, color, image, files, message.body or "", buttons, when)
            )
        return Markup("").join(parts)

    def _media_for(self):
        """What the customer sends besides text: the file as inline data the sandbox hands
        over, or a place."""
        if self.media_kind == "location":
            return [InboundMedia(kind="location", latitude=self.latitude, longitude=self.longitude)]
        if not self.media_file:
            return []
        mimetype = mimetypes.guess_type(self.media_filename or "")[0] or "application/octet-stream"
        data = self.media_file.decode() if isinstance(self.media_file, bytes) else self.media_file
        return [
            InboundMedia(
                kind=self.media_kind or "document",
                ref=f"data:{mimetype};base64,{data}",
                mimetype=mimetype,
                filename=self.media_filename or "",
                size=len(base64.b64decode(data)),
            )
        ]

    def _event_for(self, text):
        base = {
            "event_id": f"sim-{uuid.uuid4().hex}",
            "chat_id": self._chat_id(),
            "name": self.customer_name,
            "lang": (self.env.lang or "en")[:2],
        }
        if text == "/start" or text.startswith("/start "):
            return InboundEvent(kind="start", text=text, payload=text[7:].strip(), **base)
        last = (
            self.env["messenger.message"].search(
                [("contact_id", "=", self.contact_id.id), ("direction", "=", "out")], limit=1
            )
            if self.contact_id
            else None
        )
        for row in last._buttons_to_send() if last else []:
            for button in row:
                if button.get("text", "").strip().lower() == text.lower() and button.get("payload"):
                    return InboundEvent(kind="button", payload=button["payload"], **base)
        return InboundEvent(kind="message", text=text, **base)

    def action_send(self):
        self.ensure_one()
        text = (self.text or "").strip()
        media = self._media_for()
        if not text and not media:
            raise UserError(_("Type a message first."))
        self._check_channel()
        if media:
            event = InboundEvent(
                kind="message",
                text=text,
                media=media,
                event_id=f"sim-{uuid.uuid4().hex}",
                chat_id=self._chat_id(),
                name=self.customer_name,
                lang=(self.env.lang or "en")[:2],
            )
        else:
            event = self._event_for(text)
        self.env["messenger.inbound"]._process(self.channel_id, [event])
        if media:
            self.env["messenger.media"]._cron_fetch(auto_commit=False)
            self.media_file = False
            self.media_kind = False
        # a second of budget: the dispatcher claims one message per chat at a time, so a
        # bot answer of several messages takes a few rounds
        self.env["messenger.dispatcher"]._dispatch(time_budget=1, channel_ids=self.channel_id.ids, auto_commit=False)
        self.text = False
        return self._reopen()

    def action_reset(self):
        self.ensure_one()
        self._check_channel()
        if self.contact_id:
            self.contact_id.sudo().unlink()
        return self._reopen()

    def _check_channel(self):
        """The simulator plays a customer as superuser: only on a sandbox channel the
        caller may manage, never on a real messenger's bot."""
        check_group(self.channel_id, MANAGER, "write")
        if self.channel_id.provider != "sandbox":
            raise UserError(_("The simulator works on Sandbox channels only."))

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "current",
            "name": _("Messenger Simulator"),
        }
