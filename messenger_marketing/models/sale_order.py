from odoo import api, fields, models
from odoo.exceptions import UserError


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

    # -- the order's business events: each from the action that makes it ---------------
    def action_quotation_sent(self):
        """*Mark as sent*, also from an online payment. Odoo's own write of the state checks
        the caller (and refuses anything but a draft) before the event."""
        result = super().action_quotation_sent()
        self.env["messenger.sale.rule"]._fire(self, "quotation_sent")
        return True if result is None else result  # Odoo's None cannot go back over XML-RPC

    @api.returns("mail.message", lambda value: value.id)
    def message_post(self, **kwargs):
        """The quotation e-mail of the "Send by Email" wizard marks a draft as sent here."""
        marking = self.env.context.get("mark_so_as_sent")
        drafts = self.filtered(lambda o: o.state == "draft") if marking else self.browse()
        message = super().message_post(**kwargs)
        if drafts:
            self.env["messenger.sale.rule"]._fire(drafts.filtered(lambda o: o.state == "sent"), "quotation_sent")
        return message

    def _action_confirm(self):
        """Sale's hook for what follows a confirmation: the orders are in "sale" now."""
        result = super()._action_confirm()
        # the customer ordered: no more lead warming
        self.env["messenger.warming.enrolment"]._stop_warming_for_partners(
            self.partner_id, self.env._("The customer ordered.")
        )
        self.env["messenger.sale.rule"]._fire(self, "confirmed")
        return result

    def _action_cancel(self):
        """Every cancellation ends here: the button, its wizard, the mass cancel and the portal."""
        cancelling = self.filtered(lambda o: o.state != "cancel")
        result = super()._action_cancel()
        cancelled = cancelling.filtered(lambda o: o.state == "cancel")
        self.env["messenger.warming.enrolment"]._stop_for_orders(cancelled, self.env._("The order was cancelled."))
        self.env["messenger.sale.rule"]._fire(cancelled, "cancelled")
        return result

    def action_open_messenger_conversation(self):
        """The conversation in Discuss with the customer the order's last message went to."""
        self.ensure_one()
        self.check_access("read")
        last = self.env["messenger.message"].search(
            [("mailing_id", "=", False), ("res_model", "=", "sale.order"), ("res_id", "=", self.id)], limit=1
        )
        if not last:
            raise UserError(self.env._("No messenger message went out about this order."))
        return last.contact_id.action_open_conversation()

    def action_view_messenger_messages(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_message")
        action["domain"] = [("mailing_id", "=", False), ("res_model", "=", "sale.order"), ("res_id", "=", self.id)]
        action["context"] = {}
        return action
