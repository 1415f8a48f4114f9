from odoo import fields, models

# order state reached -> messenger event
STATE_EVENTS = {"sent": "quotation_sent", "sale": "confirmed", "cancel": "cancelled"}


class SaleOrder(models.Model):
    _inherit = "sale.order"

    messenger_message_count = fields.Integer(compute="_compute_messenger_message_count")

    def _compute_messenger_message_count(self):
        counts = dict(
            self.env["messenger.message"]
            .sudo()
            ._read_group(
                [("mailing_id", "=", False), ("res_model", "=", "sale.order"), ("res_id", "in", self.ids)],
                ["res_id"],
                ["__count"],
            )
        )
        for order in self:
            order.messenger_message_count = counts.get(order.id, 0)

    def write(self, vals):
        """Every path to a new state writes it (action_confirm, _action_cancel, the
        "mark as sent" of the quotation e-mail): the one place to see the real change."""
        event = STATE_EVENTS.get(vals.get("state"))
        before = {order.id: order.state for order in self} if event else {}
        result = super().write(vals)
        if event:
            changed = self.filtered(lambda o: before[o.id] != o.state)
            Enrolment = self.env["messenger.warming.enrolment"]
            if event == "cancelled":
                Enrolment._stop_for_orders(changed, self.env._("The order was cancelled."))
            if event == "confirmed" and changed:
                # the customer ordered: no more lead warming
                Enrolment._stop_warming_for_partners(changed.partner_id, self.env._("The customer ordered."))
            self.env["messenger.sale.rule"]._fire(changed, event)
        return result

    def action_view_messenger_messages(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_message")
        action["domain"] = [("mailing_id", "=", False), ("res_model", "=", "sale.order"), ("res_id", "=", self.id)]
        action["context"] = {}
        return action
