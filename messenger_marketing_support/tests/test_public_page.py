from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestPublicPage(HttpCase):
    """The article page the bot links to: public, for published articles only."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.article = cls.env["messenger.support.article"].create(
            {
                "name": "Delivery prices",
                "lang": "en",
                "short_answer": "Courier delivery costs $5.",
                "body": "<p>Orders over <b>$80</b> ship free.</p>",
            }
        )

    def get(self, path):
        self.env.flush_all()
        return self.url_open(path, allow_redirects=False)

    def test_published_article_is_public(self):
        self.assertTrue(self.article.url.endswith(f"/messenger/kb/{self.article.id}-delivery-prices"), self.article.url)
        response = self.get(self.article._page_path())
        self.assertEqual(response.status_code, 200)
        self.assertIn("Courier delivery costs $5.", response.text)
        self.assertIn("Orders over <b>$80</b> ship free.", response.text)
        self.assertIn('lang="en"', response.text)
        # the id alone is enough; the slug is for people
        self.assertEqual(self.get(f"/messenger/kb/{self.article.id}").status_code, 200)

    def test_unpublished_archived_and_unknown_are_not_found(self):
        self.article.published = False
        self.assertEqual(self.get(f"/messenger/kb/{self.article.id}").status_code, 404)
        self.article.write({"published": True, "active": False})
        self.assertEqual(self.get(f"/messenger/kb/{self.article.id}").status_code, 404)
        self.assertEqual(self.get("/messenger/kb/999999999").status_code, 404)
        self.assertEqual(self.get("/messenger/kb/not-an-id").status_code, 404)

    def test_external_url_replaces_the_page(self):
        self.article.external_url = "https://help.example.com/delivery"
        self.assertEqual(self.article.url, "https://help.example.com/delivery")
