from odoo import api, fields, models


class MessengerContentBlock(models.Model):
    """A review, a case or an award that flows show to convince (kept by a manager)."""

    _name = "messenger.content.block"
    _description = "Messenger Content Block"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    kind = fields.Selection([("review", "Review"), ("case", "Case"), ("award", "Award")], required=True)
    text = fields.Text(required=True, translate=True)
    author = fields.Char(translate=True, help="Who wrote the review, or whose case it is.")
    image = fields.Image(max_width=1280, max_height=1280)
    product_tmpl_ids = fields.Many2many(
        "product.template", string="Products", help="Shown for these products; empty: for every product."
    )
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, index=True)

    @api.model
    def _for_product(self, kind, product, company):
        """Blocks of a kind for a product: its own first, then the general ones."""
        blocks = self.sudo().search(
            [("kind", "=", kind), ("company_id", "in", [False, company.id or self.env.company.id])]
        )
        own = blocks.filtered(lambda b: product in b.product_tmpl_ids) if product else blocks.browse()
        return own + blocks.filtered(lambda b: not b.product_tmpl_ids)

    def _message_text(self):
        self.ensure_one()
        return f"{self.text}\n— {self.author}" if self.author else self.text
