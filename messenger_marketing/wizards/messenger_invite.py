from odoo import fields, models


class MessengerInvite(models.TransientModel):
    """Makes a partner's personal deep link: opening it binds that chat to the partner."""

    _name = "messenger.invite"
    _description = "Messenger Invitation Link"

    partner_id = fields.Many2one("res.partner", required=True)
    channel_id = fields.Many2one(
        "messenger.channel",
        required=True,
        default=lambda self: self.env["messenger.channel"].search([], limit=1),
    )
    # copied from the link made, not related to it: a related field reads as superuser, and
    # the wizard's fields are the user's to write
    url = fields.Char("Link", readonly=True)
    expires_at = fields.Datetime("Valid Until", readonly=True)

    def action_create_link(self):
        """A new link at each click: each one binds a single chat."""
        self.ensure_one()
        # as the user: the link checks that they may see the customer and the channel
        link = self.env["messenger.binding.link"].create(
            {"partner_id": self.partner_id.id, "channel_id": self.channel_id.id}
        )
        self.write({"url": link.url, "expires_at": link.expires_at})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Messenger Invitation Link"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
