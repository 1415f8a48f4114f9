from odoo import api, fields, models


class MessengerSupportTag(models.Model):
    """A word that articles are matched by. No company: tags are shared vocabulary, unique
    by name over the database so that an import reuses them; what a company writes is in
    its articles, which the company rule keeps apart (a tag's articles are read through it)."""

    _name = "messenger.support.tag"
    _description = "Knowledge Base Tag"
    _order = "name"

    name = fields.Char(required=True)
    color = fields.Integer()
    article_ids = fields.Many2many(
        "messenger.support.article", "messenger_support_article_tag_rel", "tag_id", "article_id", string="Articles"
    )

    _sql_constraints = [("name_unique", "UNIQUE(name)", "A tag with this name already exists.")]

    @api.model
    def name_create(self, name):
        # an import that names an existing tag with other spacing reuses it
        pattern = name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        existing = self.search([("name", "=ilike", pattern)], limit=1)
        if existing:
            return existing.id, existing.display_name
        return super().name_create(name.strip())

    def write(self, vals):
        result = super().write(vals)
        if "name" in vals:
            # a tag's words count most in matching: the articles' search data follows
            self.article_ids._update_search_vector()
        return result

    def unlink(self):
        articles = self.article_ids
        result = super().unlink()
        articles.exists()._update_search_vector()
        return result
