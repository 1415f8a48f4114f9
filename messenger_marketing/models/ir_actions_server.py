from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from ..wizards.messenger_composer import KINDS


class IrActionsServer(models.Model):
    """The "Send messenger message" server action, usable in automation rules on any
    model with a customer, as Odoo's "Send SMS" action."""

    _inherit = "ir.actions.server"

    state = fields.Selection(selection_add=[("messenger", "Send Messenger Message")], ondelete={"messenger": "cascade"})
    messenger_template_id = fields.Many2one(
        "messenger.template",
        "Messenger Template",
        ondelete="set null",
        domain="[('model_id', '=', model_id)]",
    )
    messenger_kind = fields.Selection(KINDS, "Messenger Message Kind", default="transactional")

    @api.constrains("state", "model_id", "messenger_template_id")
    def _check_messenger_template(self):
        for action in self.filtered(lambda a: a.state == "messenger"):
            if not action.messenger_template_id:
                raise ValidationError(_("Choose the messenger template to send."))
            if action.messenger_template_id.model_id != action.model_id:
                raise ValidationError(
                    _("The messenger template of “%(action)s” is for another model.", action=action.name)
                )

    def _run_action_messenger_multi(self, eval_context=None):
        records = eval_context.get("records") or eval_context.get("record")
        if not records or self._is_recompute():
            return False
        composer = (
            self.env["messenger.composer"]
            .sudo()
            .create(
                {
                    "res_model": records._name,
                    "res_ids": records.ids,
                    "template_id": self.messenger_template_id.id,
                    "kind": self.messenger_kind,
                }
            )
        )
        composer._send()
        return False
