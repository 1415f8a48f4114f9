import re

from odoo import api, fields, models
from odoo.tools import SQL

from odoo.addons.messenger_marketing.core.public import is_web_url
from odoo.addons.messenger_marketing.models.web_url import check_web_urls

# Languages of articles: the code stored on the article (the first part of an Odoo language
# code, "ru" for ru_RU), its label, and the PostgreSQL text search configuration whose
# stemmer turns «доставки», «доставкой» into one word. "other" only splits words.
LANGUAGES = [
    ("en", "English", "english"),
    ("ru", "Russian", "russian"),
    ("de", "German", "german"),
    ("fr", "French", "french"),
    ("es", "Spanish", "spanish"),
    ("it", "Italian", "italian"),
    ("pt", "Portuguese", "portuguese"),
    ("nl", "Dutch", "dutch"),
    ("tr", "Turkish", "turkish"),
    ("other", "Other (no stemming)", "simple"),
]
TS_CONFIGS = {code: config for code, _label, config in LANGUAGES}

# Words of politeness that say nothing about the question; left out of matching so that
# "Hello! Please, how much is delivery?" is as sure a match as "How much is delivery?".
COURTESY_WORDS = (
    "hello hi hey please thanks thank здравствуйте здравствуй привет добрый пожалуйста подскажите скажите спасибо"
)

# ts_rank weights for D, C, B, A: body, short answer, title, tags and keywords.
RANK_WEIGHTS = [0.2, 0.4, 0.7, 1.0]
SHORT_ANSWER_WEIGHT = RANK_WEIGHTS[1]
# The words of the tags, keywords and title only, with a GIN index of their own.
KEY_WORDS_VECTOR = "ts_filter(search_vector, '{a,b}')"
# ts_rank of an OR query averages over the question's words, counting a word found once
# with weight w as w / 1.64493406685 (pi^2 / 6), and articles index each word once: this
# factor turns the rank into "share of the question's words found, weighted by where".
RANK_SCALE = 1.64493406685


def _default_lang(model):
    code = (model.env.lang or "en").split("_")[0]
    return code if code in TS_CONFIGS else "en"


