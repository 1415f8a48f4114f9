from odoo import api, models


class MessengerMessage(models.Model):
    _inherit = "messenger.message"

    # An operator's reply from the chatter is queued first, then linked to its chatter post:
    # either step can carry mail_message_id, so both are watched.
    @api.model_create_multi
    def create(self, vals_list):
        messages = super().create(vals_list)
        if any(vals.get("mail_message_id") for vals in vals_list):
            self.env["messenger.support.question"]._record_first_replies(messages)
        return messages

    def write(self, vals):
        result = super().write(vals)
        if vals.get("mail_message_id"):
            self.env["messenger.support.question"]._record_first_replies(self)
        return result
