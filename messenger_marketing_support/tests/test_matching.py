from odoo.tests.common import TransactionCase

from .common import setup_knowledge_base


class TestMatching(TransactionCase):
    """Full-text matching in PostgreSQL, with Russian and English stemming and weights."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.articles = setup_knowledge_base(cls.env)
        cls.Article = cls.env["messenger.support.article"]

    def match(self, text, lang):
        article, confidence = self.Article._match(text, lang)
        return article, round(confidence, 2)

    def test_russian_word_forms_match_the_article_tagged_with_the_word(self):
        for text in ("Доставка", "Сколько дней идут доставки?", "Что с доставкой?", "Оформите доставку, пожалуйста"):
            with self.subTest(text=text):
                self.assertEqual(self.match(text, "ru")[0], self.articles["delivery_ru"])
        for text in ("Хочу вернуть товар", "Как оформить возврат?", "Возвраты принимаете?"):
            with self.subTest(text=text):
                self.assertEqual(self.match(text, "ru")[0], self.articles["returns_ru"])

    def test_english_word_forms(self):
        for text in ("Do you offer delivery?", "Deliveries to Kazan", "What are your shipping costs?", "Courier"):
            with self.subTest(text=text):
                self.assertEqual(self.match(text, "en")[0], self.articles["delivery_en"])
        for text in ("I want a refund", "Refunds?", "How do I return this?", "returning a jacket"):
            with self.subTest(text=text):
                self.assertEqual(self.match(text, "en")[0], self.articles["returns_en"])

    def test_unrelated_question_matches_nothing(self):
        self.assertEqual(self.match("Какая завтра погода в Москве?", "ru"), (self.Article, 0.0))
        self.assertEqual(self.match("Is the blue sofa in stock?", "en"), (self.Article, 0.0))
        # only stop words and courtesy words: nothing to search for
        self.assertEqual(self.match("Здравствуйте, подскажите, пожалуйста", "ru"), (self.Article, 0.0))

    def test_only_articles_in_the_question_language(self):
        # «доставка» in English stemming is not the Russian article's word
        self.assertFalse(self.match("delivery", "ru")[0])
        self.assertEqual(self.match("delivery", "en")[0], self.articles["delivery_en"])

    def test_confidence_is_the_weighted_share_of_the_question_words(self):
        self.assertEqual(self.match("доставка", "ru")[1], 1.0)
        # two words, one found in the tags: half
        self.assertEqual(self.match("доставка дивана", "ru"), (self.articles["delivery_ru"], 0.5))
        # courtesy words do not lower it
        self.assertEqual(self.match("Здравствуйте! Подскажите, пожалуйста: доставка?", "ru")[1], 1.0)

    def test_tags_and_keywords_weigh_more_than_title_more_than_body(self):
        make = self.Article.create
        in_tags = make({"name": "Гарантийный талон", "short_answer": "…", "lang": "ru", "keywords": "гарантия"})
        in_title = make({"name": "Гарантия на мебель", "short_answer": "Год.", "lang": "ru"})
        in_answer = make({"name": "Сервис", "short_answer": "Гарантия — год.", "lang": "ru"})
        in_body = make({"name": "Ремонт", "short_answer": "Чиним.", "lang": "ru", "body": "<p>Есть гарантия.</p>"})
        expected = [(in_tags, 1.0), (in_title, 0.7), (in_answer, 0.4), (in_body, 0.2)]
        for article, confidence in expected:
            self.assertEqual(self.match("гарантия", "ru"), (article, confidence))
            if confidence < 0.5:
                # no article without the word in its tags, keywords or title can reach 50 %:
                # a caller who needs that much gets nothing, without ranking the whole base
                self.assertEqual(self.Article._match("гарантия", "ru", min_confidence=0.5), (self.Article, 0.0))
            article.active = False

    def test_index_follows_writes(self):
        article = self.articles["delivery_ru"]
        self.assertFalse(self.match("самовывоз", "ru")[0])
        article.keywords = "самовывоз, курьер"
        self.assertEqual(self.match("самовывоз", "ru"), (article, 1.0))
        # renaming a tag re-indexes its articles
        article.tag_ids.filtered(lambda t: t.name == "доставка").name = "привоз"
        self.assertEqual(self.match("привоз", "ru"), (article, 1.0))
        self.assertNotEqual(self.match("доставка", "ru"), (article, 1.0))
        # unpublished and archived articles do not answer
        article.published = False
        self.assertFalse(self.match("самовывоз", "ru")[0])
        article.published = True
        article.active = False
        self.assertFalse(self.match("самовывоз", "ru")[0])

    def test_company_of_the_article(self):
        other = self.env["res.company"].create({"name": "Other shop"})
        article = self.articles["delivery_en"]
        article.company_id = other
        self.assertFalse(self.Article._match("delivery", "en", self.env.company)[0])
        self.assertEqual(self.Article._match("delivery", "en", other)[0], article)
        article.company_id = False  # shared between companies
        self.assertEqual(self.Article._match("delivery", "en", self.env.company)[0], article)

    def test_question_language(self):
        channel = self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        contact = self.env["messenger.contact"].create({"name": "Ann", "channel_id": channel.id, "chat_id": "1"})
        contact.lang = "en"
        self.assertEqual(contact._support_language("How much is delivery?"), "en")
        # Telegram in English, question in Russian
        self.assertEqual(contact._support_language("Сколько стоит доставка?"), "ru")
        contact.lang = "ru"
        self.assertEqual(contact._support_language("Сколько стоит доставка?"), "ru")
        self.assertEqual(contact._support_language("delivery price"), "en")
        self.assertEqual(contact._support_language("42?"), "ru")
        contact.lang = "pl"  # a language without its own stemmer
        self.assertEqual(contact._support_language("Ile kosztuje dostawa?"), "other")
