from odoo import api, fields, models

# The kinds of message that go on through another channel when one cannot deliver them.
# Marketing never does: a person gets campaigns only where they subscribed to them.
FALLBACK_KINDS = ("transactional", "service")


class MessengerRoute(models.Model):
    """One step of a company's (or one customer's) order of channels for a kind of
    message: the first channel where the customer has a contact that may receive it takes
    the message, and when it cannot deliver it, the next one does."""

    _name = "messenger.route"
    _description = "Messenger Channel Preference"
    _order = "kind, partner_id, sequence, id"
    _check_company_auto = True

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company, index=True)
    partner_id = fields.Many2one(
        "res.partner",
        "Customer",
        ondelete="cascade",
        index="btree_not_null",
        help="The customer's own order, ahead of the company's; empty for the company's order.",
    )
    kind = fields.Selection(
        [("transactional", "Order updates"), ("service", "Conversation")],
        "Messages",
        required=True,
        default="transactional",
    )
    sequence = fields.Integer(default=10)
    medium = fields.Selection(
        [("messenger", "Messenger channel"), ("email", "E-mail"), ("sms", "SMS")],
        "Through",
        required=True,
        default="messenger",
        help="E-mail and SMS are the last links, after every messenger channel: through Odoo's own mail and SMS "
        "(with the SMS app installed), to the customer's address or number.",
    )
    channel_id = fields.Many2one("messenger.channel", ondelete="cascade", check_company=True)

    _sql_constraints = [
        (
            "channel_once",
            # an empty customer (the company's order) or channel (e-mail, SMS) is a value here
            "UNIQUE NULLS NOT DISTINCT (company_id, partner_id, kind, medium, channel_id)",
            "A channel comes once in an order.",
        ),
        (
            "channel_for_messenger",
            "CHECK(medium != 'messenger' OR channel_id IS NOT NULL)",
            "Choose the messenger channel.",
        ),
    ]

    @api.model
    def _channel_order(self, partners, kind, company):
        """{partner id: [channel id, or "email" / "sms"]}: each partner's own order of
        channels for ``kind`` (theirs, else their commercial partner's), else the
        company's; [] where none is set."""
        routes = self.sudo().search(
            [
                ("kind", "=", kind),
                ("company_id", "=", company.id if company else self.env.company.id),
                ("partner_id", "in", [False, *(partners | partners.commercial_partner_id).ids]),
            ]
        )
        by_partner = {}
        for route in routes:
            step = route.channel_id.id if route.medium == "messenger" else route.medium
            by_partner.setdefault(route.partner_id.id, []).append(step)
        company_order = by_partner.get(False, [])
        return {
            partner.id: by_partner.get(partner.id) or by_partner.get(partner.commercial_partner_id.id) or company_order
            for partner in partners
        }
