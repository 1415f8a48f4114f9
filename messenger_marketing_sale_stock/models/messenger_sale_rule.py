from odoo import fields, models


class MessengerSaleRule(models.Model):
    _inherit = "messenger.sale.rule"

    event = fields.Selection(
        selection_add=[("partially_delivered", "Order partly delivered"), ("delivered", "Order delivered")],
        ondelete={"partially_delivered": "cascade", "delivered": "cascade"},
    )
