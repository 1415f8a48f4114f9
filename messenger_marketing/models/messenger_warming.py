"""Lead warming: a follow-up sequence for chat leads that have not converted yet, like an
e-mail nurture chain. Each message is sent when due by a cron (nothing waits in the
outbox), and the sequence stops when the lead is won or lost, when the customer orders,
or when the contact unsubscribes."""

import logging
from datetime import timedelta

from odoo import _, api, fields, models

from .web_url import check_web_urls

_logger = logging.getLogger(__name__)


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
        counts = dict(
            self.env["messenger.warming.enrolment"]._read_group(
                [("warming_id", "in", self.ids)], ["warming_id"], ["__count"]
            )
        )
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


class MessengerWarmingEnrolment(models.Model):
    """A contact on its way through a warming sequence."""

    _name = "messenger.warming.enrolment"
    _description = "Messenger Lead Warming Enrolment"
    _order = "id desc"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True, index=True)
    warming_id = fields.Many2one("messenger.warming", required=True, ondelete="cascade", index=True, readonly=True)
    lead_id = fields.Many2one("crm.lead", ondelete="set null", index="btree_not_null", readonly=True)
    step_id = fields.Many2one("messenger.warming.step", "Next Message", ondelete="set null", readonly=True)
    next_at = fields.Datetime("Next Message At", readonly=True)
    sent_count = fields.Integer("Messages Sent", readonly=True, default=0)
    state = fields.Selection(
        [("active", "Running"), ("done", "Finished"), ("stopped", "Stopped")],
        default="active",
        required=True,
        readonly=True,
    )
    stop_reason = fields.Char(readonly=True)

    def init(self):
        # the cron's query: due enrolments
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_warming_enrolment_due_idx
               ON messenger_warming_enrolment (next_at) WHERE state = 'active'"""
        )
        # one running enrolment per contact and sequence
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS messenger_warming_enrolment_active_uniq
               ON messenger_warming_enrolment (contact_id, warming_id) WHERE state = 'active'"""
        )

    @api.model
    def _enrol(self, contact, warming, lead=None):
        """Start the sequence for the contact, or keep the running one (for the new lead)."""
        running = self.sudo().search(
            [("contact_id", "=", contact.id), ("warming_id", "=", warming.id), ("state", "=", "active")], limit=1
        )
        if running:
            if lead and running.lead_id != lead:
                running.lead_id = lead
            return running
        first = warming._steps()[:1]
        if not first or contact.state != "subscribed":
            return self.browse()
        return self.sudo().create(
            {
                "contact_id": contact.id,
                "warming_id": warming.id,
                "lead_id": lead.id if lead else False,
                "step_id": first.id,
                "next_at": fields.Datetime.now() + timedelta(days=first.delay_days),
            }
        )

    def _stop(self, reason):
        running = self.filtered(lambda e: e.state == "active")
        if running:
            running.sudo().write({"state": "stopped", "stop_reason": reason, "next_at": False})
        return running

    @api.model
    def _stop_for_leads(self, leads, reason):
        if leads:
            self.sudo().search([("lead_id", "in", leads.ids), ("state", "=", "active")])._stop(reason)

    @api.model
    def _stop_for_partners(self, partners, reason):
        """Stop the sequences of every contact of these customers (their company included)."""
        commercial = partners.commercial_partner_id
        if commercial:
            self.sudo().search(
                [("contact_id.partner_id.commercial_partner_id", "in", commercial.ids), ("state", "=", "active")]
            )._stop(reason)

    @api.model
    def _cron_send_due(self, limit=2000):
        """Queue the messages that fell due in one batch, and move the enrolments on with
        one UPDATE per sequence step."""
        now = fields.Datetime.now()
        due = self.sudo().search([("state", "=", "active"), ("next_at", "<=", now)], order="next_at", limit=limit)
        unsubscribed = due.filtered(lambda e: not e.contact_id._can_receive("marketing"))
        unsubscribed._stop(_("The contact unsubscribed."))
        vals_list = []
        for step, enrolments in (due - unsubscribed).grouped("step_id").items():
            following = step.browse()
            if step:
                steps = step.warming_id._steps()
                following = steps[list(steps).index(step) + 1 :][:1]
            for enrolment in enrolments.filtered(lambda e, s=step: s):
                contact = enrolment.contact_id
                text = step.with_context(lang=contact._lang()).text
                image_url = self.env["messenger.image"]._url(step) if step.image else ""
                vals_list += contact._message_vals(
                    text,
                    "marketing",
                    step._buttons(),
                    enrolment.lead_id or None,
                    series_key=f"messenger.warming,{enrolment.warming_id.id}",
                    **({"image_url": image_url} if image_url else {}),
                )
            # the schedule follows the planned times, so a late cron run does not shift it
            enrolments.flush_recordset()
            self.env.cr.execute(
                """UPDATE messenger_warming_enrolment
                   SET sent_count = sent_count + %(sent)s, step_id = %(next)s,
                       next_at = CASE WHEN %(next)s IS NULL THEN NULL
                                      ELSE next_at + make_interval(secs => %(delay)s) END,
                       state = CASE WHEN %(next)s IS NULL THEN 'done' ELSE 'active' END,
                       write_date = %(now)s, write_uid = %(uid)s
                   WHERE id = ANY(%(ids)s)""",
                {
                    "sent": 1 if step else 0,
                    "next": following.id or None,
                    "delay": following.delay_days * 86400 if following else 0,
                    "now": now,
                    "uid": self.env.uid,
                    "ids": enrolments.ids,
                },
            )
        self.invalidate_model()
        self.env["messenger.message"].sudo()._queue(vals_list)
        if len(due) == limit:
            self.env.ref("messenger_marketing.ir_cron_messenger_warming")._trigger()
