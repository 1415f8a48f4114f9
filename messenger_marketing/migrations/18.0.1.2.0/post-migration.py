"""18.0.1.2.0: an order rule's follow-up series runs as sequence enrolments, as lead warming does.

The follow-ups used to be queued ahead: messages with a series key
("messenger.sale.rule,<rule id>") and a send time days ahead, which a newer order, the
order's cancellation or an opt-out cancelled. Each series still waiting becomes an
enrolment at its next step, due when that step's message was planned, and its waiting
messages are deleted: they were plans, and the enrolment renders and queues each step when
it falls due. Series messages already due (or being retried) go out as they are; lead
warming queued its messages only when due. Odoo drops the series_key column after the update.
"""

import logging
from datetime import timedelta

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    cr.execute(
        """SELECT 1 FROM information_schema.columns
           WHERE table_name = 'messenger_message' AND column_name = 'series_key'"""
    )
    if cr.fetchone():
        enrol_waiting_series(api.Environment(cr, SUPERUSER_ID, {}))


def enrol_waiting_series(env):
    """Turn the follow-ups waiting in the outbox into enrolments; returns them."""
    env.cr.execute(
        """SELECT split_part(series_key, ',', 2)::int, contact_id, res_id,
                  min(create_date), min(next_attempt_at), array_agg(id)
           FROM messenger_message
           WHERE series_key LIKE 'messenger.sale.rule,%' AND res_model = 'sale.order'
             AND state = 'queued' AND attempts = 0 AND next_attempt_at > now() AT TIME ZONE 'UTC'
           GROUP BY 1, 2, 3
           ORDER BY 1, 2, 3"""
    )
    waiting = {}  # (rule, contact) -> (order, queued at, first planned time): the newest order's series
    message_ids = []
    for rule_id, contact_id, order_id, queued_at, first_at, ids in env.cr.fetchall():
        waiting[rule_id, contact_id] = (order_id, queued_at, first_at)
        message_ids += ids
    vals_list = []
    for (rule_id, contact_id), (order_id, queued_at, first_at) in waiting.items():
        rule = env["messenger.sale.rule"].browse(rule_id).exists()
        order = env["sale.order"].browse(order_id).exists()
        steps = rule._steps() if rule else []
        if not steps or not order or order.state == "cancel":
            continue
        # each message was planned its step's delay after the order event: the next step is
        # the one planned closest to the first waiting message (the earlier one on a tie)
        step = min(steps, key=lambda s: abs(queued_at + timedelta(days=s.delay_days) - first_at))
        vals_list.append(
            {
                "contact_id": contact_id,
                "rule_id": rule_id,
                "order_id": order_id,
                "rule_step_id": step.id,
                "next_at": first_at,
                "sent_count": list(steps).index(step),  # the steps before it left the outbox
            }
        )
    enrolments = env["messenger.warming.enrolment"].create(vals_list)
    env["messenger.message"].browse(message_ids).unlink()
    _logger.info(
        "Messenger: %s waiting follow-up messages became %s sequence enrolments", len(message_ids), len(enrolments)
    )
    return enrolments
