from markupsafe import Markup

from odoo import _, api, fields, models

from .messenger_media import file_attachment

EVENTS = [
    ("quotation_sent", "Quotation sent"),
    ("confirmed", "Order confirmed"),
    ("invoice_posted", "Invoice posted"),
    ("paid", "Invoice paid"),
    ("cancelled", "Order cancelled"),
]


def _order_message_vals(source, rendered, pairs, kind, extra=None):
    """The message values of each (order, contact) from ``source``'s template (a rule or
    a follow-up step), ``rendered`` on the orders, with its WhatsApp template where the
    contact needs one and ``extra(order)``'s values."""
    vals_list = []
    attachment = file_attachment(source.template_id)
    files = {"attachment_id": attachment.id} if attachment else {}
    for order, contact in pairs:
        text, buttons = rendered[order.id]
        vals_list += contact._message_vals(
            text,
            kind,
            buttons,
            order,
            text_format=source.template_id.body_format,
            **(extra(order) if extra else {}),
            **source.whatsapp_template_id._message_extra(contact),
            **files,
        )
    return vals_list


class MessengerSaleRule(models.Model):
    """Which message a customer gets when their order reaches a step."""

    _name = "messenger.sale.rule"
    _description = "Messenger Message on Sale Order Event"
    _order = "event, team_id, sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    event = fields.Selection(EVENTS, required=True)
    template_id = fields.Many2one(
        "messenger.template",
        required=True,
        ondelete="restrict",
        domain=[("model", "=", "sale.order")],
        check_company=True,
    )
    # The channel and the WhatsApp template are not checked against the company: the rules
    # of no company (the default ones) serve every company and may well use a company's bot.
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, index=True)
    team_id = fields.Many2one("crm.team", "Sales Team", help="Only orders of this team; empty for every team.")
    channel_mode = fields.Selection(
        [("last_used", "The channel the customer used last"), ("fixed", "A fixed channel")],
        "Send Through",
        default="last_used",
        required=True,
    )
    channel_id = fields.Many2one("messenger.channel")
    step_ids = fields.One2many("messenger.sale.rule.step", "rule_id", "Follow-up Series", copy=True)
    enrolment_ids = fields.One2many("messenger.warming.enrolment", "rule_id", "Follow-up Enrolments")
    enrolment_count = fields.Integer(compute="_compute_enrolment_count")
    whatsapp_template_id = fields.Many2one(
        "messenger.whatsapp.template",
        "WhatsApp Template",
        domain=[("status", "=", "approved")],
        help="Sent to WhatsApp contacts who have not written in the last 24 hours, when WhatsApp takes "
        "nothing but an approved template.",
    )

    _sql_constraints = [
        (
            "fixed_has_channel",
            "CHECK(channel_mode != 'fixed' OR channel_id IS NOT NULL)",
            "Choose the channel to send through.",
        ),
    ]

    def _compute_enrolment_count(self):
        counts = self.env["messenger.warming.enrolment"]._count_by("rule_id", self)
        for rule in self:
            rule.enrolment_count = counts.get(rule, 0)

    @api.model
    def _rule_for(self, rules, order):
        """The most specific active rule for the order: its team's before every team's."""
        matching = rules.filtered(
            lambda r: (
                r.company_id in (order.company_id, self.env["res.company"])
                and r.team_id in (order.team_id, self.env["crm.team"])
            )
        )
        return matching.sorted(lambda r: (not r.team_id, r.sequence, r.id))[:1]

    @api.model
    def _fire(self, orders, event, occurrence=""):
        """Queue the event's message for orders that reached it (each order, event and
        occurrence once), start its follow-up series, and say in each order's chatter what
        happened."""
        rules = self.sudo().search([("event", "=", event)])
        if not rules or not orders:
            return self.env["messenger.message"]
        fresh = self.env["messenger.sale.notification"]._claim(orders, f"{event}{occurrence}")
        rule_of = {order: self._rule_for(rules, order) for order in fresh}
        # the contact of each order's customer, by the one rule of messenger.contact: through
        # the rule's fixed channel if it has one, from the order's company's channels
        groups = {}
        for order, rule in rule_of.items():
            if rule:
                key = (rule.channel_id if rule.channel_mode == "fixed" else None, order.company_id)
                groups[key] = groups.get(key, fresh.browse()) | order
        Contact = self.env["messenger.contact"].sudo()
        contact_of = {}
        for (channel, company), group in groups.items():
            reachable = Contact._reachable_by_partner(group.partner_id, "transactional", channel, company)
            contact_of.update({order: reachable.get(order.partner_id.id) for order in group})
        plan = {}  # rule -> [(order, contact)]
        skipped = {}
        for order in fresh:
            rule = rule_of[order]
            if not rule:
                continue
            contact = contact_of[order]
            if contact:
                plan.setdefault(rule, []).append((order, contact))
            else:
                skipped[order.id] = Markup("<p>%s</p>") % _(
                    "No messenger message for “%(event)s”: the customer has no messenger contact that accepts "
                    "order updates.",
                    event=dict(self._fields["event"]._description_selection(self.env))[event],
                )
        if skipped:
            orders.browse(list(skipped))._message_log_batch(bodies=skipped)
        messages = self.env["messenger.message"]
        for rule, pairs in plan.items():
            messages |= rule._queue_for(pairs)
        return messages

    def _queue_for(self, pairs):
        self.ensure_one()
        orders = self.env["sale.order"].browse([order.id for order, _contact in pairs])
        rendered = self.template_id._render_for(orders)
        Message = self.env["messenger.message"]
        logs = orders._message_log_batch(
            bodies={
                order.id: Message._chatter_log_body(contact, rendered[order.id][0], "queued")
                for order, contact in pairs
            }
        )
        log_ids = {log.res_id: log.id for log in logs}
        vals_list = _order_message_vals(
            self, rendered, pairs, "transactional", lambda order: {"chatter_log_id": log_ids[order.id]}
        )
        messages = Message.sudo()._queue(vals_list)
        if self.step_ids:
            self.env["messenger.warming.enrolment"]._enrol_orders(self, pairs)
        return messages

    def _steps(self):
        # each step's delay counts from the order event: they go out in the order of their delays
        return self.step_ids.sorted(lambda s: (s.delay_days, s.sequence, s.id))


