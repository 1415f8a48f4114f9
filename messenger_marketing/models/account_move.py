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

    def _invoice_paid_hook(self):
        """Account's hook for invoices that became paid: called after a reconciliation (a
        registered payment, a bank statement, an outstanding credit assigned) for those that
        went to paid or in payment, again for in payment -> paid, and at posting for an
        invoice of zero. A recompute of the payment state calls nothing; an unreconciled
        invoice paid again is the same event, notified once (messenger.sale.notification)."""
        result = super()._invoice_paid_hook()
        # only orders whose posted customer invoices are all paid now
        orders = self._messenger_sale_orders().filtered(
            lambda o: all(
                inv.payment_state in ("paid", "in_payment", "reversed")
                for inv in o.invoice_ids.filtered(lambda i: i.state == "posted" and i.move_type == "out_invoice")
            )
        )
        self.env["messenger.sale.rule"]._fire(orders, "paid")
        return result
