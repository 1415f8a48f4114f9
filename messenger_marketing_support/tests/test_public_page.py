from odoo.exceptions import ValidationError
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
        page = self.get(self.article._page_path())
        self.assertIn('href="https://help.example.com/delivery"', page.text)

    def test_malformed_ids_are_not_found_without_a_traceback(self):
        refs = [
            "9" * 5000,  # more digits than int() reads
            "2147483648",  # beyond PostgreSQL's integer
            "99999999999999999999-delivery",
            "-1",
            f"-{self.article.id}",
            "0",
            "١٢٣",  # Arabic-Indic digits: \d matches them and int() reads them
            f"{self.article.id}\u0663",
            "²",  # str.isdigit() is true, int() fails
        ]
        for ref in refs:
            for debug in ("", "?debug=1"):
                with self.subTest(ref=ref[:20], debug=debug):
                    response = self.get(f"/messenger/kb/{ref}{debug}")
                    self.assertEqual(response.status_code, 404)
                    self.assertNotIn("Traceback", response.text)
                    self.assertNotIn("ValueError", response.text)
        self.assertEqual(self.get(f"/messenger/kb/{self.article.id}?debug=1").status_code, 200)

    def test_only_web_addresses_are_links(self):
        for url in (
            "javascript:alert(document.cookie)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "java\tscript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox(1)",
            "//evil.example.com/x",
            "help.example.com",
        ):
            with self.subTest(url=url), self.assertRaises(ValidationError):
                self.article.external_url = url
        self.assertFalse(self.article.external_url)
        self.article.external_url = "http://help.example.com/a?b=1#c"

    def test_a_bad_address_written_past_the_check_is_no_link(self):
        """A value from before the check, or written in SQL, shows no link and is not sent."""
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE messenger_support_article SET external_url = %s WHERE id = %s",
            ["javascript:alert(document.cookie)", self.article.id],
        )
        self.env.invalidate_all()
        self.assertTrue(self.article.url.endswith(self.article._page_path()), "the bot links the page instead")
        page = self.get(self.article._page_path())
        self.assertEqual(page.status_code, 200)
        self.assertNotIn("javascript:", page.text)
        self.assertNotIn("Read more", page.text)
