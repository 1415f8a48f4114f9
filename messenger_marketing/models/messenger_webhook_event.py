import dataclasses
import json
import logging
import threading
import time
from datetime import timedelta

import psycopg2

from odoo import api, fields, models, tools

from ..core.providers import InboundEvent
from .messenger_access import MANAGER, check_group

_logger = logging.getLogger(__name__)


def _without_nul(value):
    """The value with NUL characters dropped from its texts: PostgreSQL's jsonb takes none.
    Webhook bodies are at most 64 levels deep (Provider.load_json), so recursion is safe."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


class MessengerWebhookEvent(models.Model):
    """One row per provider event, so a retried or replayed webhook is handled once.

    An event that a handler failed on is kept with what it said (``payload``) and the
    error, and retried by a cron with a growing delay; after ``webhook_max_attempts``
    tries it waits for a manager. A handled event stores no payload: the row costs one
    small INSERT on the webhook's hot path."""

    _name = "messenger.webhook.event"
    _description = "Messenger Webhook Event"
    _order = "id desc"

    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True)
    event_id = fields.Char("Provider Event ID", required=True)
    kind = fields.Char()
    state = fields.Selection(
        [("done", "Done"), ("retry", "To Retry"), ("failed", "Failed")],
        default="done",
        required=True,
        help="To Retry: handling failed and is tried again automatically. "
        "Failed: every automatic try failed; fix the cause, then retry it by hand.",
    )
    payload = fields.Json(help="The event as the provider sent it, normalized; kept until it is handled.")
    payload_text = fields.Text("Event", compute="_compute_payload_text")
    error = fields.Text(help="The error of the last failed try.")
    attempts = fields.Integer(help="Tries that failed.")
    next_attempt_at = fields.Datetime("Next Try")

    _sql_constraints = [
        ("event_unique", "UNIQUE(channel_id, event_id)", "An event is recorded once per channel."),
    ]

    def init(self):
        # the retry cron's query; handled events, nearly every row, stay out of the index
        tools.create_index(
            self.env.cr,
            "messenger_webhook_event_due_idx",
            self._table,
            ["next_attempt_at"],
            where="state = 'retry'",
        )

    @api.depends("payload")
    def _compute_payload_text(self):
        for event in self:
            event.payload_text = json.dumps(event.payload, indent=2, ensure_ascii=False) if event.payload else False

    @api.model
    def _claim(self, channel, event):
        """Record the event; return its row id, or None when it was already recorded (a replay)."""
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    """INSERT INTO messenger_webhook_event (channel_id, company_id, event_id, kind, state,
                                                           create_date, write_date, create_uid, write_uid)
                       VALUES (%s, %s, %s, %s, 'done', now() at time zone 'utc', now() at time zone 'utc', %s, %s)
                       ON CONFLICT (channel_id, event_id) DO NOTHING RETURNING id""",
                    (channel.id, channel.company_id.id, event.event_id, event.kind, self.env.uid, self.env.uid),
                    log_exceptions=False,
                )
                row = self.env.cr.fetchone()
                return row[0] if row else None
        except psycopg2.errors.SerializationFailure:
            # A request with the same event (the provider's retry racing its original)
            # recorded it and committed after our transaction began: a replay. Without
            # this, Odoo would run the whole request again after a random sleep.
            return None

    # -- failed events -------------------------------------------------------------------
    def _param(self, key, default):
        return float(self.env["ir.config_parameter"].sudo().get_param(f"messenger_marketing.{key}", default))

    def _keep_failed(self, event, error):
        """The first try of this (claimed) row failed: keep the event for the retry cron."""
        self.ensure_one()
        self._record_failure(error, payload=_without_nul(dataclasses.asdict(event)))

    def _record_failure(self, error, **vals):
        attempts = self.attempts + 1
        if attempts >= self._param("webhook_max_attempts", 8):
            vals.update(state="failed", next_attempt_at=False)
        else:
            delay = min(self._param("webhook_retry_base_seconds", 60) * 2 ** (attempts - 1), 6 * 3600.0)
            vals.update(state="retry", next_attempt_at=fields.Datetime.now() + timedelta(seconds=delay))
        self.write({**vals, "attempts": attempts, "error": error})

    def _retry_locked(self):
        """Handle a kept event again, in the caller's transaction; its row is locked by the caller."""
        self.ensure_one()
        names = {f.name for f in dataclasses.fields(InboundEvent)}
        event = InboundEvent(**{k: v for k, v in (self.payload or {}).items() if k in names})
        error = self.env["messenger.inbound"]._handle_event(self.channel_id, event)
        if error:
            self._record_failure(error)
        else:
            self.write({"state": "done", "payload": False, "error": False, "next_attempt_at": False})

    def _lock(self, where, params, limit=None):
        """Rows of kept events that no other transaction holds, locked for this one."""
        self.env.flush_all()
        query = f"SELECT id FROM messenger_webhook_event WHERE {where} ORDER BY next_attempt_at, id"
        if limit:
            query += f" LIMIT {int(limit)}"
        self.env.cr.execute(query + " FOR UPDATE SKIP LOCKED", params)
        return self.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _cron_retry(self, time_budget=None):
        """Retry the kept events that are due, each in a transaction of its own (outside
        tests), so that two workers never handle one twice and a handled event is marked
        done in the transaction that handled it."""
        self = self.sudo()  # noqa: PLW0642 - the cron acts for every company
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        deadline = time.monotonic() + (time_budget or self._param("webhook_retry_time_budget", 50))
        seen = set()
        while time.monotonic() < deadline:
            if auto_commit:
                self.env.cr.commit()  # each event in a transaction of its own
                # under READ COMMITTED, a row that another worker handled since our
                # snapshot is skipped, not a serialization error (Odoo's REPEATABLE READ)
                self.env.cr.execute("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            event = self._lock(
                "state = 'retry' AND next_attempt_at <= %s AND NOT (id = ANY(%s::int[]))",
                (fields.Datetime.now(), list(seen)),
                limit=1,
            )
            if not event:
                break
            seen.add(event.id)  # a delay of 0 would make it due again at once
            event._retry_locked()
        if auto_commit:
            self.env.cr.commit()

    def action_retry(self):
        """Retry now, on a manager's request: also an event that used up its tries."""
        check_group(self, MANAGER)
        events = self.sudo()._lock("id = ANY(%s::int[]) AND state IN ('retry', 'failed')", (self.ids,))
        for event in events:
            event._retry_locked()
        return True

    @api.autovacuum
    def _gc_old_events(self):
        # Providers retry for hours, not weeks: a month of ids is plenty to refuse replays.
        # An event that is not handled yet stays, whatever its age: it is the customer's message.
        self.env.cr.execute(
            """DELETE FROM messenger_webhook_event
               WHERE state = 'done' AND create_date < now() at time zone 'utc' - interval '30 days'"""
        )
