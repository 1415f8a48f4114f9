"""Messenger campaigns as a mailing type of Odoo's Email Marketing (like SMS marketing).

Launching writes every recipient's trace and message in one INSERT … SELECT: no
per-recipient ORM work and no recipient ids passed through a string, so 100,000
recipients take seconds in bounded memory. Consent is checked at launch (only subscribed
contacts) and again by the dispatcher just before each send.
"""

from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import outbox
from ..core.costs import TELEGRAM_PAID_BROADCAST_STARS
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
    messenger_has_telegram = fields.Boolean(compute="_compute_messenger_has_whatsapp")
    messenger_paid_broadcast = fields.Boolean(
        "Paid Broadcast",
        help="On Telegram channels: up to 1,000 messages per second instead of about 30, for 0.1 Telegram Stars "
        "per message, taken from the bot's balance.",
    )
    messenger_stars_budget = fields.Float(
        "Stars Budget", help="The campaign pauses before its paid messages would cost more Stars. 0: no budget."
    )
    messenger_stars_spent = fields.Float("Stars Spent", compute="_compute_messenger_stats")
    messenger_cost_stars = fields.Float(
        "Expected Cost (Stars)", compute="_compute_messenger_reachable", help="Telegram paid broadcasts."
    )
    messenger_cost_usd = fields.Float(
        "Expected Cost (USD)",
        compute="_compute_messenger_reachable",
        digits=(12, 4),
        help="WhatsApp template messages to the reachable contacts outside their 24-hour window, at the prices of "
        "Messenger › Configuration › WhatsApp Prices.",
    )
    ab_testing_mailings_messenger_count = fields.Integer(related="campaign_id.ab_testing_mailings_messenger_count")
    ab_testing_messenger_winner_selection = fields.Selection(
        related="campaign_id.ab_testing_messenger_winner_selection", default="clicks_ratio", readonly=False, copy=True
    )

    @api.depends("messenger_channel_ids")
    def _compute_messenger_has_whatsapp(self):
        for mailing in self:
            channels = mailing.messenger_channel_ids
            mailing.messenger_has_whatsapp = any(c._provider_class().has_templates for c in channels)
            mailing.messenger_has_telegram = "telegram" in channels.mapped("provider")

    def _messenger_paid_channels(self):
        """The campaign's channels that send it as a Telegram paid broadcast."""
        if not self.messenger_paid_broadcast:
            return self.env["messenger.channel"]
        return self.messenger_channel_ids.filtered(lambda c: c.provider == "telegram")

    def _messenger_wa_template_channels(self):
        """The channels of the WhatsApp template's Business Account: only they send it."""
        return self.messenger_channel_ids.filtered(
            lambda c: (
                c._provider_class().has_templates
                and c.whatsapp_account_id == self.messenger_whatsapp_template_id.account_id
            )
        )

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

    @api.depends("mailing_domain", "mailing_model_id", "messenger_channel_ids", "contact_list_ids")
    def _compute_messenger_reachable(self):
        for mailing in self:
            if mailing.mailing_type != "messenger" or not mailing.mailing_model_real:
                mailing.messenger_reachable_count = mailing.messenger_cost_stars = mailing.messenger_cost_usd = 0
                continue
            self.env.flush_all()
            # a read of the form: the domain's query inline, no temporary table (DDL)
            domain_query = self.env[mailing.mailing_model_real]._search(mailing._get_recipients_domain()).subselect()
            # its values quoted by the driver; its "%" escaped for the named parameters below
            ids = self.env.cr.mogrify(domain_query.code, domain_query.params).decode().replace("%", "%%")
            ctes, params = mailing._messenger_candidates_sql(ids)
            mailing.messenger_reachable_count, mailing.messenger_cost_stars, mailing.messenger_cost_usd = (
                mailing._messenger_estimate(ctes, params)
            )

    def _messenger_estimate(self, ctes, params):
        """(reachable, Stars, USD) before launch, from one query over the candidates: each
        paid broadcast's Stars, and for each WhatsApp recipient outside their 24-hour
        window (who gets the template) the price of its category in their country, the
        longest country code that starts their number, else the price for other countries.
        Countries that share a code (+1, +7): the partner's country, else the price entered
        first, so that an estimate does not change from one reading to the next."""
        wa_channels = self._messenger_wa_template_channels().ids if self.messenger_whatsapp_template_id else []
        params = {
            **params,
            "paid_channels": self._messenger_paid_channels().ids,
            "wa_channels": wa_channels,
            "category": self.messenger_whatsapp_template_id.category or "marketing",
            "window_start": fields.Datetime.now() - timedelta(hours=24),
        }
        price = "NULL::numeric"
        lateral = ""
        if wa_channels:
            price = "wa.price"
            lateral = """
                LEFT JOIN messenger_contact c ON c.id = cd.contact_id AND cd.channel_id = ANY(%(wa_channels)s)
                     AND (c.last_inbound_at IS NULL OR c.last_inbound_at < %(window_start)s)
                LEFT JOIN res_partner rp ON rp.id = c.partner_id
                LEFT JOIN LATERAL (
                    SELECT p.price FROM messenger_whatsapp_price p LEFT JOIN res_country rc ON rc.id = p.country_id
                    WHERE p.category = %(category)s
                      AND (p.country_id IS NULL OR c.chat_id LIKE rc.phone_code::text || '%%')
                    ORDER BY length(rc.phone_code::text) DESC NULLS LAST, (rc.id = rp.country_id) DESC NULLS LAST, p.id
                    LIMIT 1
                ) wa ON c.id IS NOT NULL"""
        self.env.cr.execute(
            f"""WITH {ctes}
                SELECT count(*), count(*) FILTER (WHERE cd.channel_id = ANY(%(paid_channels)s)),
                       COALESCE(sum({price}), 0)
                FROM candidates cd {lateral}""",
            params,
        )
        reachable, paid, usd = self.env.cr.fetchone()
        return reachable, paid * TELEGRAM_PAID_BROADCAST_STARS, float(usd)

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
                          count(*) FILTER (WHERE m.paid_broadcast AND m.state = ANY(%(sent)s)),
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
            queued, sent, delivered, read, failed, clicked, replied, paid, total = stats.get(mailing.id, (0,) * 9)
            mailing.messenger_stars_spent = paid * TELEGRAM_PAID_BROADCAST_STARS
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

    # -- A/B tests: Odoo's, with the messenger's versions and measures (as SMS marketing) --
    def _get_ab_testing_siblings_mailings(self):
        if self.mailing_type != "messenger":
            return super()._get_ab_testing_siblings_mailings()
        return self.campaign_id.mailing_messenger_ids.filtered("ab_testing_enabled")

    def _get_ab_testing_winner_selection(self):
        result = super()._get_ab_testing_winner_selection()
        if self.mailing_type == "messenger":
            selection = self._fields["ab_testing_messenger_winner_selection"]._description_selection(self.env)
            result.update(
                {
                    "value": self.campaign_id.ab_testing_messenger_winner_selection,
                    "description": dict(selection).get(self.ab_testing_messenger_winner_selection),
                }
            )
        return result

    def action_send_winner_mailing(self):
        messenger = self.filtered(lambda m: m.mailing_type == "messenger")
        # Odoo picks the winner among the versions as superuser, then copies and launches
        # it so: past _messenger_check_editor, which is therefore checked here
        if messenger:
            (messenger | messenger[0]._get_ab_testing_siblings_mailings())._messenger_check_winner()
        return super().action_send_winner_mailing()

    def action_select_as_winner(self):
        self.filtered(lambda m: m.mailing_type == "messenger")._messenger_check_winner()
        return super().action_select_as_winner()

    def _messenger_check_winner(self):
        """The winner goes to the rest of the audience: a Messenger Manager's choice, of a
        test still waiting for it (else Odoo's ValueError, an error without an answer)."""
        self._messenger_check_editor()
        if any(not m.ab_testing_enabled or not m.campaign_id or m.ab_testing_completed for m in self):
            raise UserError(_("Only a version of an A/B test still waiting for its winner can be the winner."))

    def _get_ab_testing_description_modifying_fields(self):
        return [*super()._get_ab_testing_description_modifying_fields(), "ab_testing_messenger_winner_selection"]

    def _get_ab_testing_description_values(self):
        values = super()._get_ab_testing_description_values()
        if self.mailing_type == "messenger":
            values["ab_testing_count"] = self.ab_testing_mailings_messenger_count
        return values

    def _get_default_ab_testing_campaign_values(self, values=None):
        campaign_values = super()._get_default_ab_testing_campaign_values(values)
        if self.mailing_type == "messenger":
            campaign_values["ab_testing_messenger_winner_selection"] = self.ab_testing_messenger_winner_selection
        return campaign_values

    # -- audience ----------------------------------------------------------------------
    def _messenger_audience_sql(self, ids):
        """SQL giving (res_id, partner_id, contact_id) for the records of the recipients
        model that ``ids`` (SQL giving their ids) selects; one of partner_id / contact_id
        is set, or neither for a record that names nobody (a cancelled trace)."""
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
                      FROM mailing_contact mc
                      LEFT JOIN res_partner p ON p.email_normalized = mc.email_normalized AND p.active
                      WHERE mc.id IN ({ids})"""
        if "partner_id" in model._fields and model._fields["partner_id"].store:
            return f"SELECT id AS res_id, partner_id, NULL::int AS contact_id FROM {model._table} WHERE id IN ({ids})"
        raise UserError(_("Messenger campaigns need recipients linked to a contact (a partner field)."))

    def _messenger_audience_table(self, res_ids=None):
        """Put the recipients' ids in a temporary table: given ids, or straight from the
        mailing's domain in SQL, so that no id list crosses into Python."""
        self.env.cr.execute("DROP TABLE IF EXISTS messenger_launch_audience")
        if res_ids is not None:
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

    def _messenger_campaign_mailings(self):
        """The mailings whose recipients this one leaves out: itself (a launch resumes),
        and the other versions of its A/B test (nobody gets two versions)."""
        if self.ab_testing_enabled and self.campaign_id:
            return self | self._get_ab_testing_siblings_mailings()
        return self

    def _messenger_candidates_sql(self, ids=AUDIENCE_TABLE):
        """The launch's common table expressions, as (SQL, params): ``audience``, the
        recipients that this campaign (its A/B versions included) has no trace for yet,
        ``reachable``, the subscribed contacts on its active channels, and
        ``candidates``, one row per person to write to: the best reachable contact, once
        per partner, and none that this campaign already wrote to.

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
        candidates = f"""
            SELECT DISTINCT ON (COALESCE(c.partner_id, -c.id))
                   c.res_id, c.id AS contact_id, c.channel_id, c.partner_id
            FROM ({matches}) c
            WHERE NOT EXISTS (SELECT 1 FROM messenger_message m JOIN messenger_contact mc ON mc.id = m.contact_id
                              WHERE m.mailing_id = ANY(%(mailings)s)
                                AND (m.contact_id = c.id OR mc.partner_id = c.partner_id))
            ORDER BY COALESCE(c.partner_id, -c.id), c.last_message_at DESC NULLS LAST, c.id DESC"""
        if self.mailing_model_real == "mailing.contact":
            # one list contact can share its e-mail with two partners: one message for it
            candidates = f"SELECT DISTINCT ON (res_id) * FROM ({candidates}) one ORDER BY res_id, contact_id"
        ctes = f"""
            audience AS NOT MATERIALIZED (
                SELECT a.* FROM ({self._messenger_audience_sql(ids)}) a
                WHERE NOT EXISTS (SELECT 1 FROM mailing_trace t
                                  WHERE t.mass_mailing_id = ANY(%(mailings)s) AND t.model = %(model)s
                                    AND t.res_id = a.res_id)),
            reachable AS NOT MATERIALIZED ({reachable}),
            candidates AS ({candidates})"""
        mailings = self._messenger_campaign_mailings().ids if self.id else [0]
        return ctes, {
            "channels": self.messenger_channel_ids.ids,
            "mailings": mailings,
            "model": self.mailing_model_real,
        }

    def _messenger_skipped_sql(self):
        """The ``skipped`` expression (after _messenger_candidates_sql's): each recipient of
        ``audience`` that gets no message, once, with the reason, as Odoo's SMS marketing
        cancels a recipient's trace (blacklisted, opted out, duplicate…). Only these rows
        are looked at contact by contact; the reached ones are not."""
        if self.mailing_model_real == "messenger.contact":
            reason = """CASE WHEN NOT (c.channel_id = ANY(%(channels)s) AND ch.active) THEN 'messenger_other_channel'
                             WHEN c.state = 'unsubscribed' THEN 'messenger_unsubscribed'
                             WHEN c.state = 'blocked' THEN 'messenger_blocked'
                             ELSE 'messenger_duplicate' END"""
            source = """audience a JOIN messenger_contact c ON c.id = a.contact_id
                        JOIN messenger_channel ch ON ch.id = c.channel_id"""
        else:
            # the person's contacts: their own and their commercial partner's
            theirs = """SELECT 1 FROM messenger_contact c JOIN messenger_channel ch ON ch.id = c.channel_id
                        WHERE c.partner_id IN (p.id, p.commercial_partner_id)"""
            chosen = "c.channel_id = ANY(%(channels)s) AND ch.active"
            reason = f"""CASE WHEN p.id IS NULL THEN 'messenger_no_contact'
                              WHEN EXISTS ({theirs} AND {chosen} AND c.state = 'subscribed')
                                   THEN 'messenger_duplicate'
                              WHEN EXISTS ({theirs} AND {chosen} AND c.state = 'unsubscribed')
                                   THEN 'messenger_unsubscribed'
                              WHEN EXISTS ({theirs} AND {chosen} AND c.state = 'blocked') THEN 'messenger_blocked'
                              WHEN EXISTS ({theirs}) THEN 'messenger_other_channel'
                              ELSE 'messenger_no_contact' END"""
            source = "audience a LEFT JOIN res_partner p ON p.id = a.partner_id"
        return f"""
            skipped AS (
                SELECT DISTINCT ON (a.res_id) a.res_id, {reason} AS reason
                FROM {source}
                WHERE NOT EXISTS (SELECT 1 FROM candidates cd WHERE cd.res_id = a.res_id)
                ORDER BY a.res_id, a.partner_id)"""

    # -- who may make and send them -----------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        mailings = super().create(vals_list)
        mailings.filtered(lambda m: m.mailing_type == "messenger")._messenger_check_editor()
        return mailings

    def write(self, vals):
        before = self.filtered(lambda m: m.mailing_type == "messenger")
        if self.env.context.get("messenger_queue_run") and vals.get("state") == "done" and before:
            # Odoo's queue ends a mailing once nothing remains to launch; a messenger
            # campaign ends with its messages' outcomes (_messenger_follow_queue)
            super(MailingMailing, before).write(
                {k: v for k, v in vals.items() if k not in ("state", "sent_date", "kpi_mail_required")}
            )
            result = super(MailingMailing, self - before).write(vals)
        else:
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
        """Write the campaign's traces and messages in one statement: a queued message
        and its trace for each person reached, a cancelled trace with its reason for each
        recipient skipped. Returns the number of messages queued."""
        self.ensure_one()
        self._messenger_check_editor()  # before the raw inserts; the cron runs as superuser
        if not self.messenger_channel_ids or not (self.messenger_body or "").strip():
            raise UserError(_("Choose at least one messenger channel and write the message."))
        self._messenger_check_length()
        if res_ids is None and self.ab_testing_enabled and not self.ab_testing_is_winner_mailing:
            res_ids = self._get_recipients()  # a test version's random share
        self.convert_links()
        self.env.flush_all()
        self._messenger_audience_table(res_ids)
        ctes, params = self._messenger_candidates_sql()
        now = fields.Datetime.now()
        params.update(
            {
                "now": now,
                "mailing": self.id,
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
                "wa_channels": self._messenger_wa_template_channels().ids,
                "paid_channels": self._messenger_paid_channels().ids,
            }
        )
        # The slot of the n-th recipient (campaign rate), then moved into the sending window
        # in the recipient's time zone when it falls outside.
        self.env.cr.execute(
            f"""
            WITH {ctes}, {self._messenger_skipped_sql()},
            cancelled AS (
                INSERT INTO mailing_trace (trace_type, model, res_id, mass_mailing_id, campaign_id, trace_status,
                                           failure_type, create_date, write_date)
                SELECT 'messenger', %(model)s, sk.res_id, %(mailing)s, %(campaign)s, 'cancel', sk.reason,
                       %(now)s, %(now)s
                FROM skipped sk
            ),
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
                                           mailing_trace_id, paid_broadcast, create_date, write_date)
            SELECT pc.channel_id, pc.contact_id, 'out', 'marketing', %(body)s, %(body_format)s,
                   CASE WHEN pc.channel_id = ANY(%(wa_channels)s::int[]) THEN %(wa_template)s::int END, %(image)s,
                   %(attachment)s::int,
                   CASE WHEN %(has_buttons)s THEN
                       (SELECT jsonb_agg(jsonb_build_array(jsonb_build_object(
                               'text', b->>'text', 'url', (b->>'url') || '/m/' || pc.trace_id)))
                        FROM jsonb_array_elements(%(buttons)s::jsonb) b)
                   ELSE '[]'::jsonb END,
                   'queued', md5(random()::text || pc.trace_id::text), 0, -10, pc.due, %(model)s, pc.res_id,
                   %(mailing)s, pc.trace_id, pc.channel_id = ANY(%(paid_channels)s::int[]), %(now)s, %(now)s
            FROM placed pc
            ORDER BY pc.due, pc.n""",
            params,
        )
        queued = self.env.cr.rowcount
        self.env["messenger.message"].invalidate_model()
        self.env["mailing.trace"].invalidate_model()
        self.env.ref("messenger_marketing.ir_cron_messenger_dispatch")._trigger()
        self.write({"state": "sending"})
        self._messenger_follow_queue()
        return queued

    def _messenger_follow_queue(self):
        """A launched campaign is Sending while any of its messages waits in the outbox
        (queued, being sent, or held by a pause), and Done once each has an outcome, as
        Odoo's SMS marketing keeps a mailing Sending while a trace is in process; the end
        sets the sent date. Called by the launch and after each move of their messages."""
        launched = self.filtered(lambda m: m.mailing_type == "messenger" and m.state in ("sending", "done"))
        if not launched:
            return
        self.env["messenger.message"].flush_model(["mailing_id", "state"])
        # one look-up per campaign in the waiting rows' index, however large it is
        self.env.cr.execute(
            """SELECT m.id FROM unnest(%s::int[]) m(id)
               WHERE EXISTS (SELECT 1 FROM messenger_message w
                             WHERE w.mailing_id = m.id AND w.state = ANY(%s))""",
            [launched.ids, list(outbox.WAITING)],
        )
        waiting = self.browse([r[0] for r in self.env.cr.fetchall()])
        launched = launched.with_context(messenger_queue_run=False)
        (launched & waiting).filtered(lambda m: m.state == "done").write({"state": "sending"})
        for mailing in (launched - waiting).filtered(lambda m: m.state == "sending"):
            mailing.write(
                {"state": "done", "sent_date": fields.Datetime.now(), "kpi_mail_required": not mailing.sent_date}
            )

    @api.model
    def _process_mass_mailing_queue(self):
        return super(MailingMailing, self.with_context(messenger_queue_run=True))._process_mass_mailing_queue()

    def _get_remaining_recipients(self):
        if self.mailing_type == "messenger" and self.state == "sending":
            return []  # the launch wrote every recipient's trace in one statement
        return super()._get_remaining_recipients()

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

    @api.model
    def _messenger_within_stars_budget(self, messages):
        """Of a claimed batch of paid broadcasts, those their campaigns' Stars budgets still
        pay for (sent and being sent count); the others go back to the queue and their
        campaign pauses. The campaigns' rows are locked until the claim commits, so two
        dispatchers never spend one budget twice."""
        mailings = messages.mailing_id.filtered("messenger_stars_budget")
        if not mailings:
            return messages
        self.env.cr.execute("SELECT id FROM mailing_mailing WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [mailings.ids])
        messages.flush_recordset(["state"])
        self.env.cr.execute(
            """SELECT mailing_id, count(*) FROM messenger_message
               WHERE mailing_id = ANY(%s) AND paid_broadcast AND state = ANY(%s) GROUP BY mailing_id""",
            [mailings.ids, [*outbox.SENT, "sending"]],
        )
        counted = dict(self.env.cr.fetchall())
        over = self.env["messenger.message"]
        for mailing in mailings:
            batch = messages.filtered(lambda m, mailing=mailing: m.mailing_id == mailing).sorted("id")
            affordable = int(mailing.messenger_stars_budget / TELEGRAM_PAID_BROADCAST_STARS + 1e-9)
            allowed = max(affordable - (counted.get(mailing.id, 0) - len(batch)), 0)
            if allowed < len(batch):
                over |= batch[allowed:]
        if not over:
            return messages
        now = fields.Datetime.now()
        self.env["messenger.message"]._hand_back([(message.id, now) for message in over])
        for mailing in over.mailing_id:
            mailing.action_messenger_pause(
                reason=_(
                    # paid broadcast cannot be turned off while sending: its rows keep it
                    "Paused automatically: the paid broadcast reached its budget of %(budget)s Stars. "
                    "Raise the budget, then resume.",
                    budget=mailing.messenger_stars_budget,
                )
            )
        return messages - over

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
    # why a campaign's launch skipped a recipient (a cancelled trace), as SMS marketing's sms_optout…
    failure_type = fields.Selection(
        selection_add=[
            ("messenger_unsubscribed", "Unsubscribed from the Messenger"),
            ("messenger_blocked", "Blocked the Bot"),
            ("messenger_no_contact", "No Messenger Contact"),
            ("messenger_other_channel", "Not on the Campaign's Channels"),
            ("messenger_duplicate", "Duplicate"),
        ]
    )
    messenger_message_ids = fields.One2many("messenger.message", "mailing_trace_id")
