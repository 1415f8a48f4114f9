import re

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

from odoo.addons.messenger_marketing.core.public import parse_id


class SupportArticlePage(http.Controller):
    # website=True makes it a frontend page (the layout, languages), also without the website app
    @http.route("/messenger/kb/<string:ref>", type="http", auth="public", methods=["GET"], website=True)
    def article(self, ref, **_kwargs):
        """The public page of a knowledge-base article, linked from the bot's answers:
        ``<id>`` or ``<id>-<slug>``. Unpublished, archived and unknown articles are 404."""
        # the id in ASCII digits, within PostgreSQL's integer: anything else is no article
        match = re.fullmatch(r"([0-9]+)(-[\w-]*)?", ref)
        article_id = parse_id(match.group(1)) if match else None
        if not article_id:
            raise NotFound()
        article = request.env["messenger.support.article"].sudo().browse(article_id).exists()
        if not article or not article.active or not article.published:
            raise NotFound()
        company = article.company_id or request.env.company
        return request.render(
            "messenger_marketing_support.article_page",
            {
                "article": article,
                "external_url": article._external_link(),
                "res_company": company,
                "title": article.name,
                "no_header": True,
            },
        )
