import re

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request


class SupportArticlePage(http.Controller):
    # website=True makes it a frontend page (the layout, languages), also without the website app
    @http.route("/messenger/kb/<string:ref>", type="http", auth="public", methods=["GET"], website=True)
    def article(self, ref, **_kwargs):
        """The public page of a knowledge-base article, linked from the bot's answers:
        ``<id>`` or ``<id>-<slug>``. Unpublished, archived and unknown articles are 404."""
        match = re.fullmatch(r"(\d+)(-[\w-]*)?", ref)
        if not match:
            raise NotFound()
        article = request.env["messenger.support.article"].sudo().browse(int(match.group(1))).exists()
        if not article or not article.active or not article.published:
            raise NotFound()
        company = article.company_id or request.env.company
        return request.render(
            "messenger_marketing_support.article_page",
            {"article": article, "res_company": company, "title": article.name, "no_header": True},
        )
