from odoo.exceptions import AccessError
from odoo.tests.common import TransactionCase, new_test_user


class TestSupportSecurity(TransactionCase):
    """Sales staff read the knowledge base and the statistics; managers maintain them;
    each company sees its own."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.env["res.company"].create({"name": "Other shop"})
        cls.user = new_test_user(cls.env, "kb_user", groups="messenger_marketing.group_messenger_user")
        cls.manager = new_test_user(cls.env, "kb_manager", groups="messenger_marketing.group_messenger_manager")
        cls.stranger = new_test_user(cls.env, "kb_stranger", groups="base.group_user")
        Article = cls.env["messenger.support.article"]
        cls.article = Article.create({"name": "Ours", "short_answer": "Yes.", "lang": "en"})
        cls.shared = Article.create({"name": "Shared", "short_answer": "Yes.", "lang": "en", "company_id": False})
        cls.foreign = Article.create(
            {"name": "Theirs", "short_answer": "No.", "lang": "en", "company_id": cls.other_company.id}
        )
        channel = cls.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        contact = cls.env["messenger.contact"].create({"name": "Ann", "channel_id": channel.id, "chat_id": "1"})
        cls.question = cls.env["messenger.support.question"].create(
            {"contact_id": contact.id, "channel_id": channel.id, "text": "Hello?", "article_id": cls.article.id}
        )

    def test_user_reads_manager_maintains(self):
        Article = self.env["messenger.support.article"]
        self.assertEqual(Article.with_user(self.user).browse(self.article.id).name, "Ours")
        self.assertEqual(self.question.with_user(self.user).text, "Hello?")
        with self.assertRaises(AccessError):
            self.article.with_user(self.user).write({"short_answer": "Changed"})
        with self.assertRaises(AccessError):
            Article.with_user(self.user).create({"name": "New", "short_answer": "x", "lang": "en"})
        with self.assertRaises(AccessError):
            self.question.with_user(self.user).write({"feedback": "helpful"})
        self.article.with_user(self.manager).write({"short_answer": "Changed"})
        Article.with_user(self.manager).create({"name": "New", "short_answer": "x", "lang": "en"})
        self.env["messenger.support.tag"].with_user(self.manager).create({"name": "new tag"})
        with self.assertRaises(AccessError):
            self.env["messenger.support.tag"].with_user(self.user).create({"name": "other tag"})

    def test_other_internal_users_see_nothing(self):
        with self.assertRaises(AccessError):
            self.article.with_user(self.stranger).read(["name"])
        with self.assertRaises(AccessError):
            self.question.with_user(self.stranger).read(["text"])

    def test_multi_company(self):
        seen = (
            self.env["messenger.support.article"]
            .with_user(self.manager)
            .search([("name", "in", ["Ours", "Shared", "Theirs"])])
        )
        self.assertEqual(seen, self.article | self.shared)
