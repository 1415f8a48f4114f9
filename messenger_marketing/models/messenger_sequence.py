"""Follow-up sequences: one mechanism for lead warming and for the follow-up series of an
order rule. An enrolment walks one contact through the steps of one sequence; a cron
queues each step's message when it falls due, rendered and checked for consent then, so
nothing waits in the outbox, and stopping a sequence is a change of the enrolment's state."""

import logging
from datetime import timedelta

import psycopg2

from odoo import _, api, fields, models
from odoo.tools import SQL

_logger = logging.getLogger(__name__)

# the enrolment's field of each kind of sequence -> the field of its next step
STEP_FIELDS = {"warming_id": "step_id", "rule_id": "rule_step_id"}


class MessengerSequenceStep(models.AbstractModel):
    """What an enrolment needs of the step it is at, whichever sequence that belongs to."""

    _name = "messenger.sequence.step"
    _description = "Messenger Sequence Step"

    def _sequence_steps(self):
        """The steps of this step's sequence, in the order they go out."""
        raise NotImplementedError

    def _gap_days(self, previous):
        """Days from ``previous`` (empty: the start of the enrolment) to this step."""
        raise NotImplementedError

    def _message_vals_for(self, enrolments):
        """The values of this step's messages to the enrolments' contacts (as
        messenger.contact._message_vals gives them: nothing where consent is missing)."""
        raise NotImplementedError

    def _following(self):
        self.ensure_one()
        steps = self._sequence_steps()
        return steps[list(steps).index(self) + 1 :][:1]

    def unlink(self):
        """The running enrolments at a step that goes move on to the next step that stays,
        when that one would have been due: what is left of a sequence still goes out."""
        Enrolment = self.env["messenger.warming.enrolment"].sudo()
        field = next(f for f in STEP_FIELDS.values() if Enrolment._fields[f].comodel_name == self._name)
        running = Enrolment.search([(field, "in", self.ids), ("state", "=", "active")])
        for step, enrolments in running.grouped(field).items():
            steps = list(step._sequence_steps())
            index = steps.index(step)
            before = next((s for s in reversed(steps[:index]) if s not in self), step.browse())
            after = next((s for s in steps[index + 1 :] if s not in self), None)
            if not after:
                enrolments.write({"state": "done", "next_at": False, field: False})
                continue
            shift = timedelta(days=after._gap_days(before) - step._gap_days(before))
            for enrolment in enrolments:
                enrolment.write({field: after.id, "next_at": enrolment.next_at + shift})
        return super().unlink()


