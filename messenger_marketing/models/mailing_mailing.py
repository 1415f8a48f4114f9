"""Messenger campaigns as a mailing type of Odoo's Email Marketing (like SMS marketing).

Launching writes every recipient's trace and message in one INSERT … SELECT: no
per-recipient ORM work and no recipient ids passed through a string, so 100,000
recipients take seconds in bounded memory. Consent is checked at launch (only subscribed
contacts) and again by the dispatcher just before each send.
"""

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import outbox
from .messenger_access import MANAGER, check_group
from .messenger_media import file_attachment
from .web_url import check_web_urls

# Where a launch puts its recipients' ids (see _messenger_audience_table).
AUDIENCE_TABLE = "SELECT id FROM messenger_launch_audience"


class MailingMailing(models.Model):
    _inherit = "mailing.mailing"

    mailing_type = fields.Selection(selection_add=[("messenger", "Messenger")], ondelete={"messenger": "set default"})
    messenger_channel_ids = fields.Many2many("messenger.channel", string="Messenger Channels")
    messenger_template_id = fields.Many2one(
        "messenger.template", "Start from Template", help="Copies the template's text into the message, to adapt."
    )
    messenger_body = fields.Text("Message", help="Every message also carries the channel's unsubscribe button.")
    messenger_body_format = fields.Selection(
        [("plain", "Plain text"), ("html", "HTML")],
        "Text Format",
        default="plain",
        required=True,
        help="HTML is shown formatted in Telegram and as plain text in the other messengers.",
    )
    messenger_whatsapp_template_id = fields.Many2one(
        "messenger.whatsapp.template",
        "WhatsApp Template",
        domain="[('status', '=', 'approved'), ('channel_id', 'in', messenger_channel_ids)]",
        help="WhatsApp delivers only an approved template to a person who has not written in the last 24 "
        "hours. Without one, those recipients get nothing.",
    )
    messenger_has_whatsapp = fields.Boolean(compute="_compute_messenger_has_whatsapp")
    messenger_image_url = fields.Char("Image URL", help="A picture sent with the message, the text as its caption.")
    messenger_file = fields.Binary(
        "File",
        attachment=True,
        help="Sent as the messenger's document, photo, audio or video, the text as its caption.",
    )
    messenger_file_name = fields.Char("File Name")
    messenger_button_ids = fields.One2many("mailing.messenger.button", "mailing_id", "Link Buttons", copy=True)
    messenger_rate = fields.Float(
        "Max Messages per Second", help="Lower than the channels' own limits, to spread the campaign. 0: no own limit."
    )
    messenger_window_start = fields.Float("Send From (recipient's time)", default=0.0)
    messenger_window_end = fields.Float(
        "Send Until (recipient's time)",
        default=0.0,
        help="Both 0: any time. Messages outside wait for the next window.",
    )
    messenger_paused = fields.Boolean("Paused", readonly=True, copy=False)
    messenger_progress = fields.Float(compute="_compute_messenger_stats")
    messenger_optout_count = fields.Integer("Unsubscribed", compute="_compute_messenger_stats")
    messenger_queued_count = fields.Integer("Messenger: Waiting", compute="_compute_messenger_stats")
    messenger_sent_count = fields.Integer("Messenger: Sent", compute="_compute_messenger_stats")
    messenger_delivered_count = fields.Integer("Messenger: Delivered", compute="_compute_messenger_stats")
    messenger_read_count = fields.Integer("Messenger: Read", compute="_compute_messenger_stats")
    messenger_failed_count = fields.Integer("Messenger: Failed", compute="_compute_messenger_stats")
    messenger_clicked_count = fields.Integer("Messenger: Clicked", compute="_compute_messenger_stats")
    messenger_replied_count = fields.Integer("Messenger: Replied", compute="_compute_messenger_stats")
    messenger_reachable_count = fields.Integer("Reachable Contacts", compute="_compute_messenger_reachable")

    @api.depends("messenger_channel_ids")
    def _compute_messenger_has_whatsapp(self):
        for mailing in self:
            channels = mailing.messenger_channel_ids
            mailing.messenger_has_whatsapp = any(c._provider_class().has_templates for c in channels)

    @api.onchange("messenger_template_id")
    def _onchange_messenger_template_id(self):
        if self.messenger_template_id:
            self.messenger_body = self.messenger_template_id.body
            self.messenger_body_format = self.messenger_template_id.body_format

    def _messenger_check_length(self):
        """A campaign's text is the same for everyone and is not split: it must fit every
        chosen messenger (with its unsubscribe button, and as a caption with a picture)."""
        problems = []
        for channel in self.messenger_channel_ids:
            provider = channel._provider_class()
            text, text_format = provider.prepare_text(self.messenger_body.strip(), self.messenger_body_format)
            # every campaign message carries the unsubscribe button
            limit = provider.text_limit(
                with_buttons=True, with_image=bool(self.messenger_image_url or self.messenger_file)
            )
            if provider.visible_length(text, text_format) > limit:
                problems.append(_("%(channel)s takes at most %(limit)s characters", channel=channel.name, limit=limit))
        if problems:
            raise UserError(
                _(
                    "The message is too long (%(length)s characters): %(problems)s. Shorten it.",
                    length=len(self.messenger_body.strip()),
                    problems="; ".join(problems),
                )
            )

    @api.constrains("messenger_image_url")
    def _check_messenger_image_url(self):
        check_web_urls(self, "messenger_image_url")

    @api.constrains("messenger_body", "messenger_template_id")
    def _check_messenger_body_static(self):
        for mailing in self.filtered(lambda m: m.mailing_type == "messenger"):
            if "{{" in (mailing.messenger_body or ""):
                raise UserError(
                    _("A campaign message is the same for every recipient: replace the {{ … }} placeholders with text.")
                )

    @api.depends("mailing_type")
    def _compute_medium_id(self):
        super()._compute_medium_id()
        medium = None
        for mailing in self.filtered(lambda m: m.mailing_type == "messenger"):
            medium = medium or self.env["utm.medium"]._fetch_or_create_utm_medium(
                "messenger", module="messenger_marketing"
            )
            mailing.medium_id = medium

    def _compute_total(self):
        messenger = self.filtered(lambda m: m.mailing_type == "messenger")
        super(MailingMailing, self - messenger)._compute_total()
        for mailing in messenger:
            mailing.total = mailing.messenger_reachable_count

    @api.depends("mailing_domain", "mailing_model_id", "messenger_channel_ids", "contact_list_ids")
    def _compute_messenger_reachable(self):
        for mailing in self:
            if mailing.mailing_type != "messenger" or not mailing.mailing_model_real:
                mailing.messenger_reachable_count = 0
                continue
            self.env.flush_all()
            # a read of the form: the domain's query inline, no temporary table (DDL)
            domain_query = self.env[mailing.mailing_model_real]._search(mailing._get_recipients_domain()).subselect()
            # its values quoted by the driver; its "%" escaped for the named parameters below
            ids = self.env.cr.mogrify(domain_query.code, domain_query.params).decode().replace("%", "%%")
            query, params = mailing._messenger_candidates_sql(ids)
            self.env.cr.execute(f"SELECT count(*) FROM ({query}) candidates", params)
            mailing.messenger_reachable_count = self.env.cr.fetchone()[0]

    def _compute_messenger_stats(self):
        """Counts from one grouped query over the campaign's messages and traces, never
        from loading them: a campaign can have 100,000."""
        stats = {}
        if self.ids:
            self.env.flush_all()
            self.env.cr.execute(
                """SELECT m.mailing_id,
                          count(*) FILTER (WHERE m.state = ANY(%(waiting)s)),
                          count(*) FILTER (WHERE m.state = ANY(%(sent)s)),
                          count(*) FILTER (WHERE m.state = ANY(%(delivered)s)),
                          count(*) FILTER (WHERE m.state = 'read'),
                          count(*) FILTER (WHERE m.state = ANY(%(failed)s)),
                          count(*) FILTER (WHERE t.links_click_datetime IS NOT NULL),
                          count(*) FILTER (WHERE t.trace_status = 'reply'),
                          count(*)
                   FROM messenger_message m LEFT JOIN mailing_trace t ON t.id = m.mailing_trace_id
                   WHERE m.mailing_id = ANY(%(ids)s) GROUP BY m.mailing_id""",
                {
                    "ids": self.ids,
                    "waiting": list(outbox.WAITING),
                    "sent": list(outbox.SENT),
                    "delivered": list(outbox.DELIVERED),
                    "failed": list(outbox.FAILED),
                },
            )
            stats = {row[0]: row[1:] for row in self.env.cr.fetchall()}
        for mailing in self:
            queued, sent, delivered, read, failed, clicked, replied, total = stats.get(mailing.id, (0,) * 8)
            mailing.messenger_queued_count = queued
            mailing.messenger_sent_count = sent
            mailing.messenger_delivered_count = delivered
            mailing.messenger_read_count = read
            mailing.messenger_failed_count = failed
            mailing.messenger_clicked_count = clicked
            mailing.messenger_replied_count = replied
            mailing.messenger_progress = 100.0 * (total - queued) / total if total else 0.0
        counts = dict(
            self.env["messenger.consent.log"]
            .sudo()
            ._read_group([("mailing_id", "in", self.ids), ("state", "=", "unsubscribed")], ["mailing_id"], ["__count"])
        )
        for mailing in self:
            mailing.messenger_optout_count = counts.get(mailing, 0)

    # -- audience ----------------------------------------------------------------------
    def _messenger_audience_sql(self, ids):
        """SQL giving (res_id, partner_id, contact_id) for the records of the recipients
        model that ``ids`` (SQL giving their ids) selects; one of partner_id / contact_id
        is set."""
        model = self.env[self.mailing_model_real]
        if model._name == "messenger.contact":
            return (
                "SELECT id AS res_id, NULL::int AS partner_id, id AS contact_id FROM messenger_contact "
                f"WHERE id IN ({ids})"
            )
        if model._name == "res.partner":
            return (
                f"SELECT id AS res_id, id AS partner_id, NULL::int AS contact_id FROM res_partner WHERE id IN ({ids})"
            )
        if model._name == "mailing.contact":
            # a mailing-list contact reaches the partners with the same e-mail
            return f"""SELECT mc.id AS res_id, p.id AS partner_id, NULL::int AS contact_id
                      FROM mailing_contact mc JOIN res_partner p ON p.email_normalized = mc.email_normalized
                      WHERE mc.id IN ({ids}) AND p.active"""
        if "partner_id" in model._fields and model._fields["partner_id"].store:
            return f"SELECT id AS res_id, partner_id, NULL::int AS contact_id FROM {model._table} WHERE id IN ({ids})"
        raise UserError(_("Messenger campaigns need recipients linked to a contact (a partner field)."))

    def _messenger_audience_table(self, res_ids=None):
        """Put the recipients' ids in a temporary table: given ids, or straight from the
        mailing's domain in SQL, so that no id list crosses into Python."""
        self.env.cr.execute("DROP TABLE IF EXISTS messenger_launch_audience")
        if res_ids:
            self.env.cr.execute(
                "CREATE TEMP TABLE messenger_launch_audience ON COMMIT DROP AS SELECT unnest(%s::int[]) AS id",
                [list(res_ids)],
            )
        else:
            query = self.env[self.mailing_model_real]._search(self._get_recipients_domain())
            self.env.cr.execute(
                SQL("CREATE TEMP TABLE messenger_launch_audience ON COMMIT DROP AS %s", query.subselect())
            )
        self.env.cr.execute("ANALYZE messenger_launch_audience")

    def _messenger_candidates_sql(self, ids=AUDIENCE_TABLE):
        """One row per person to write to: the best subscribed contact on the campaign's
        channels, once per partner, excluding those this campaign already has.

        The rule is messenger.contact._reachable_by_partner's, the one of every feature,
        written in SQL for launches of 100,000 recipients (test_reach checks that both pick
        the same contact): the recipient's own contacts, else their commercial partner's;
        the one used last, then the newest; subscribed (what _can_receive asks of a
        marketing message) on an active channel of the campaign."""
        # plain equalities only, so PostgreSQL can hash-join 100,000 rows (an OR cannot)
        reachable = """SELECT c.id, c.partner_id, c.channel_id, c.last_message_at FROM messenger_contact c
                       JOIN messenger_channel ch ON ch.id = c.channel_id AND ch.active
                       WHERE c.state = 'subscribed' AND c.channel_id = ANY(%(channels)s)"""
        if self.mailing_model_real == "messenger.contact":
            matches = "SELECT a.res_id, c.* FROM audience a JOIN reachable c ON c.id = a.contact_id"
        else:
            # the partner whose contacts reach the recipient: themselves if they have one
            matches = """SELECT a.res_id, c.* FROM audience a
                         JOIN res_partner p ON p.id = a.partner_id
                         LEFT JOIN (SELECT DISTINCT partner_id FROM reachable) own ON own.partner_id = p.id
                         JOIN reachable c ON c.partner_id = COALESCE(own.partner_id, p.commercial_partner_id)"""
        query = f"""
            WITH audience AS NOT MATERIALIZED ({self._messenger_audience_sql(ids)}),
                 reachable AS NOT MATERIALIZED ({reachable})
            SELECT DISTINCT ON (COALESCE(c.partner_id, -c.id))
                   c.res_id, c.id AS contact_id, c.channel_id, c.partner_id
            FROM ({matches}) c
            WHERE NOT EXISTS (SELECT 1 FROM messenger_message m JOIN messenger_contact mc ON mc.id = m.contact_id
                              WHERE m.mailing_id = %(mailing)s
                                AND (m.contact_id = c.id OR mc.partner_id = c.partner_id))
            ORDER BY COALESCE(c.partner_id, -c.id), c.last_message_at DESC NULLS LAST, c.id DESC"""
        return query, {"channels": self.messenger_channel_ids.ids, "mailing": self.id or 0}

    # -- who may make and send them -----------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        mailings = super().create(vals_list)
        mailings.filtered(lambda m: m.mailing_type == "messenger")._messenger_check_editor()
        return mailings

    def write(self, vals):
        before = self.filtered(lambda m: m.mailing_type == "messenger")
        result = super().write(vals)
        (before | self.filtered(lambda m: m.mailing_type == "messenger"))._messenger_check_editor()
        return result

    def _messenger_check_editor(self):
        """A messenger campaign is a Messenger Manager's, through channels they may read:
        else an Email Marketing user could send any text to every subscriber of any bot.
        Checked after the write, whose values are then undone with the transaction."""
        if self and not self.env.su:
            check_group(self, MANAGER, "write")
            self.messenger_channel_ids.check_access("read")

    # -- launch ------------------------------------------------------------------------
    def _action_send_mail(self, res_ids=None):
        messenger = self.filtered(lambda m: m.mailing_type == "messenger")
        for mailing in messenger:
            mailing._messenger_launch(res_ids)
        return super(MailingMailing, self - messenger)._action_send_mail(res_ids)

    def _messenger_launch(self, res_ids=None):
        self.ensure_one()
        self._messenger_check_editor()  # before the raw inserts; the cron runs as superuser
        if not self.messenger_channel_ids or not (self.messenger_body or "").strip():
            raise UserError(_("Choose at least one messenger channel and write the message."))
        self._messenger_check_length()
        if not res_ids and self.ab_testing_enabled:
            res_ids = self._get_recipients()  # A/B tests pick a random sample
        self.convert_links()
        self.env.flush_all()
        self._messenger_audience_table(res_ids)
        candidates, params = self._messenger_candidates_sql()
        now = fields.Datetime.now()
        params.update(
            {
                "now": now,
                "model": self.mailing_model_real,
                "body": self.messenger_body.strip(),
                "campaign": self.campaign_id.id or None,
                "rate": self.messenger_rate or 0.0,
                "start": self.messenger_window_start,
                "end": self.messenger_window_end,
                "default_tz": self.env.user.tz or "UTC",
                "buttons": self._messenger_button_rows(),
                "has_buttons": bool(self.messenger_button_ids),
                "image": self.messenger_image_url or None,
                "attachment": file_attachment(self, "messenger_file", "messenger_file_name").id or None,
                "body_format": self.messenger_body_format or "plain",
                "wa_template": self.messenger_whatsapp_template_id.id or None,
                # the template goes only to the channels of its WhatsApp Business Account
                "wa_channels": self.messenger_channel_ids.filtered(
                    lambda c: (
                        c._provider_class().has_templates
                        and c.whatsapp_account_id == self.messenger_whatsapp_template_id.account_id
                    )
                ).ids,
            }
        )
        # The slot of the n-th recipient (campaign rate), then moved into the sending window
        # in the recipient's time zone when it falls outside.
        self.env.cr.execute(
            f"""
            WITH candidates AS ({candidates}),
            numbered AS (
                SELECT cd.*, row_number() OVER (ORDER BY cd.contact_id) - 1 AS n,
                       nextval('mailing_trace_id_seq') AS trace_id,
                       COALESCE(tz.name, %(default_tz)s) AS tz
                FROM candidates cd
                LEFT JOIN res_partner p ON p.id = cd.partner_id
                LEFT JOIN pg_timezone_names tz ON tz.name = p.tz
            ),
            planned AS (
                SELECT nb.*, %(now)s::timestamp + CASE WHEN %(rate)s > 0
                           THEN make_interval(secs => nb.n / %(rate)s) ELSE interval '0' END AS slot
                FROM numbered nb
            ),
            placed AS (
                SELECT pl.*, CASE
                    WHEN %(start)s = %(end)s THEN pl.slot
                    ELSE (SELECT CASE
                        WHEN lh >= %(start)s AND lh < %(end)s THEN pl.slot
                        WHEN lh < %(start)s THEN ((date_trunc('day', lt) + make_interval(secs => %(start)s * 3600))
                                                   AT TIME ZONE pl.tz) AT TIME ZONE 'UTC'
                        ELSE ((date_trunc('day', lt) + interval '1 day' + make_interval(secs => %(start)s * 3600))
                              AT TIME ZONE pl.tz) AT TIME ZONE 'UTC' END
                          FROM (SELECT (pl.slot AT TIME ZONE 'UTC') AT TIME ZONE pl.tz AS lt) l,
                               LATERAL (SELECT extract(hour FROM l.lt) + extract(minute FROM l.lt) / 60.0 AS lh) h)
                    END AS due
                FROM planned pl
            ),
            traces AS (
                -- what the ORM would write but create_uid/write_uid: the campaign says who
                -- launched it, and their foreign-key checks cost 0.9 s more per 100,000
                -- recipients on both tables (28 per cent more; bench/campaign_enqueue.py, 2026-12-02)
                INSERT INTO mailing_trace (id, trace_type, model, res_id, mass_mailing_id, campaign_id, trace_status,
                                           create_date, write_date)
                SELECT pc.trace_id, 'messenger', %(model)s, pc.res_id, %(mailing)s, %(campaign)s, 'outgoing',
                       %(now)s, %(now)s
                FROM placed pc
            )
            INSERT INTO messenger_message (channel_id, contact_id, direction, kind, body, body_format,
                                           whatsapp_template_id, image_url, attachment_id, buttons, state,
                                           uuid, attempts, priority, next_attempt_at, res_model, res_id, mailing_id,
                                           mailing_trace_id, create_date, write_date)
            SELECT pc.channel_id, pc.contact_id, 'out', 'marketing', %(body)s, %(body_format)s,
                   CASE WHEN pc.channel_id = ANY(%(wa_channels)s::int[]) THEN %(wa_template)s::int END, %(image)s,
                   %(attachment)s::int,
                   CASE WHEN %(has_buttons)s THEN
                       (SELECT jsonb_agg(jsonb_build_array(jsonb_build_object(
                               'text', b->>'text', 'url', (b->>'url') || '/m/' || pc.trace_id)))
                        FROM jsonb_array_elements(%(buttons)s::jsonb) b)
                   ELSE '[]'::jsonb END,
                   'queued', md5(random()::text || pc.trace_id::text), 0, -10, pc.due, %(model)s, pc.res_id,
                   %(mailing)s, pc.trace_id, %(now)s, %(now)s
            FROM placed pc
            ORDER BY pc.due, pc.n""",
            params,
        )
        queued = self.env.cr.rowcount
        self.env["messenger.message"].invalidate_model()
        self.env["mailing.trace"].invalidate_model()
        self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        self.write({"state": "done", "sent_date": now, "kpi_mail_required": not self.sent_date})
        return queued

    def _messenger_button_rows(self):
        """Link buttons as JSON with their tracked short URL; the trace id is appended per
        recipient so a click counts for the person who made it."""
        import json

        return json.dumps(
            [{"text": button.label, "url": button.link_tracker_id.short_url} for button in self.messenger_button_ids]
        )

    def convert_links(self):
        messenger = self.filtered(lambda m: m.mailing_type == "messenger")
        for mailing in messenger:
            for button in mailing.messenger_button_ids:
                button.link_tracker_id = self.env["link.tracker"].search_or_create(
                    [
                        {
                            **mailing._get_link_tracker_values(),
                            "url": button.url,
                        }
                    ]
                )
        return super(MailingMailing, self - messenger).convert_links()

    def action_view_messenger_messages(self):
        """The campaign's messages; from the Failed figure, the failures grouped by reason."""
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_message")
        action["domain"] = [("mailing_id", "=", self.id)]
        if self.env.context.get("messenger_failed"):
            action["domain"] += [("state", "in", outbox.FAILED)]
            action["context"] = {"group_by": ["failure_type", "failure_reason"]}
        return action

    # -- pause, resume, test -------------------------------------------------------------
    def action_messenger_pause(self, reason=None):
        check_group(self, MANAGER, "write")  # before the messages move, in SQL
        for mailing in self.filtered(lambda m: m.mailing_type == "messenger" and not m.messenger_paused):
            self.env["messenger.message"]._move_mailings(mailing, "queued", "held")
            mailing.messenger_paused = True
            mailing.message_post(body=reason or _("Sending paused by %s.", self.env.user.name))
        return True

    def action_messenger_resume(self):
        check_group(self, MANAGER, "write")
        for mailing in self.filtered("messenger_paused"):
            self.env["messenger.message"]._move_mailings(mailing, "held", "queued")
            mailing.messenger_paused = False
            mailing.message_post(body=_("Sending resumed by %s.", self.env.user.name))
        self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        return True

    def action_test(self):
        if self.mailing_type != "messenger":
            return super().action_test()
        return {
            "type": "ir.actions.act_window",
            "name": _("Test Messenger Campaign"),
            "res_model": "mailing.messenger.test",
            "view_mode": "form",
            "target": "new",
            "context": {"default_mailing_id": self.id},
        }

    def _messenger_check_health(self):
        """Pause a campaign whose first messages fail or get blocked too often: better
        than burning the sender's reputation with the provider."""
        if not self:
            return
        self.env.flush_all()
        self.env.cr.execute(
            """
            SELECT mailing_id,
                   count(*) FILTER (WHERE state = ANY(%(finished)s)),
                   count(*) FILTER (WHERE state = 'failed' AND failure_type IN ('blocked', 'rejected'))
            FROM messenger_message WHERE mailing_id = ANY(%(ids)s) GROUP BY mailing_id""",
            {"ids": self.ids, "finished": [*outbox.SENT, "failed"]},
        )
        for mailing_id, finished, bad in self.env.cr.fetchall():
            mailing = self.browse(mailing_id)
            channels = mailing.messenger_channel_ids
            threshold = min(channels.mapped("auto_pause_threshold") or [0])
            sample = max(channels.mapped("auto_pause_min_messages") or [0])
            if mailing.messenger_paused or not threshold or finished < sample or 100.0 * bad / finished < threshold:
                continue
            reason = _(
                "Paused automatically: %(bad)s of the first %(done)s messages were refused or blocked "
                "(threshold %(threshold)s%%). Check the message and the audience, then resume.",
                bad=bad,
                done=finished,
                threshold=threshold,
            )
            mailing.action_messenger_pause(reason=reason)
            mailing.activity_schedule(
                "mail.mail_activity_data_todo",
                user_id=(mailing.user_id or self.env.ref("base.user_admin")).id,
                summary=_("Messenger campaign paused"),
                note=reason,
            )


class MailingMessengerButton(models.Model):
    """A link button of a campaign. No company of its own: Odoo's mailings have none, and
    a button is seen with its mailing, by the same users."""

    _name = "mailing.messenger.button"
    _description = "Messenger Campaign Link Button"
    _order = "sequence, id"

    mailing_id = fields.Many2one("mailing.mailing", required=True, ondelete="cascade")
    sequence = fields.Integer(default=10)
    label = fields.Char(required=True, translate=True)
    url = fields.Char("URL", required=True)
    link_tracker_id = fields.Many2one("link.tracker", readonly=True, copy=False)

    @api.constrains("url")
    def _check_url(self):
        check_web_urls(self, "url")


class MailingTrace(models.Model):
    _inherit = "mailing.trace"

    trace_type = fields.Selection(selection_add=[("messenger", "Messenger")], ondelete={"messenger": "cascade"})
    messenger_message_ids = fields.One2many("messenger.message", "mailing_trace_id")
