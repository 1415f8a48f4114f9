"""Lead warming: a follow-up sequence for chat leads that have not converted yet, like an
e-mail nurture chain. Its enrolments (messenger_sequence.py) send each message when due
and stop when the lead is won or lost, when the customer orders, or when the contact
unsubscribes."""

from odoo import api, fields, models

from .web_url import check_web_urls


class MessengerWarming(models.Model):
    _name = "messenger.warming"
    _description = "Messenger Lead Warming Sequence"
    _order = "name, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, index=True)
    step_ids = fields.One2many("messenger.warming.step", "warming_id", "Messages", copy=True)
    enrolment_ids = fields.One2many("messenger.warming.enrolment", "warming_id", "Enrolments")
    enrolment_count = fields.Integer(compute="_compute_enrolment_count")

    def _compute_enrolment_count(self):
        counts = self.env["messenger.warming.enrolment"]._count_by("warming_id", self)
        for warming in self:
            warming.enrolment_count = counts.get(warming, 0)

    def _steps(self):
        return self.step_ids.sorted(lambda s: (s.sequence, s.id))

    def action_view_enrolments(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_warming_enrolment")
        action["domain"] = [("warming_id", "=", self.id)]
        return action


class MessengerWarmingStep(models.Model):
    _name = "messenger.warming.step"
    _inherit = ["messenger.sequence.step"]
    _description = "Messenger Lead Warming Message"
    _order = "warming_id, sequence, id"

    warming_id = fields.Many2one("messenger.warming", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="warming_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    delay_days = fields.Float(
        "After (days)", required=True, default=1, help="After the previous message (or the lead)."
    )
    text = fields.Text(required=True, translate=True)
    image = fields.Image(max_width=1280, max_height=1280)
    button_label = fields.Char(translate=True)
    button_url = fields.Char("Button Link")

    @api.constrains("button_url")
    def _check_button_url(self):
        check_web_urls(self, "button_url")

    def _buttons(self):
        self.ensure_one()
        if self.button_label and self.button_url:
            return [[{"text": self.button_label, "url": self.button_url}]]
        return []

    # -- as a sequence step (messenger.sequence.step) -------------------------------------
    def _sequence_steps(self):
        return self.warming_id._steps()

    def _gap_days(self, previous):
        # each delay counts from the previous message
        return self.delay_days

    def _message_vals_for(self, enrolments):
        self.ensure_one()
        image_url = self.env["messenger.image"]._url(self) if self.image else ""
        vals_list = []
        for enrolment in enrolments:
            contact = enrolment.contact_id
            step = self.with_context(lang=contact._lang())
            vals_list += contact._message_vals(
                step.text,
                "marketing",
                step._buttons(),
                enrolment.lead_id or None,
                **({"image_url": image_url} if image_url else {}),
            )
        return vals_list
