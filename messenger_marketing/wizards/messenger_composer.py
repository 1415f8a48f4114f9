from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import UserError

KINDS = [
    ("service", "Conversation: to anyone who has not blocked the bot"),
    ("transactional", "Transactional: follows the channel's consent setting"),
    ("marketing", "Marketing: subscribed contacts only, with the unsubscribe button"),
]


class MessengerComposer(models.TransientModel):
    """Send a messenger message about one or many records (partners, orders, leads, or any
    record with a customer), from a template or written in place, as Odoo's "Send SMS"
    does. The messages are queued; the dispatcher sends them after commit."""

    _name = "messenger.composer"
    _description = "Send Messenger Message"
    _inherit = ["mail.render.mixin"]

    res_model = fields.Char("Document Model", required=True, readonly=True)
    res_ids = fields.Json("Documents", required=True, readonly=True)
    record_count = fields.Integer(compute="_compute_record_count")
    template_id = fields.Many2one("messenger.template", "Use Template", domain="[('model', '=', res_model)]")
    body = fields.Text(
        "Message",
        compute="_compute_body",
        store=True,
        readonly=False,
        help="Placeholders such as {{ object.name }} are filled in for each record.",
    )
    kind = fields.Selection(KINDS, "Message Kind", default="service", required=True)
    channel_id = fields.Many2one(
        "messenger.channel", "Send Through", help="Empty: the channel each customer wrote to last."
    )
    preview = fields.Text(compute="_compute_preview")
    reachable_count = fields.Integer("Will Receive", compute="_compute_reachability")
    unreachable_description = fields.Text("Skipped", compute="_compute_reachability")

    @api.model
    def default_get(self, fields_list):
        result = super().default_get(fields_list)
        context = self.env.context
        result.setdefault("res_model", context.get("active_model"))
        if not result.get("res_ids"):
            single = [context["active_id"]] if context.get("active_id") else []
            result["res_ids"] = context.get("active_ids") or single
        return result

    @api.depends("res_model")
    def _compute_render_model(self):
        for composer in self:
            composer.render_model = composer.res_model

    @api.depends("res_ids")
    def _compute_record_count(self):
        for composer in self:
            composer.record_count = len(composer.res_ids or [])

    @api.depends("template_id")
    def _compute_body(self):
        for composer in self:
            composer.body = composer.template_id.body or composer.body

    def _records(self):
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            raise UserError(_("Choose the records to write about."))
        records = self.env[self.res_model].browse(self.res_ids or []).exists()
        records.check_access("read")  # the messages are queued as superuser
        return records

    def _partner_of(self, record):
        if record._name != "res.partner" and "partner_id" not in record._fields:
            raise UserError(_("Messenger messages need records with a customer (a partner field)."))
        return self.env["messenger.template"]._customer_of(record)

    def _plan(self):
        """{record: contact} for the records whose customer has a messenger contact that
        accepts this kind of message, and the records without one."""
        records = self._records()
        # the one rule of messenger.contact, with the company of records that have one (a
        # shared customer hears of company B's order from company B's channels only)
        by_company = {}
        for record in records:
            company = (record.company_id if "company_id" in record._fields else None) or None
            by_company[company] = by_company.get(company, records.browse()) | record
        contact_of = {}
        for company, group in by_company.items():
            partners = self.env["res.partner"].union(*(self._partner_of(r) for r in group))
            reach = self.env["messenger.contact"]._reachable_by_partner(partners, self.kind, self.channel_id, company)
            contact_of.update({record: reach.get(self._partner_of(record).id) for record in group})
        plan, skipped = {}, self.env[self.res_model]
        for record in records:
            contact = contact_of[record]
            if contact:
                plan[record] = contact
            else:
                skipped |= record
        return plan, skipped

    @api.depends("res_model", "res_ids", "kind", "channel_id")
    def _compute_reachability(self):
        for composer in self:
            if not composer.res_model or not composer.res_ids:
                composer.reachable_count, composer.unreachable_description = 0, False
                continue
            plan, skipped = composer._plan()
            composer.reachable_count = len(plan)
            composer.unreachable_description = ", ".join(skipped[:20].mapped("display_name")) + (
                _(" and %s more", len(skipped) - 20) if len(skipped) > 20 else ""
            )

    @api.depends("body", "template_id", "res_ids")
    def _compute_preview(self):
        for composer in self:
            records = composer._records()[:1] if composer.res_ids and composer.body else None
            if not records:
                composer.preview = False
                continue
            text, buttons = composer._render(records)[records.id]
            labels = " ".join(f"[{b['text']}]" for row in buttons for b in row)
            composer.preview = f"{text}\n\n{labels}".strip()

    def _render(self, records):
        """{record id: (text, buttons)}. An unchanged template renders in each customer's
        language; a text written here is rendered as written."""
        self.ensure_one()
        if self.template_id and self.body == self.template_id.body:
            return self.template_id._render_for(records)
        texts = self._render_field("body", records.ids)
        buttons = {r.id: self.template_id._buttons_for(r) if self.template_id else [] for r in records}
        return {r.id: (texts[r.id].strip(), buttons[r.id]) for r in records}

    def _send(self):
        """Queue the messages and log them in each record's chatter; return the messages
        and the records whose customer could not be reached."""
        self.ensure_one()
        if not (self.body or "").strip():
            raise UserError(_("Write the message first."))
        plan, skipped = self._plan()
        records = self.env[self.res_model].union(*plan)
        rendered = self._render(records) if records else {}
        Message = self.env["messenger.message"]
        logs = {}
        if records and hasattr(records, "_message_log_batch"):
            bodies = {
                record.id: Message._chatter_log_body(contact, rendered[record.id][0], "queued")
                for record, contact in plan.items()
            }
            logs = {log.res_id: log.id for log in records._message_log_batch(bodies=bodies)}
        vals_list = []
        for record, contact in plan.items():
            text, buttons = rendered[record.id]
            extra = {"text_format": self.template_id.body_format or "plain"}
            if record.id in logs:
                extra["chatter_log_id"] = logs[record.id]
            vals_list += contact._message_vals(text, self.kind, buttons, record, priority=5, **extra)
        if skipped and hasattr(skipped, "_message_log_batch"):
            note = Markup("<p>%s</p>") % _("No messenger message: the customer has no messenger contact for it.")
            skipped._message_log_batch(bodies=dict.fromkeys(skipped.ids, note))
        return Message.sudo()._queue(vals_list), skipped

    def action_send(self):
        messages, skipped = self._send()
        text = _("%(count)s messenger message(s) queued.", count=len(messages.contact_id))
        if skipped:
            text += " " + _("Skipped, no reachable messenger contact: %(names)s.", names=self.unreachable_description)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning" if skipped else "success",
                "message": text,
                "sticky": bool(skipped),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }
