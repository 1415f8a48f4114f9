from odoo.tests.common import TransactionCase

from .common import setup_knowledge_base

CSV = """Title,Short Answer,Tags,Keywords and Synonyms,Language,Published
Гарантия на мебель,"Гарантия на всю мебель — 2 года.","гарантия,ремонт","поломка, сломался",Russian,1
Warranty,"Every piece of furniture has a two-year warranty.","warranty, Repair","broken, guarantee",en,1
Черновик,"Ещё не готово.",гарантия,,ru,0
"""


class TestImport(TransactionCase):
    """Articles come in through Odoo's standard import, as a manager uploads a CSV file."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        setup_knowledge_base(cls.env)
        cls.env["messenger.support.tag"].create({"name": "repair"})

    def import_csv(self, text, dryrun=False):
        wizard = self.env["base_import.import"].create(
            {
                "res_model": "messenger.support.article",
                "file": text.encode(),
                "file_name": "articles.csv",
                "file_type": "text/csv",
            }
        )
        options = {"has_headers": True, "separator": ",", "quoting": '"', "encoding": "utf-8"}
        preview = wizard.parse_preview(dict(options))
        self.assertNotIn("error", preview)
        # the columns are recognized by their labels, as in the import screen
        matches = preview["matches"]
        fields = ["/".join(matches.get(index, [])) or False for index in range(len(preview["headers"]))]
        self.assertEqual(fields, ["name", "short_answer", "tag_ids", "keywords", "lang", "published"])
        return wizard.execute_import(fields, preview["headers"], dict(options), dryrun=dryrun)

    def test_import_articles_with_tags_by_name(self):
        Article = self.env["messenger.support.article"]
        result = self.import_csv(CSV)
        self.assertFalse(result["messages"], result["messages"])
        articles = Article.with_context(active_test=False).browse(result["ids"])
        self.assertEqual(articles.mapped("name"), ["Гарантия на мебель", "Warranty", "Черновик"])
        self.assertEqual(articles.mapped("lang"), ["ru", "en", "ru"])
        self.assertEqual(articles.mapped("published"), [True, True, False])
        ru, en, draft = articles
        # tags are named, created when new, and reused whatever their spacing or case
        self.assertEqual(sorted(ru.tag_ids.mapped("name")), ["гарантия", "ремонт"])
        self.assertEqual(draft.tag_ids, ru.tag_ids.filtered(lambda t: t.name == "гарантия"))
        self.assertEqual(sorted(en.tag_ids.mapped("name")), ["repair", "warranty"])
        self.assertEqual(self.env["messenger.support.tag"].search_count([("name", "=ilike", "repair")]), 1)
        # imported articles are indexed at once: matched in both languages, the draft not
        self.assertEqual(Article._match("Диван сломался", "ru")[0], ru)
        self.assertEqual(Article._match("гарантией", "ru")[0], ru)
        self.assertEqual(Article._match("Is it under warranty?", "en")[0], en)

    def test_test_import_creates_nothing(self):
        before = self.env["messenger.support.article"].search_count([])
        tags_before = self.env["messenger.support.tag"].search_count([])
        result = self.import_csv(CSV, dryrun=True)
        self.assertFalse(result["messages"], result["messages"])
        self.assertEqual(self.env["messenger.support.article"].search_count([]), before)
        self.assertEqual(self.env["messenger.support.tag"].search_count([]), tags_before)

    def test_bad_language_is_reported(self):
        result = self.import_csv(CSV.replace(",Russian,", ",Klingon,"))
        self.assertTrue(result["messages"])
        self.assertIn("Klingon", result["messages"][0]["message"])
        self.assertFalse(result["ids"])
