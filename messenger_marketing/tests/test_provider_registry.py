"""The provider class is the one source of what the channel, its configuration and the
setup assistant know about a provider: a provider registered in PROVIDERS is offered,
configured and set up from its class's declarations alone."""

import dataclasses
from unittest.mock import patch

from odoo.tests import TransactionCase

from ..core.providers import (
    PROVIDERS,
    ChannelConfig,
    OutgoingMessage,
    Provider,
    SandboxProvider,
    provider_selection,
)
from ..core.providers.base import WebhookRejectedError

# what every provider gets, whatever it declares
COMMON_CONFIG = {"token", "api_base_url", "webhook_secret", "bot_username", "request_timeout", "concurrency"}


class PigeonProvider(SandboxProvider):
    """A provider that exists only in this test: nothing outside its class names it."""

    code = "pigeon"
    label = "Pigeon"
    selection_label = ""  # not the sandbox's: its label
    credential_fields = ("facebook_page_id", "token", "app_secret")
    optional_credentials = ("app_secret",)
    account_field = "facebook_page_id"
    config_fields = {"app_secret": "app_secret", "registration_id": "vk_server_id"}


class TestProviderRegistry(TransactionCase):
    def test_channel_selection_is_the_registry(self):
        selection = self.env["messenger.channel"]._fields["provider"].selection
        self.assertEqual(selection, provider_selection())
        self.assertEqual([code for code, _label in selection], list(PROVIDERS))
        self.assertEqual(selection[0], ("sandbox", "Sandbox (no messenger, for trying)"))
        self.assertIn(("messenger", "Facebook Messenger"), selection)
        # stored as selection records: what translates and exports the labels
        stored = self.env["ir.model.fields.selection"].search(
            [("field_id.model", "=", "messenger.channel"), ("field_id.name", "=", "provider")]
        )
        self.assertEqual(sorted(stored.mapped("value")), sorted(PROVIDERS))

    def test_declarations_name_real_fields(self):
        channel_fields = self.env["messenger.channel"]._fields
        setup_fields = self.env["messenger.channel.setup"]._fields
        config_attributes = {f.name for f in dataclasses.fields(ChannelConfig)}
        for code, cls in PROVIDERS.items():
            with self.subTest(provider=code):
                for name in cls.credential_fields:
                    self.assertIn(name, channel_fields)
                    self.assertIn(name, setup_fields, "the assistant asks for it")
                self.assertLessEqual(set(cls.optional_credentials), set(cls.credential_fields))
                if cls.account_field:
                    self.assertIn(cls.account_field, cls.credential_fields)
                self.assertLessEqual(set(cls.config_fields), config_attributes - COMMON_CONFIG - {"account_id"})
                self.assertLessEqual(set(cls.config_fields.values()), set(channel_fields))

    def test_each_provider_reads_what_it_declares(self):
        names = {"app_secret", "vk_confirmation_code", "vk_server_id", "whatsapp_account_id"}
        names |= {cls.account_field for cls in PROVIDERS.values() if cls.account_field}
        vals = {name: f"value of {name}" for name in names}
        for code, cls in PROVIDERS.items():
            with self.subTest(provider=code):
                channel = self.env["messenger.channel"].create({"name": code, "provider": code, **vals})
                config = channel._provider().config
                expected = {attribute: f"value of {name}" for attribute, name in cls.config_fields.items()}
                if cls.account_field:
                    expected["account_id"] = f"value of {cls.account_field}"
                for field in dataclasses.fields(ChannelConfig):
                    if field.name not in COMMON_CONFIG:
                        self.assertEqual(getattr(config, field.name), expected.get(field.name, ""), field.name)

    def test_a_registered_provider_is_offered_configured_and_set_up(self):
        field = self.env["messenger.channel"]._fields["provider"]
        # the selection is read once, when Odoo loads the model: what a registration at
        # start-up gives it (the list, and the values Odoo checks), done here by hand
        selection = [*field.selection, ("pigeon", "Pigeon")]
        with (
            patch.dict(PROVIDERS, {"pigeon": PigeonProvider}),
            patch.object(field, "selection", selection),
            patch.object(field, "_selection", dict(selection)),
        ):
            self.assertEqual(provider_selection()[-1], ("pigeon", "Pigeon"))
            wizard = self.env["messenger.channel.setup"].create({"name": "Pigeon post", "provider": "pigeon"})
            wizard.action_next()
            self.assertEqual(wizard.step, "credentials", "it has credentials to ask for")
            wizard.action_check()
            self.assertEqual(wizard.error, "Fill in: Facebook Page ID, Access Token.", "the app secret is optional")
            self.assertFalse(wizard.channel_id)
            wizard.write({"facebook_page_id": "loft-7", "token": "seed"})
            wizard.action_check()
            self.assertFalse(wizard.error)
            self.assertEqual(wizard.step, "webhook")
            channel = wizard.channel_id
            self.assertEqual((channel.provider, channel.facebook_page_id, channel.token), ("pigeon", "loft-7", "seed"))
            channel.sudo().write({"app_secret": "crumbs", "vk_confirmation_code": "not read"})
            config = channel._provider().config
            self.assertEqual((config.account_id, config.token, config.app_secret), ("loft-7", "seed", "crumbs"))
            self.assertEqual(config.confirmation_code, "", "it did not declare it")
        self.assertNotIn("pigeon", PROVIDERS)


