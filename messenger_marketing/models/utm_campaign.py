from odoo import api, fields, models


class UtmCampaign(models.Model):
    _inherit = "utm.campaign"

    mailing_messenger_ids = fields.One2many(
        "mailing.mailing",
        "campaign_id",
        domain=[("mailing_type", "=", "messenger")],
        string="Messenger Campaigns",
        groups="mass_mailing.group_mass_mailing_user",
    )
    ab_testing_mailings_messenger_count = fields.Integer(
        "A/B Test Messenger Campaigns #", compute="_compute_ab_testing_mailings_messenger_count"
    )
    # as SMS marketing's ab_testing_sms_winner_selection: a messenger has no "open", it has "read"
    ab_testing_messenger_winner_selection = fields.Selection(
        [
            ("manual", "Manual"),
            ("opened_ratio", "Highest Read Rate"),
            ("clicks_ratio", "Highest Click Rate"),
            ("replied_ratio", "Highest Reply Rate"),
        ],
        string="Messenger Winner Selection",
        default="clicks_ratio",
        help="How the version sent to the remaining recipients is chosen at the scheduled time.",
    )

    @api.depends("mailing_messenger_ids.ab_testing_enabled")
    def _compute_ab_testing_mailings_messenger_count(self):
        counts = dict(
            self.env["mailing.mailing"]._read_group(
                [
                    ("campaign_id", "in", self.ids),
                    ("mailing_type", "=", "messenger"),
                    ("ab_testing_enabled", "=", True),
                ],
                ["campaign_id"],
                ["__count"],
            )
        )
        for campaign in self:
            campaign.ab_testing_mailings_messenger_count = counts.get(campaign._origin, 0)

    @api.model
    def _cron_process_mass_mailing_ab_testing(self):
        """Odoo's A/B test cron, for messenger versions too: at the scheduled time, the
        version with the best rate among those done goes to the recipients not tested."""
        campaigns = super()._cron_process_mass_mailing_ab_testing()
        messenger = self.search(
            [
                ("ab_testing_schedule_datetime", "<=", fields.Datetime.now()),
                ("ab_testing_messenger_winner_selection", "!=", "manual"),
                ("ab_testing_completed", "=", False),
            ]
        )
        for campaign in messenger:
            versions = campaign.mailing_messenger_ids.filtered("ab_testing_enabled")
            if versions.filtered(lambda m: m.state == "done"):
                versions.action_send_winner_mailing()
        return campaigns | messenger
