from odoo import models


class AccountMove(models.Model):
    _inherit = "account.move"

    def _messenger_sale_orders(self):
        return self.filtered(lambda m: m.move_type == "out_invoice").line_ids.sale_line_ids.order_id

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        orders = posted._messenger_sale_orders()
        self.env["messenger.sale.rule"]._fire(orders, "invoice_posted")
        return posted

    def _compute_payment_state(self):
        before = {move.id: move.payment_state for move in self if move.id}
        super()._compute_payment_state()
        paid = self.filtered(
            lambda m: (
                m.id in before
                and before[m.id] not in ("paid", "in_payment")
                and m.payment_state in ("paid", "in_payment")
            )
        )
        if paid:
            orders = paid._messenger_sale_orders()
            # only orders whose invoices are all paid now
            orders = orders.filtered(
                lambda o: all(
                    inv.payment_state in ("paid", "in_payment", "reversed")
                    for inv in o.invoice_ids.filtered(lambda i: i.state == "posted" and i.move_type == "out_invoice")
                )
            )
            self.env["messenger.sale.rule"]._fire(orders, "paid")
