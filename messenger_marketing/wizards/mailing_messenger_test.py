from odoo import _, fields, models
from odoo.exceptions import UserError


class MailingMessengerTest(models.TransientModel):
    """Send a campaign's message to a few chosen contacts before launching it."""

    _name = "mailing.messenger.test"
    _description = "Test Messenger Campaign"

    mailing_id = fields.Many2one("mailing.mailing", required=True, ondelete="cascade")
    contact_ids = fields.Many2many("messenger.contact", string="Send To", required=True)

    def action_send(self):
        self.ensure_one()
        mailing = self.mailing_id
        # the messages are queued as superuser: the caller must reach the campaign and each contact
        mailing.check_access("write")
        self.contact_ids.check_access("read")
        if not (mailing.messenger_body or "").strip():
            raise UserError(_("Write the message first."))
        buttons = [[{"text": b.label, "url": b.url} for b in mailing.messenger_button_ids]]
        # a literal _() call, not one inside the f-string, so that the term is exported
        prefix = _("Test")
        queued = self.env["messenger.message"]
        for contact in self.contact_ids:
            queued |= contact._send(
                f"[{prefix}] {mailing.messenger_body.strip()}",
                kind="marketing",
                buttons=[row for row in buttons if row],
                image_url=mailing.messenger_image_url or False,
                text_format=mailing.messenger_body_format,
                **mailing.messenger_whatsapp_template_id._message_extra(contact),
            )
        skipped = self.contact_ids - queued.contact_id
        message = _("Test message queued for %(count)s contact(s).", count=len(queued.contact_id))
        if skipped:
            message += " " + _("Not sent to %(names)s: not subscribed.", names=", ".join(skipped.mapped("name")))
        mailing.message_post(body=message)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "message": message,
                "type": "warning" if skipped else "success",
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
