from odoo import fields, models


class MessengerConsentLog(models.Model):
    """The consent method of a chat that took a customer's updates on their first chat's word
    (see messenger.binding.link); in a module after the log's own, which it extends."""

    _inherit = "messenger.consent.log"

    method = fields.Selection(
        selection_add=[("confirmed", "Confirmed in the customer's first chat")], ondelete={"confirmed": "cascade"}
    )
