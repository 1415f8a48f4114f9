from odoo import api, fields, models
from odoo.exceptions import AccessError

# Who changes a consent, by the way it changed: the person themself, the provider on
# their behalf (a block, a refusal of marketing), or a user in Odoo.
ACTOR_BY_METHOD = {"provider": "provider", "manual": "user"}


class MessengerConsentLog(models.Model):
    """Append-only: a line is written with the change it records and never altered, by
    any group (the access rules give read only; the code creates lines as superuser)."""

    _name = "messenger.consent.log"
    _description = "Messenger Consent Log"
    _order = "create_date desc, id desc"
    _log_access = True

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True)
    state = fields.Selection(
        [("subscribed", "Subscribed"), ("unsubscribed", "Unsubscribed"), ("blocked", "Blocked the bot")],
        required=True,
    )
    method = fields.Selection(
        [
            ("start", "Started the bot"),
            ("deep_link", "Deep link"),
            ("confirmed", "Confirmed in the customer's first chat"),
            ("phone", "Shared phone number"),
            ("stop_word", "Stop word"),
            ("button", "Unsubscribe button"),
            ("provider", "Reported by the provider"),
            ("manual", "Changed in Odoo"),
        ],
        required=True,
    )
    actor = fields.Selection(
        [("customer", "Customer"), ("provider", "Provider"), ("user", "Odoo user")],
        "Changed By",
        compute="_compute_actor",
        store=True,
    )
    user_id = fields.Many2one("res.users", "User", ondelete="set null", help="The Odoo user who made the change.")
    mailing_id = fields.Many2one(
        "mailing.mailing",
        "Campaign",
        index="btree_not_null",
        ondelete="set null",
        help="The campaign whose message the person answered by unsubscribing.",
    )
    source = fields.Char(help="What triggered the change: the words, the link, the user.")

    @api.depends("method")
    def _compute_actor(self):
        for line in self:
            line.actor = ACTOR_BY_METHOD.get(line.method, "customer")

    def write(self, vals):
        raise AccessError(self.env._("The consent log is append-only: its lines cannot be changed."))

    def unlink(self):
        raise AccessError(self.env._("The consent log is append-only: its lines cannot be deleted."))
