from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from ..core import signing
from ..core.public import PG_INT_MAX, is_web_url, parse_id

SCRIPT_URLS = (
    "javascript:alert(document.cookie)",
    "JAVASCRIPT:alert(1)",
    " javascript:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "//evil.example.com",
    "shop.example.com",
)


@tagged("post_install", "-at_install")
class TestPublicLinks(TransactionCase):
    """Links a customer opens from the bot are web addresses, and public references are
    record ids PostgreSQL can hold."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        flow = env["messenger.flow"].create({"name": "Links"})
        step = env["messenger.flow.step"].create({"flow_id": flow.id, "step_type": "question", "text": "Which?"})
        warming = env["messenger.warming"].create({"name": "Links", "step_ids": [(0, 0, {"text": "Hi"})]})
        mailing = env["mailing.mailing"].create(
            {
                "name": "Links",
                "subject": "Links",
                "mailing_type": "messenger",
                "mailing_model_id": env.ref("messenger_marketing.model_messenger_contact").id,
                "messenger_body": "Sale",
            }
        )
        cls.targets = [
            (env["messenger.flow.button"].create({"step_id": step.id, "label": "Shop"}), "url"),
            (warming.step_ids, "button_url"),
            (mailing, "messenger_image_url"),
            (
                env["mailing.messenger.button"].create(
                    {"mailing_id": mailing.id, "label": "Shop", "url": "https://shop.example.com"}
                ),
                "url",
            ),
        ]

    def test_script_and_relative_links_are_refused(self):
        for record, field in self.targets:
            before = record[field]
            for url in SCRIPT_URLS:
                with self.subTest(model=record._name, url=url), self.assertRaises(ValidationError):
                    record.write({field: url})
                self.assertEqual(record[field], before)
            record.write({field: "https://shop.example.com/chairs?utm=bot"})
            self.assertEqual(record[field], "https://shop.example.com/chairs?utm=bot")

    def test_ids_of_public_references(self):
        self.assertEqual(parse_id("42"), 42)
        self.assertEqual(parse_id(str(PG_INT_MAX)), PG_INT_MAX)
        for text in ("", "0", "-1", "+1", str(PG_INT_MAX + 1), "9" * 5000, "١٢٣", "²", "1 ", "1.0", None):
            self.assertIsNone(parse_id(text), text and text[:12])
        self.assertTrue(is_web_url("HTTPS://Shop.Example.com"))
        self.assertFalse(any(is_web_url(url) for url in SCRIPT_URLS))

    def test_image_reference_beyond_postgresql_is_none(self):
        Image = self.env["messenger.image"]
        secret = Image._secret()
        for value in (f"s{PG_INT_MAX + 1}", "s0", "s" + "9" * 39):
            self.assertIsNone(Image._record_for(signing.sign(secret, value)), value)
