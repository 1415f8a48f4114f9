from odoo import api, fields, models


class MessengerInvite(models.TransientModel):
    """Shows a partner's personal deep link: opening it binds the chat to the partner."""

    _name = "messenger.invite"
    _description = "Messenger Invitation Link"

    partner_id = fields.Many2one("res.partner", required=True)
    channel_id = fields.Many2one(
        "messenger.channel",
        required=True,
        default=lambda self: self.env["messenger.channel"].search([], limit=1),
    )
    url = fields.Char("Link", compute="_compute_url")

    @api.depends("partner_id", "channel_id")
    def _compute_url(self):
        for wizard in self:
            channel = wizard.channel_id
            wizard.url = (
                channel._deep_link(channel._partner_payload(wizard.partner_id))
                if channel and wizard.partner_id
                else False
            )