class MessengerWarmingEnrolment(models.Model):
    """A contact on its way through a sequence: a lead warming (for a chat lead) or the
    follow-up series of an order rule (for an order). The technical name is the one the
    enrolment had when lead warming was the only sequence."""

    _name = "messenger.warming.enrolment"
    _description = "Messenger Sequence Enrolment"
    _order = "id desc"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True, readonly=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True, index=True)
    warming_id = fields.Many2one(
        "messenger.warming", "Lead Warming", ondelete="cascade", index="btree_not_null", readonly=True
    )
    lead_id = fields.Many2one("crm.lead", ondelete="set null", index="btree_not_null", readonly=True)
    step_id = fields.Many2one("messenger.warming.step", "Next Message", ondelete="set null", readonly=True)
    rule_id = fields.Many2one(
        "messenger.sale.rule", "Order Message", ondelete="cascade", index="btree_not_null", readonly=True
    )
    order_id = fields.Many2one("sale.order", ondelete="cascade", index="btree_not_null", readonly=True)
    rule_step_id = fields.Many2one("messenger.sale.rule.step", "Next Follow-up", ondelete="set null", readonly=True)
    next_at = fields.Datetime("Next Message At", readonly=True)
    sent_count = fields.Integer("Messages Sent", readonly=True, default=0)
    state = fields.Selection(
        [("active", "Running"), ("done", "Finished"), ("stopped", "Stopped")],
        default="active",
        required=True,
        readonly=True,
    )
    stop_reason = fields.Char(readonly=True)

    _sql_constraints = [
        (
            "one_sequence",
            "CHECK((warming_id IS NULL) != (rule_id IS NULL) AND (rule_id IS NULL OR order_id IS NOT NULL))",
            "An enrolment runs either a lead warming or the follow-ups of an order.",
        ),
    ]

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
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS messenger_warming_enrolment_rule_active_uniq
               ON messenger_warming_enrolment (contact_id, rule_id) WHERE state = 'active'"""
        )

    @api.model
    def _count_by(self, field, sequences):
        """{sequence: number of enrolments} for the records of ``field`` (a sequence's smart button)."""
        return dict(self._read_group([(field, "in", sequences.ids)], [field], ["__count"]))

    def _sequence_field(self):
        self.ensure_one()
        return "warming_id" if self.warming_id else "rule_id"

    def _step(self):
        """The step the enrolment sends next (empty once that step was deleted)."""
        return self[STEP_FIELDS[self._sequence_field()]]

    @api.model
    def _start_vals(self, contact, field, sequence, first):
        """A new enrolment of the contact in ``sequence`` (the record of ``field``), at its
        ``first`` step."""
        return {
            "contact_id": contact.id,
            field: sequence.id,
            STEP_FIELDS[field]: first.id,
            "next_at": fields.Datetime.now() + timedelta(days=first._gap_days(first.browse())),
        }

    # -- starting ----------------------------------------------------------------------
    @api.model
    def _enrol(self, contact, warming, lead=None):
        """Start the lead warming for the contact, or keep the running one (for the new lead)."""
        running = self.sudo().search(
            [("contact_id", "=", contact.id), ("warming_id", "=", warming.id), ("state", "=", "active")], limit=1
        )
        if running:
            if lead and running.lead_id != lead:
                running.lead_id = lead
            return running
        first = warming._steps()[:1]
        if not first or not contact._can_receive("marketing"):
            return self.browse()
        return self._create_running(
            {**self._start_vals(contact, "warming_id", warming, first), "lead_id": lead.id if lead else False}
        )

    @api.model
    def _enrol_orders(self, rule, pairs):
        """Start the rule's follow-up series for each (order, contact). A newer order starts
        the series again: what runs of this rule for the contact stops."""
        latest = {}
        for order, contact in sorted(pairs, key=lambda pair: pair[0].id):
            latest[contact] = order
        contacts = self.env["messenger.contact"].browse([contact.id for contact in latest])
        restarted = (
            self.sudo()
            .search([("rule_id", "=", rule.id), ("contact_id", "in", contacts.ids), ("state", "=", "active")])
            ._stop(_("The series started again with a newer order."))
        )
        # the stopped rows leave the unique index of running enrolments before the new ones
        restarted.flush_recordset(["state"])
        first = rule._steps()[:1]
        if not first:
            return self.browse()
        return self.browse().union(
            *(
                self._create_running({**self._start_vals(contact, "rule_id", rule, first), "order_id": order.id})
                for contact, order in latest.items()
                if contact._can_receive("marketing")
            )
        )

    @api.model
    def _create_running(self, vals):
        """A running enrolment, unless another transaction started the same one at the same
        moment (two orders of the customer confirmed at once): the sequence then runs once,
        from theirs, and the user's confirmation goes through."""
        try:
            with self.env.cr.savepoint():  # flushed inside: the unique index answers here
                return self.sudo().create(vals)
        except psycopg2.errors.UniqueViolation:
            _logger.info("Messenger: sequence of contact %s started by a concurrent transaction", vals["contact_id"])
            return self.browse()

    # -- stopping ----------------------------------------------------------------------
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
    def _stop_for_orders(self, orders, reason):
        if orders:
            self.sudo().search([("order_id", "in", orders.ids), ("state", "=", "active")])._stop(reason)

    @api.model
    def _stop_warming_for_partners(self, partners, reason):
        """Stop the lead warming of every contact of these customers (their company included)."""
        commercial = partners.commercial_partner_id
        if commercial:
            self.sudo().search(
                [
                    ("contact_id.partner_id.commercial_partner_id", "in", commercial.ids),
                    ("warming_id", "!=", False),
                    ("state", "=", "active"),
                ]
            )._stop(reason)

    # -- sending -----------------------------------------------------------------------
    def _lock_due(self, now, limit):
        """The due enrolments, locked until the transaction ends: a run at the same time
        (another cron worker) skips them rather than sending their step again."""
        self.flush_model(["state", "next_at"])
        self.env.cr.execute(
            """SELECT id FROM messenger_warming_enrolment
               WHERE state = 'active' AND next_at <= %s
               ORDER BY next_at, id LIMIT %s
               FOR UPDATE SKIP LOCKED""",
            (now, limit),
        )
        return self.sudo().browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _cron_send_due(self, limit=2000):
        """Queue the messages that fell due in one batch, and move the enrolments on with
        one UPDATE per sequence step."""
        now = fields.Datetime.now()
        due = self._lock_due(now, limit)
        unsubscribed = due.filtered(lambda e: not e.contact_id._can_receive("marketing"))
        unsubscribed._stop(_("The contact unsubscribed."))
        vals_list = []
        groups = (due - unsubscribed).grouped(lambda e: (e._sequence_field(), e._step()))
        for (field, step), enrolments in groups.items():
            following = step._following() if step else step
            if step:
                vals_list += step._message_vals_for(enrolments)
            # the schedule follows the planned times, so a late cron run does not shift it
            self.env.cr.execute(
                SQL(
                    """UPDATE messenger_warming_enrolment
                       SET sent_count = sent_count + %(sent)s, %(step_field)s = %(next)s,
                           next_at = CASE WHEN %(next)s IS NULL THEN NULL
                                          ELSE next_at + make_interval(secs => %(gap)s) END,
                           state = CASE WHEN %(next)s IS NULL THEN 'done' ELSE 'active' END,
                           write_date = %(now)s, write_uid = %(uid)s
                       WHERE id = ANY(%(ids)s)""",
                    sent=1 if step else 0,
                    step_field=SQL.identifier(STEP_FIELDS[field]),
                    next=following.id or None,
                    gap=following._gap_days(step) * 86400 if following else 0,
                    now=now,
                    uid=self.env.uid,
                    ids=enrolments.ids,
                )
            )
        self.invalidate_model()
        self.env["messenger.message"].sudo()._queue(vals_list)
        if len(due) == limit:
            self.env.ref("messenger_marketing.ir_cron_messenger_warming")._trigger()
