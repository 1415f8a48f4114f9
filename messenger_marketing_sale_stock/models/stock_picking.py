from odoo import models


class StockPicking(models.Model):
    _inherit = "stock.picking"

    def _action_done(self):
        result = super()._action_done()
        orders = self.filtered(lambda p: p.picking_type_code == "outgoing" and p.state == "done").sale_id
        if orders:
            delivered = orders.filtered(lambda o: all(p.state in ("done", "cancel") for p in o.picking_ids))
            Rule = self.env["messenger.sale.rule"]
            Rule._fire(delivered, "delivered")
            # an order can be partly delivered several times: each step is one event
            for order in orders - delivered:
                done = order.picking_ids.filtered(lambda p: p.state == "done" and p.picking_type_code == "outgoing")
                Rule._fire(order, "partially_delivered", occurrence=f":{len(done)}")
        return result
