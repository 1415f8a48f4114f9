from urllib.parse import quote_plus

from odoo import api, fields, models

CONTACT_US_PAYLOAD = "contact_us"


class MessengerTemplate(models.Model):
    """A message built from a record: body with Odoo's inline template engine
    (``{{ object.name }}``), translated per language, with optional buttons."""

    _name = "messenger.template"
    _description = "Messenger Template"
    _inherit = ["mail.render.mixin"]
    _order = "model, name"
    _unrestricted_rendering = True

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", index=True, help="Leave empty to share between companies.")
    model_id = fields.Many2one(
        "ir.model", "Applies to", required=True, ondelete="cascade", domain=[("transient", "=", False)]
    )
    model = fields.Char(related="model_id.model", store=True, index=True)
    body = fields.Text(required=True, translate=True, help="Use {{ object.field }} to insert values of the record.")
    body_format = fields.Selection(
        [("plain", "Plain text"), ("html", "HTML")],
        "Text Format",
        default="plain",
        required=True,
        help="HTML: Telegram shows bold, italic, underline, strike-through, links and code (<b>, <i>, <u>, <s>, "
        "<a href>, <code>, <pre>); the other messengers get the same text without formatting.",
    )
    file = fields.Binary(
        attachment=True,
        help="Sent with the text as the messenger's document, photo, audio or video (an invoice, a manual).",
    )
    file_name = fields.Char()
    lang = fields.Char(help="Empty: the language of the record's customer. Or an expression such as {{ object.lang }}.")
    button_portal = fields.Boolean("Button: open in the customer portal")
    # self.env._, not _: with no language in the context (module install) _ falls back to the
    # admin's language and would store it as the English source of the translated field
    button_portal_label = fields.Char(translate=True, default=lambda self: self.env._("Open"))
    button_map = fields.Boolean("Button: map of the pickup address")
    button_map_label = fields.Char(translate=True, default=lambda self: self.env._("Pickup address"))
    button_contact = fields.Boolean("Button: contact us")
    button_contact_label = fields.Char(translate=True, default=lambda self: self.env._("Contact us"))
    preview_record = fields.Reference(selection="_selection_preview_models", string="Preview on")
    preview_text = fields.Text(compute="_compute_preview_text")

    @api.model
    def _selection_preview_models(self):
        return [
            (model.model, model.name)
            for model in self.env["ir.model"]
            .sudo()
            .search([("model", "in", ["sale.order", "res.partner", "crm.lead", "account.move"])])
        ]

    @api.depends("model")
    def _compute_render_model(self):
        for template in self:
            template.render_model = template.model

    @api.depends("body", "preview_record", "button_portal", "button_map", "button_contact")
    def _compute_preview_text(self):
        for template in self:
            record = template.preview_record
            if not record or record._name != template.model or not template.body:
                template.preview_text = False
                continue
            text, buttons = template._render_for(record)[record.id]
            labels = " ".join(f"[{b['text']}]" for row in buttons for b in row)
            template.preview_text = f"{text}\n\n{labels}".strip()

    def _render_lang(self, res_ids, engine="inline_template"):
        if self.lang:
            return super()._render_lang(res_ids, engine=engine)
        records = self.env[self.render_model].browse(res_ids)
        return {record.id: self._customer_of(record).lang or self.env.lang for record in records}

    @api.model
    def _customer_of(self, record):
        if record._name == "res.partner":
            return record
        if "partner_id" in record._fields and record._fields["partner_id"].comodel_name == "res.partner":
            return record.partner_id
        return self.env["res.partner"]

    def _render_for(self, records):
        """{record id: (text, buttons)}, each in the language of its record."""
        self.ensure_one()
        texts = self._render_field("body", records.ids, compute_lang=True)
        langs = self._render_lang(records.ids)
        result = {}
        for record in records:
            template = self.with_context(lang=langs.get(record.id) or self.env.lang)
            result[record.id] = (texts[record.id].strip(), template._buttons_for(record))
        return result

    def _buttons_for(self, record):
        row = []
        if self.button_portal and hasattr(record, "get_portal_url"):
            row.append({"text": self.button_portal_label, "url": record.get_base_url() + record.get_portal_url()})
        if self.button_map:
            company = record.company_id if "company_id" in record else self.env.company
            address = company.partner_id._display_address(without_company=True).replace("\n", ", ")
            row.append(
                {
                    "text": self.button_map_label,
                    "url": f"https://www.google.com/maps/search/?api=1&query={quote_plus(address)}",
                }
            )
        if self.button_contact:
            row.append({"text": self.button_contact_label, "payload": CONTACT_US_PAYLOAD})
        return [row] if row else []
