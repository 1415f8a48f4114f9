from odoo import api, fields, models
from odoo.tools.misc import format_date, format_datetime, formatLang

from ..core.providers.whatsapp import placeholders

CATEGORIES = [("marketing", "Marketing"), ("utility", "Utility"), ("authentication", "Authentication")]
STATUSES = [
    ("approved", "Approved"),
    ("pending", "Pending"),
    ("rejected", "Rejected"),
    ("paused", "Paused"),
    ("disabled", "Disabled"),
    ("other", "Other"),
]


class MessengerWhatsappTemplate(models.Model):
    """A message template of a WhatsApp Business Account, copied from it by the channel's
    Sync Templates button. Outside the 24-hour window WhatsApp delivers nothing else; its
    parameters are filled from fields of the message's record."""

    _name = "messenger.whatsapp.template"
    _description = "WhatsApp Message Template"
    _order = "name, language"

    name = fields.Char(required=True, readonly=True, help="The template's name at WhatsApp.")
    language = fields.Char(required=True, readonly=True, help="Language code, e.g. en_US.")
    category = fields.Selection(CATEGORIES, readonly=True)
    status = fields.Selection(STATUSES, readonly=True, default="pending", required=True)
    body = fields.Text(readonly=True, help="The template's text at WhatsApp, with its {{placeholders}}.")
    external_id = fields.Char("WhatsApp ID", readonly=True)
    account_id = fields.Char("WhatsApp Business Account ID", readonly=True, required=True)
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    active = fields.Boolean(default=True, help="Archived when it no longer exists at WhatsApp.")
    param_ids = fields.One2many("messenger.whatsapp.template.param", "template_id", "Parameters")

    _sql_constraints = [
        (
            "template_unique",
            "UNIQUE(channel_id, name, language)",
            "A WhatsApp template is synchronised once per channel and language.",
        ),
    ]

    @api.depends("name", "language")
    def _compute_display_name(self):
        for template in self:
            template.display_name = f"{template.name} ({template.language})"

    @api.model
    def _sync(self, channel, templates):
        """Create or update the channel's templates from WhatsApp's answer; archive those
        that are gone. Parameters are added for new placeholders; their mapping is kept."""
        existing = {
            (t.name, t.language): t
            for t in self.with_context(active_test=False).search([("channel_id", "=", channel.id)])
        }
        synced = self.browse()
        for data in templates:
            body = next((c.get("text") or "" for c in data.get("components") or [] if c.get("type") == "BODY"), "")
            status = (data.get("status") or "").lower()
            vals = {
                "body": body,
                "category": (data.get("category") or "").lower() or False,
                "status": status if status in dict(STATUSES) else "other",
                "external_id": str(data.get("id") or ""),
                "account_id": channel.whatsapp_account_id,
                "active": True,
            }
            if vals["category"] not in dict(CATEGORIES):
                vals["category"] = False
            key = (data["name"], data["language"])
            template = existing.pop(key, None)
            if template:
                template.write(vals)
            else:
                template = self.create({**vals, "name": key[0], "language": key[1], "channel_id": channel.id})
            known = set(template.param_ids.mapped("name"))
            template.param_ids = [
                (0, 0, {"name": name, "sequence": index})
                for index, name in enumerate(placeholders(body))
                if name not in known
            ]
            synced |= template
        for template in existing.values():
            template.active = False
        return synced

    def _message_extra(self, contact):
        """Values for a message to ``contact`` that carries this template (none when the
        contact is not on a WhatsApp channel of the template's account)."""
        template = self[:1]
        channel = contact.channel_id
        if template and channel._provider_class().has_templates and channel.whatsapp_account_id == template.account_id:
            return {"whatsapp_template_id": template.id}
        return {}

    def _to_send(self, message, account_id):
        """What the provider needs to send this template for ``message``: its name,
        language and the parameter values from the message's record; None when the
        template cannot be used on this account."""
        self.ensure_one()
        if self.status != "approved" or not self.active or self.account_id != account_id:
            return None
        record = message.contact_id
        if message.res_model and message.res_id and message.res_model in self.env:
            record = self.env[message.res_model].sudo().browse(message.res_id).exists() or record
        names = placeholders(self.body)
        params = {p.name: p for p in self.param_ids}
        values = [(name, params[name]._value(record) if name in params else "") for name in names]
        return {"name": self.name, "language": self.language, "parameters": values}


class MessengerWhatsappTemplateParam(models.Model):
    _name = "messenger.whatsapp.template.param"
    _description = "WhatsApp Template Parameter"
    _order = "template_id, sequence, id"

    template_id = fields.Many2one("messenger.whatsapp.template", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="template_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char("Placeholder", required=True, help="1 for {{1}}, or the name of a named placeholder.")
    field_path = fields.Char(
        "Field",
        help="Path of the field of the message's record that fills the placeholder, e.g. partner_id.name for "
        "an order's customer, name for a partner.",
    )
    default_value = fields.Char(help="Used when the record has no such field or it is empty.")

    def _value(self, record):
        """The placeholder's text for ``record``: the field at ``field_path``, formatted
        as a person reads it, or the default when there is no such field or it is empty."""
        self.ensure_one()
        default = self.default_value or ""
        if not self.field_path:
            return default
        owner = record
        value = None
        for name in self.field_path.split("."):
            if not isinstance(owner, models.BaseModel) or not owner or name not in owner._fields:
                return default
            field = owner._fields[name]
            owner = owner[:1]
            value = owner[name]
            if field.type == "monetary":
                currency_field = field.get_currency_field(owner)
                currency = owner[currency_field] if currency_field in owner._fields else None
                return formatLang(self.env, value, currency_obj=currency or None)
            if field.type == "date" and value:
                return format_date(self.env, value)
            if field.type == "datetime" and value:
                return format_datetime(self.env, value)
            owner = value
        if isinstance(value, models.BaseModel):
            value = value[:1].display_name
        if value is None or value is False or value == "":
            return default
        return str(value)
