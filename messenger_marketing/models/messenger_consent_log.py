from odoo import fields, models


class MessengerConsentLog(models.Model):
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
            ("phone", "Shared phone number"),
            ("stop_word", "Stop word"),
            ("button", "Unsubscribe button"),
            ("provider", "Reported by the provider"),
            ("manual", "Changed in Odoo"),
        ],
        required=True,
    )
    mailing_id = fields.Many2one(
        "mailing.mailing",
        "Campaign",
        index="btree_not_null",
        ondelete="set null",
        help="The campaign whose message the person answered by unsubscribing.",
    )
    source = fields.Char(help="What triggered the change: the words, the link, the user.")