class TestTextLimits(TransactionCase):
    def test_campaign_and_flow_limits_are_what_the_dispatcher_refuses(self):
        """``text_limit``/``fits`` (campaigns, flows) and ``precheck`` (every send) draw the
        same line, for each provider, with and without buttons and a picture."""
        buttons = [[{"text": "Stop", "payload": "stop"}]]
        for code, cls in PROVIDERS.items():
            provider = cls(ChannelConfig())
            for with_buttons in (False, True):
                for with_image in (False, True):
                    limit = cls.text_limit(with_buttons, with_image)
                    for length in (limit, limit + 1):
                        with self.subTest(provider=code, buttons=with_buttons, image=with_image, length=length):
                            message = OutgoingMessage(
                                1,
                                "42",
                                "x" * length,
                                buttons=buttons if with_buttons else [],
                                image_url="https://example.com/a.png" if with_image else "",
                                inbound_age=0.0,
                            )
                            fits = cls.fits(message.text, with_buttons=with_buttons, with_image=with_image)
                            self.assertEqual(fits, length == limit)
                            self.assertEqual(provider.precheck(message) is None, fits)


class TestWebhookHelpers(TransactionCase):
    def test_secret_comparison(self):
        Provider.check_secret("s3cret", "s3cret", "wrong")
        for given, expected in (("s3cre", "s3cret"), ("", "s3cret"), (None, "s3cret"), ("", ""), ("x", None)):
            with self.subTest(given=given, expected=expected), self.assertRaises(WebhookRejectedError) as caught:
                Provider.check_secret(given, expected, "wrong secret")
            self.assertEqual((caught.exception.status, caught.exception.reason), (403, "wrong secret"))

    def test_start_payload(self):
        cases = {"/start": "", "/start abc_1": "abc_1", "/start  x ": "x", "/starting": None, "start x": None}
        for text, payload in cases.items():
            self.assertEqual(Provider.start_payload(text), payload, text)
        self.assertIsNone(Provider.start_payload(None))

    def test_read_timeout_may_have_delivered(self):
        for cls in PROVIDERS.values():
            result = cls.timed_out(7)
            self.assertTrue(result.maybe_delivered)
            self.assertEqual((result.outcome, result.reason), ("transient", f"{cls.label} did not answer in time"))
        self.assertFalse(Provider.timed_out(7, maybe_delivered=False).maybe_delivered)
