import unittest

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, tagged

from ..core.providers import PROVIDERS
from ..core.text import html_to_plain, split_html, telegram_html
from .common import ProvidersSetupMixin, TelegramSetupMixin


class TestHtmlConversion(unittest.TestCase):
    SOURCE = (
        '<p>Hello <strong>Olga</strong> &amp; <em>co</em>, <span style="color:red">5 &lt; 6</span></p>'
        '<ul><li>Desk</li><li>Chair</li></ul><p>See <a href="https://shop.example.com/?a=1&b=2">the shop</a>'
        '<br>or <a href="javascript:alert(1)">this</a><script>alert(2)</script> <img src="x.png"></p>'
    )

    def test_telegram_keeps_its_tags_and_escapes_the_rest(self):
        self.assertEqual(
            telegram_html(self.SOURCE),
            "Hello <b>Olga</b> &amp; <i>co</i>, 5 &lt; 6\n\n• Desk\n• Chair\n\n"
            'See <a href="https://shop.example.com/?a=1&amp;b=2">the shop</a>\nor this',
        )
        # stable: reducing it again changes nothing; unbalanced tags are closed
        reduced = telegram_html(self.SOURCE)
        self.assertEqual(telegram_html(reduced), reduced)
        self.assertEqual(telegram_html("<b>bold <i>both</b> <u>x"), "<b>bold <i>both</i></b> <u>x</u>")
        self.assertEqual(telegram_html("<code><b>raw</b> &lt;x&gt;</code>"), "<code>raw &lt;x&gt;</code>")

    def test_plain_text_for_the_others(self):
        self.assertEqual(
            html_to_plain(self.SOURCE),
            "Hello Olga & co, 5 < 6\n\n• Desk\n• Chair\n\nSee the shop (https://shop.example.com/?a=1&b=2)\nor this",
        )

    def test_split_html_only_between_balanced_lines(self):
        html = "\n".join(f"<b>line {n}</b> text" for n in range(40))
        parts = split_html(html, 200)
        self.assertGreater(len(parts), 3)
        for text, text_format in parts:
            self.assertEqual(text_format, "html")
            self.assertLessEqual(len(text), 200)
            self.assertEqual(text.count("<b>"), text.count("</b>"))
        # one long formatted line cannot be cut inside its tag: it goes as plain text
        parts = split_html("<b>" + "word " * 100 + "</b>", 200)
        self.assertEqual({f for _t, f in parts}, {"plain"})
        self.assertEqual(" ".join(t for t, _f in parts).split(), ["word"] * 100)


@tagged("post_install", "-at_install")
class TestTextPerProvider(ProvidersSetupMixin, TelegramSetupMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.telegram = cls.setup_telegram(cls.env)
        cls.vk, cls.vk_fake = cls.setup_vk(cls.env)
        cls.instagram, cls.ig_fake = cls.setup_graph(cls.env, "instagram")

    def setUp(self):
        super().setUp()
        for fake in (self.fake, self.vk_fake, self.ig_fake):
            fake.reset()

    def test_limits_per_provider(self):
        limits = {code: (cls.max_text_length, cls.max_caption_length) for code, cls in PROVIDERS.items()}
        self.assertEqual(limits["telegram"], (4096, 1024))
        self.assertEqual(limits["vk"][0], 4096)
        self.assertEqual(limits["max"], (4000, 4000))
        self.assertEqual(limits["whatsapp"], (4096, 1024))
        self.assertEqual(limits["messenger"][0], 2000)
        self.assertEqual(limits["instagram"][0], 1000)

    def test_html_template_is_html_in_telegram_and_plain_elsewhere(self):
        partner = self.env["res.partner"].create({"name": "Olga"})
        template = self.env["messenger.template"].create(
            {
                "name": "Formatted",
                "model_id": self.env.ref("base.model_res_partner").id,
                "body_format": "html",
                "lang": "{{ object.lang }}",
                "body": "<p>Hello <b>{{ object.name }}</b>, see <a href='https://shop.example.com'>our shop</a></p>",
            }
        )
        text, _buttons = template._render_for(partner)[partner.id]
        telegram = self.make_contact(self.telegram, "9101")
        vk = self.make_contact(self.vk, "9102")
        on_telegram = telegram._send(text, text_format="html")
        on_vk = vk._send(text, text_format="html")
        self.assertEqual((on_telegram.body_format, on_vk.body_format), ("html", "plain"))
        self.dispatch_channel(self.telegram)
        self.dispatch_channel(self.vk)
        sent = self.fake.sent[0]
        self.assertEqual(sent["parse_mode"], "HTML")
        self.assertEqual(sent["text"], 'Hello <b>Olga</b>, see <a href="https://shop.example.com">our shop</a>')
        self.assertEqual(self.vk_fake.texts(), ["Hello Olga, see our shop (https://shop.example.com)"])

    def test_long_texts_are_split_and_captions_refused(self):
        vk = self.make_contact(self.vk, "9201")
        parts = vk._send(("A paragraph of news. " * 60 + "\n\n") * 5)
        self.assertEqual(len(parts), 2)
        self.assertTrue(all(len(p.body) <= 4096 for p in parts))
        long_html = "\n".join(f"<b>Item {n}</b>: a fine oak desk" for n in range(200))
        telegram_parts = self.make_contact(self.telegram, "9202")._send(long_html, text_format="html")
        self.assertGreater(len(telegram_parts), 1)
        self.assertEqual(set(telegram_parts.mapped("body_format")), {"html"})
        # a picture's caption cannot be split: refused before any call
        instagram = self.make_contact(self.instagram, "9203")
        caption = instagram._send("x" * 1100, image_url="https://shop.example.com/a.png")
        self.assertEqual(len(caption), 1, "a caption is not split")
        self.dispatch_channel(self.instagram)
        self.assertEqual((caption.state, caption.failure_type), ("failed", "rejected"))
        self.assertIn("at most 1000 characters on Instagram", caption.failure_reason)
        self.assertEqual(self.ig_fake.requests, [])

    def test_campaign_text_must_fit_every_channel(self):
        partner = self.env["res.partner"].create({"name": "Anna"})
        self.make_contact(self.instagram, "9301", partner_id=partner.id)
        mailing = self.env["mailing.mailing"].create(
            {
                "name": "Long",
                "subject": "Long",
                "mailing_type": "messenger",
                "mailing_model_id": self.env.ref("base.model_res_partner").id,
                "mailing_domain": repr([("id", "=", partner.id)]),
                "messenger_channel_ids": [(6, 0, (self.telegram | self.instagram).ids)],
                "messenger_body": "News " * 300,
            }
        )
        with self.assertRaisesRegex(UserError, "instagram account takes at most 1000 characters"):
            mailing._messenger_launch()
        self.assertFalse(self.env["messenger.message"].search([("mailing_id", "=", mailing.id)]))
