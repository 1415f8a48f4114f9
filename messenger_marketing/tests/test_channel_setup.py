from odoo.tests import HttpCase, TransactionCase, tagged

from .fakes.telegram_server import FakeTelegram


class TestChannelSetup(TransactionCase):
    def setup(self, **vals):
        return self.env["messenger.channel.setup"].create({"name": "Assistant bot", **vals})

    def test_sandbox_is_ready_at_once(self):
        wizard = self.setup(provider="sandbox")
        wizard.action_next()
        self.assertEqual((wizard.step, wizard.channel_id.provider), ("done", "sandbox"))

    def test_missing_keys_are_named(self):
        wizard = self.setup(provider="vk")
        wizard.action_next()
        wizard.action_check()
        self.assertEqual(wizard.step, "credentials")
        self.assertEqual(wizard.error, "Fill in: Community ID, Access Token.")
        self.assertFalse(wizard.channel_id, "nothing is created before the keys are there")

    def test_unreachable_provider_is_reported_and_kept(self):
        # nothing listens on this port: the reason says so, and the keys stay to fix
        wizard = self.setup(provider="telegram", token="1:X", api_base_url="http://127.0.0.1:9")
        wizard.action_next()
        wizard.action_check()
        self.assertEqual(wizard.step, "credentials")
        self.assertIn("Telegram refused", wizard.error)
        self.assertEqual(wizard.channel_id.token, "1:X")


@tagged("post_install", "-at_install")
class TestChannelSetupTour(HttpCase):
    def test_admin_connects_telegram_through_the_assistant(self):
        fake = FakeTelegram().start()
        self.addCleanup(fake.stop)
        self.start_tour(
            f"/odoo/action-messenger_marketing.action_messenger_channel?fake_api={fake.url}",
            "messenger_channel_setup_tour",
            login="admin",
        )
        channel = self.env["messenger.channel"].search([("name", "=", "Tour Shop Bot")])
        self.assertEqual((channel.provider, channel.bot_username), ("telegram", "fake_shop_bot"))
        self.assertTrue(channel.webhook_registered)
        webhook = next(params for method, params in fake.calls if method == "setWebhook")
        self.assertTrue(webhook["url"].endswith(f"/messenger/webhook/{channel.webhook_key}"))
        self.assertEqual(webhook["secret_token"], channel.webhook_secret)
