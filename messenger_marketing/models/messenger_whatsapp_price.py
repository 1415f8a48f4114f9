from odoo import api, fields, models

from .messenger_whatsapp_template import CATEGORIES


class MessengerWhatsappPrice(models.Model):
    """What Meta charges for a delivered WhatsApp template message, by the template's
    category and the recipient's country (the country code of their number), to estimate
    a campaign's cost before launch. Meta changes its rates every quarter: a manager keeps
    this table up to date from Meta's rate card. No company of its own: the rates are
    Meta's, the same for every company of the database."""

    _name = "messenger.whatsapp.price"
    _description = "WhatsApp Template Message Price"
    _order = "country_id, category"

    country_id = fields.Many2one(
        "res.country", "Recipient Country", help="Empty: every country without a price of its own."
    )
    category = fields.Selection(CATEGORIES, required=True)
    price = fields.Float("Price (USD)", digits=(12, 4), required=True, help="Per delivered template message.")
    effective_date = fields.Date("Rates of", help="The date of the rate card the price comes from.")

    _sql_constraints = [
        (
            "country_category_unique",
            "UNIQUE NULLS NOT DISTINCT (country_id, category)",
            "A country has one price per template category.",
        ),
        ("price_positive", "CHECK(price >= 0)", "A price cannot be negative."),
    ]

    @api.depends("country_id", "category")
    def _compute_display_name(self):
        labels = dict(CATEGORIES)
        for price in self:
            country = price.country_id.name or self.env._("Other countries")
            price.display_name = f"{country}: {labels.get(price.category, '')}"