class MessengerSupportArticle(models.Model):
    _name = "messenger.support.article"
    _description = "Knowledge Base Article"
    _order = "sequence, id"

    name = fields.Char("Title", required=True)
    sequence = fields.Integer(default=10)
    short_answer = fields.Text(
        required=True, help="What the bot sends in the messenger: a few sentences that answer the question."
    )
    body = fields.Html(help="The full article, shown on its public page.")
    external_url = fields.Char(
        "External URL", help="Link to the article elsewhere (your website, a help center). Replaces the page of Odoo."
    )
    url = fields.Char("Public URL", compute="_compute_url", help="The link the bot sends with the short answer.")
    tag_ids = fields.Many2many(
        "messenger.support.tag", "messenger_support_article_tag_rel", "article_id", "tag_id", string="Tags"
    )
    keywords = fields.Text(
        "Keywords and Synonyms",
        help="More words and phrases customers use for this topic, separated by commas. "
        "Like the tags, they count most when matching a question.",
    )
    lang = fields.Selection(
        [(code, label) for code, label, _config in LANGUAGES],
        "Language",
        required=True,
        default=_default_lang,
        help="Language of the article. Questions are matched against the articles in their language.",
    )
    active = fields.Boolean(default=True)
    published = fields.Boolean(
        default=True, help="Only published articles answer questions, and only they have a public page."
    )
    company_id = fields.Many2one(
        "res.company", default=lambda self: self.env.company, index=True, help="Leave empty to share between companies."
    )
    color = fields.Integer()
    # statistics, from grouped queries on the questions
    answer_count = fields.Integer("Answers Sent", compute="_compute_statistics")
    helpful_count = fields.Integer("Helpful", compute="_compute_statistics")
    not_helpful_count = fields.Integer("Not Helpful", compute="_compute_statistics")

    def init(self):
        # The words of each article, weighted, in a column the ORM does not know: kept up to
        # date by _update_search_vector, and searched through GIN indexes. Articles change
        # rarely and are searched at every question, so the indexes take new entries at
        # once (fastupdate off) instead of in a pending list that every search would scan
        # until the next vacuum, as after an import of many articles.
        self.env.cr.execute("ALTER TABLE messenger_support_article ADD COLUMN IF NOT EXISTS search_vector tsvector")
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_support_article_search_idx
               ON messenger_support_article USING gin (search_vector) WITH (fastupdate = off)"""
        )
        self.env.cr.execute(
            SQL(
                """CREATE INDEX IF NOT EXISTS messenger_support_article_key_words_idx
                   ON messenger_support_article USING gin ((%s)) WITH (fastupdate = off)""",
                SQL(KEY_WORDS_VECTOR),
            )
        )

    @api.constrains("external_url")
    def _check_external_url(self):
        check_web_urls(self, "external_url")

    def _external_link(self):
        """The external URL when it is a web address: a value written before the
        constraint, or past it in SQL, is not sent nor shown as a link."""
        self.ensure_one()
        return self.external_url if is_web_url(self.external_url) else False

    @api.depends("external_url", "name")
    def _compute_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for article in self:
            if article._external_link():
                article.url = article.external_url
            elif article.id:
                article.url = f"{base}{article._page_path()}"
            else:
                article.url = False

    def _page_path(self):
        self.ensure_one()
        slug = re.sub(r"[^a-z0-9]+", "-", (self.name or "").lower()).strip("-")[:60]
        return f"/messenger/kb/{self.id}-{slug}" if slug else f"/messenger/kb/{self.id}"

    def _compute_statistics(self):
        groups = self.env["messenger.support.question"]._read_group(
            [("article_id", "in", self.ids), ("auto_answered", "=", True)], ["article_id", "feedback"], ["__count"]
        )
        counts = {}
        for article, feedback, count in groups:
            counts.setdefault(article.id, {})[feedback] = count
        for article in self:
            by_feedback = counts.get(article.id, {})
            article.answer_count = sum(by_feedback.values())
            article.helpful_count = by_feedback.get("helpful", 0)
            article.not_helpful_count = by_feedback.get("not_helpful", 0)

    # -- search data ----------------------------------------------------------------------
    @api.model_create_multi
    def create(self, vals_list):
        articles = super().create(vals_list)
        articles._update_search_vector()
        return articles

    def write(self, vals):
        result = super().write(vals)
        if {"name", "short_answer", "body", "keywords", "tag_ids", "lang"} & set(vals):
            self._update_search_vector()
        return result

    @api.model
    def load(self, fields, data):
        """Importing a file: tags are given by name, comma-separated, and the ones that do
        not exist yet are created (they need nothing but a name)."""
        create_enabled = dict(self.env.context.get("name_create_enabled_fields") or {}, tag_ids=True)
        return super(MessengerSupportArticle, self.with_context(name_create_enabled_fields=create_enabled)).load(
            fields, data
        )

    def _update_search_vector(self):
        """Index the articles' words in their language, each word once with the weight of
        the best place it appears in: tags and keywords (A), title (B), short answer (C),
        body (D). With one position per word, the rank of a question is the weighted share
        of its words that the article has, however often the article repeats them. One
        statement per language."""
        if not self:
            return
        self.flush_recordset()
        self.env["messenger.support.tag"].flush_model(["name"])
        by_config = {}
        for article in self:
            by_config.setdefault(TS_CONFIGS.get(article.lang, "simple"), []).append(article.id)
        for config, ids in by_config.items():
            # rebuilt as tsvector text, 'word':1A, with quotes doubled and backslashes escaped
            self.env.cr.execute(
                r"""UPDATE messenger_support_article a SET search_vector = (
                       SELECT coalesce(string_agg(
                           '''' || replace(replace(u.lexeme, '\', '\\'), '''', '''''') || ''':1'
                           || (SELECT min(w) FROM unnest(u.weights) w), ' '), '')::tsvector
                       FROM unnest(
                           setweight(to_tsvector(%(config)s::regconfig, concat_ws(' ', (
                               SELECT string_agg(t.name, ' ') FROM messenger_support_article_tag_rel r
                               JOIN messenger_support_tag t ON t.id = r.tag_id WHERE r.article_id = a.id
                           ), a.keywords)), 'A')
                        || setweight(to_tsvector(%(config)s::regconfig, coalesce(a.name, '')), 'B')
                        || setweight(to_tsvector(%(config)s::regconfig, coalesce(a.short_answer, '')), 'C')
                        || setweight(to_tsvector(%(config)s::regconfig,
                                                 regexp_replace(coalesce(a.body, ''), '<[^>]*>', ' ', 'g')), 'D')
                       ) u)
                   WHERE a.id = ANY(%(ids)s)""",
                {"config": config, "ids": ids},
            )

    # -- matching ------------------------------------------------------------------------
    @api.model
    def _match(self, text, lang, company=None, min_confidence=0.0):
        """The published article that best answers ``text`` in language ``lang`` (an
        article language code), and the confidence of the match between 0 and 1: the share
        of the question's words found in the article, a word found in the tags or keywords
        counting 1, in the title 0.7, in the short answer 0.4, in the body 0.2. Articles of
        ``company`` and shared ones; every article when ``company`` is empty. Returns
        (empty recordset, 0.0) when nothing matches.

        Common words can be in the body of most articles, so the search first ranks only
        the articles with a question word in their tags, keywords or title (a small set,
        through its own index). Any other article scores at most the short answer's weight,
        so the whole knowledge base is ranked only when the first pass found nothing as
        good and ``min_confidence`` (the confidence the caller needs) does not rule it out."""
        query = self._tsquery(text, TS_CONFIGS.get(lang, "simple"))
        if not query:
            return self.browse(), 0.0
        self.flush_model(["active", "published", "lang", "company_id", "sequence", "name", "keywords", "tag_ids"])
        article, confidence = self._best(query, lang, company, SQL(KEY_WORDS_VECTOR))
        if confidence < SHORT_ANSWER_WEIGHT and min_confidence <= SHORT_ANSWER_WEIGHT:
            article, confidence = self._best(query, lang, company, SQL("search_vector"))
        return article, confidence

    def _best(self, query, lang, company, vector):
        self.env.cr.execute(
            SQL(
                """SELECT id, ts_rank(%(weights)s::float4[], search_vector, %(query)s::tsquery) AS rank
                   FROM messenger_support_article
                   WHERE %(vector)s @@ %(query)s::tsquery AND active AND published AND lang = %(lang)s
                     AND (%(company)s IS NULL OR company_id IS NULL OR company_id = %(company)s)
                   ORDER BY rank DESC, sequence, id
                   LIMIT 1""",
                weights=RANK_WEIGHTS,
                query=query,
                vector=vector,
                lang=lang,
                company=company.id if company else None,
            )
        )
        row = self.env.cr.fetchone()
        if not row:
            return self.browse(), 0.0
        # rounded: ts_rank computes in single precision, and a half must compare equal to 0.5
        return self.browse(row[0]), round(min(1.0, row[1] * RANK_SCALE), 4)

    @api.model
    def _tsquery(self, text, config):
        """An OR query of the text's stemmed words, without stop words and courtesy words."""
        self.env.cr.execute(
            """SELECT ARRAY(
                   SELECT unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(text)s)))
                   EXCEPT SELECT unnest(tsvector_to_array(to_tsvector(%(config)s::regconfig, %(courtesy)s))))""",
            {"config": config, "text": (text or "")[:2000], "courtesy": COURTESY_WORDS},
        )
        words = sorted(self.env.cr.fetchone()[0])
        return " | ".join("'{}'".format(word.replace("\\", "\\\\").replace("'", "''")) for word in words)

    def action_view_questions(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "messenger_marketing_support.action_messenger_support_question"
        )
        action["domain"] = [("article_id", "=", self.id), ("auto_answered", "=", True)]
        action["views"] = [(False, "list"), (False, "pivot"), (False, "graph"), (False, "form")]
        action["context"] = {k: v for k, v in self.env.context.items() if k.startswith("search_default_")}
        return action