class MessengerSaleRuleStep(models.Model):
    _name = "messenger.sale.rule.step"
    _inherit = ["messenger.sequence.step"]
    _description = "Follow-up Step after a Sale Order Event"
    _order = "delay_days, sequence, id"
    _check_company_auto = True

    rule_id = fields.Many2one("messenger.sale.rule", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="rule_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    delay_days = fields.Float("After (days)", required=True, default=1)
    template_id = fields.Many2one(
        "messenger.template",
        required=True,
        ondelete="restrict",
        domain=[("model", "=", "sale.order")],
        check_company=True,
    )
    whatsapp_template_id = fields.Many2one(
        "messenger.whatsapp.template",
        "WhatsApp Template",
        domain=[("status", "=", "approved")],
        help="A late follow-up reaches a WhatsApp contact who has not written in the last 24 hours only as an "
        "approved template.",
    )

    # -- as a sequence step (messenger.sequence.step) -------------------------------------
    def _sequence_steps(self):
        return self.rule_id._steps()

    def _gap_days(self, previous):
        # each delay counts from the order event (the steps go in the order of their delays)
        return self.delay_days - (previous.delay_days if previous else 0.0)

    def _message_vals_for(self, enrolments):
        self.ensure_one()
        rendered = self.template_id._render_for(enrolments.order_id)
        return _order_message_vals(self, rendered, [(e.order_id, e.contact_id) for e in enrolments], "marketing")


class MessengerSaleNotification(models.Model):
    """One row per order and event already notified, so nothing fires twice."""

    _name = "messenger.sale.notification"
    _description = "Sale Order Event Already Notified"

    order_id = fields.Many2one("sale.order", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="order_id.company_id", store=True, index=True)
    event = fields.Char(required=True)

    _sql_constraints = [("order_event_unique", "UNIQUE(order_id, event)", "An order event is notified once.")]

    @api.model
    def _claim(self, orders, event):
        """Record the event for the orders; return those that did not have it yet."""
        orders.flush_recordset(["company_id"])
        self.env.cr.execute(
            """INSERT INTO messenger_sale_notification (order_id, company_id, event, create_uid, write_uid,
                                                       create_date, write_date)
               SELECT o.id, o.company_id, %s, %s, %s, now() at time zone 'utc', now() at time zone 'utc'
               FROM sale_order o WHERE o.id = ANY(%s::int[])
               ON CONFLICT (order_id, event) DO NOTHING RETURNING order_id""",
            (event, self.env.uid, self.env.uid, orders.ids),
        )
        return orders.browse(sorted(r[0] for r in self.env.cr.fetchall()))
