from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    messenger_contact_ids = fields.One2many("messenger.contact", "partner_id", string="Messenger Contacts")
    messenger_contact_count = fields.Integer(compute="_compute_messenger_contact_count")
    messenger_route_ids = fields.One2many("messenger.route", "partner_id", string="Channel Order")

    def _compute_messenger_contact_count(self):
        counts = dict(
            self.env["messenger.contact"]._read_group([("partner_id", "in", self.ids)], ["partner_id"], ["__count"])
        )
        for partner in self:
            partner.messenger_contact_count = counts.get(partner, 0)

    def action_messenger_invite(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Messenger Invitation Link"),
            "res_model": "messenger.invite",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.id},
        }

    def action_view_messenger_contacts(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_contact")
        action["domain"] = [("partner_id", "=", self.id)]
        action["context"] = {"default_partner_id": self.id}
        return action
