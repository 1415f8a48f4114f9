import psycopg2

from odoo import api, fields, models


class MessengerWebhookEvent(models.Model):
    """One row per provider event, so a retried or replayed webhook is handled once."""

    _name = "messenger.webhook.event"
    _description = "Messenger Webhook Event"
    _order = "id desc"

    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    event_id = fields.Char("Provider Event ID", required=True)
    kind = fields.Char()

    _sql_constraints = [
        ("event_unique", "UNIQUE(channel_id, event_id)", "An event is recorded once per channel."),
    ]

    @api.model
    def _claim(self, channel, event):
        """Record the event; False when it was already recorded (a replay)."""
        try:
            with self.env.cr.savepoint():
                self.env.cr.execute(
                    """INSERT INTO messenger_webhook_event (channel_id, event_id, kind, create_date, write_date,
                                                           create_uid, write_uid)
                       VALUES (%s, %s, %s, now() at time zone 'utc', now() at time zone 'utc', %s, %s)
                       ON CONFLICT (channel_id, event_id) DO NOTHING RETURNING id""",
                    (channel.id, event.event_id, event.kind, self.env.uid, self.env.uid),
                    log_exceptions=False,
                )
                return bool(self.env.cr.fetchone())
        except psycopg2.errors.SerializationFailure:
            # A request with the same event (the provider's retry racing its original)
            # recorded it and committed after our transaction began: a replay. Without
            # this, Odoo would run the whole request again after a random sleep.
            return False

    @api.autovacuum
    def _gc_old_events(self):
        # Providers retry for hours, not weeks: a month of ids is plenty to refuse replays.
        self.env.cr.execute(
            "DELETE FROM messenger_webhook_event WHERE create_date < now() at time zone 'utc' - interval '30 days'"
        )
