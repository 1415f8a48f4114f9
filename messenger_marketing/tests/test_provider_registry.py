"""The provider class is the one source of what the channel, its configuration and the
setup assistant know about a provider: a provider registered in PROVIDERS is offered,
configured and set up from its class's declarations alone."""

import contextlib
import dataclasses
from unittest.mock import patch

from lxml import etree

from odoo.tests import TransactionCase, new_test_user
from odoo.tools.safe_eval import safe_eval

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
COMMON_CONFIG = {
    "token",
    "api_base_url",
    "webhook_secret",
    "bot_username",
    "request_timeout",
    "concurrency",
    "public_base_url",
}


class PigeonProvider(SandboxProvider):
    """A provider that exists only in this test: nothing outside its class names it."""

    code = "pigeon"
    label = "Pigeon"
    selection_label = ""  # not the sandbox's: its label
    credential_fields = ("facebook_page_id", "token", "app_secret")
    optional_credentials = ("app_secret",)
    account_field = "facebook_page_id"
    config_fields = {"app_secret": "app_secret", "registration_id": "vk_server_id"}
    remote = True
    webhook_fields = ("webhook_secret",)
    field_labels = {**SandboxProvider.field_labels, "webhook_secret": "Loft Key"}
    setup_help = ("Feed the <b>pigeon</b>.", "Tie the token to its leg.")
    webhook_help = "Pigeons fly back to the <i>webhook</i>."


@contextlib.contextmanager
def pigeon_registered(env):
    """PigeonProvider in the registry, as a registration at start-up would put it."""
    field = env["messenger.channel"]._fields["provider"]
    # the selection is read once, when Odoo loads the model: what a registration at
    # start-up gives it (the list, and the values Odoo checks), done here by hand
    selection = [*field.selection, ("pigeon", "Pigeon")]
    with (
        patch.dict(PROVIDERS, {"pigeon": PigeonProvider}),
        patch.object(field, "selection", selection),
        patch.object(field, "_selection", dict(selection)),
    ):
        yield


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
        with pigeon_registered(self.env):
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


def visible(node, values):
    """Whether the node shows for a record of these values: its own and every enclosing
    element's ``invisible`` expression, evaluated."""
    while node is not None:
        if safe_eval(node.get("invisible", "False"), values):
            return False
        node = node.getparent()
    return True


class TestProviderForms(TransactionCase):
    """The channel form and the setup assistant show, for each provider, exactly the fields
    its class declares, under its labels, with its help: built from the registry, so a new
    provider needs no view edit."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env, "provider_forms_manager", groups="base.group_user,messenger_marketing.group_messenger_manager"
        )

    def arch(self, model, raw=False, lang=None):
        Model = self.env[model].with_user(self.manager).with_context(lang=lang)
        if raw:  # the combined arch before the view cache, as _get_view builds it now
            return Model._get_view(view_type="form")[0]
        return etree.fromstring(Model.get_views([(False, "form")])["views"]["form"]["arch"])

    def values(self, code, **extra):
        cls = PROVIDERS[code]
        return {
            "provider": code,
            "provider_remote": cls.remote,
            "provider_has_templates": cls.has_templates,
            "webhook_registered": False,
            "active": True,
            "error": False,
            **extra,
        }

    def provider_fields(self, arch, values, names):
        """{field name: [(label, required)]} of the visible field nodes named in ``names``."""
        shown = {}
        for node in arch.iter("field"):
            name = node.get("name")
            if name in names and visible(node, values):
                required = bool(safe_eval(node.get("required", "False"), values))
                shown.setdefault(name, []).append((node.get("string"), required))
        return shown

    def expected(self, model, code, attributes, required):
        cls = PROVIDERS[code]
        fields = self.env[model]._fields
        return {
            name: [
                (
                    cls.field_labels.get(name),
                    required and attribute == "credential_fields" and name not in cls.optional_credentials,
                )
            ]
            for attribute in attributes
            for name in getattr(cls, attribute)
            if name in fields
        }

    def declared(self, providers):
        return {name for cls in providers.values() for name in (*cls.credential_fields, *cls.webhook_fields)}

    def check_channel_form(self, arch, providers):
        names = self.declared(providers)
        for code in providers:
            with self.subTest(form="channel", provider=code):
                shown = self.provider_fields(arch, self.values(code), names)
                self.assertEqual(
                    shown, self.expected("messenger.channel", code, ("credential_fields", "webhook_fields"), True)
                )
                helps = [
                    n for n in arch.iter("div") if "text-muted" in n.get("class", "") and visible(n, self.values(code))
                ]
                texts = ["".join(n.itertext()) for n in helps]
                webhook_help = providers[code].webhook_help
                if webhook_help:
                    self.assertIn(etree.fromstring(f"<p>{webhook_help}</p>").xpath("string()"), texts)

    def check_setup_form(self, arch, providers):
        names = self.declared(providers)
        for code, cls in providers.items():
            with self.subTest(form="setup", provider=code):
                keys = self.values(code, step="credentials")
                shown = self.provider_fields(arch, keys, names)
                self.assertEqual(shown, self.expected("messenger.channel.setup", code, ("credential_fields",), False))
                steps = ["".join(li.itertext()) for li in arch.iter("li") if visible(li, keys)]
                self.assertEqual(steps, [etree.fromstring(f"<p>{s}</p>").xpath("string()") for s in cls.setup_help])
                webhook = self.values(code, step="webhook")
                shown = self.provider_fields(arch, webhook, names)
                self.assertEqual(shown, self.expected("messenger.channel.setup", code, ("webhook_fields",), False))

    def test_forms_show_what_each_provider_declares(self):
        self.check_channel_form(self.arch("messenger.channel"), PROVIDERS)
        self.check_setup_form(self.arch("messenger.channel.setup"), PROVIDERS)

    def test_buttons_follow_the_provider_facts(self):
        arch = self.arch("messenger.channel")
        for code, cls in PROVIDERS.items():
            with self.subTest(provider=code):
                channel = self.env["messenger.channel"].new({"provider": code})
                self.assertEqual(
                    (channel.provider_remote, channel.provider_has_templates), (cls.remote, cls.has_templates)
                )
                for button, shown in (
                    ("action_sync_whatsapp_templates", cls.has_templates),
                    ("action_view_whatsapp_templates", cls.has_templates),
                    ("action_test_connection", cls.remote),
                    ("action_register_webhook", cls.remote),
                ):
                    node = arch.find(f".//button[@name='{button}']")
                    self.assertEqual(visible(node, self.values(code)), shown, button)

    def test_a_new_provider_needs_no_view_edit(self):
        with pigeon_registered(self.env):
            channel_arch = self.arch("messenger.channel", raw=True)
            self.check_channel_form(channel_arch, PROVIDERS)
            self.check_setup_form(self.arch("messenger.channel.setup", raw=True), PROVIDERS)
            shown = self.provider_fields(channel_arch, self.values("pigeon"), self.declared(PROVIDERS))
            self.assertEqual(
                shown,
                {
                    "facebook_page_id": [(None, True)],
                    "token": [("Access Token", True)],
                    "app_secret": [(None, False)],
                    "webhook_secret": [("Loft Key", False)],
                },
            )

    def test_help_and_labels_in_the_users_language(self):
        self.env["res.lang"]._activate_lang("ru_RU")
        self.env["ir.module.module"]._load_module_terms(["messenger_marketing"], ["ru_RU"], overwrite=True)
        setup = etree.tostring(self.arch("messenger.channel.setup", lang="ru_RU"), encoding="unicode")
        self.assertIn("В Telegram откройте <b>@BotFather</b>", setup)
        self.assertIn('string="Токен доступа"', setup)
        channel = etree.tostring(self.arch("messenger.channel", lang="ru_RU"), encoding="unicode")
        self.assertIn('string="Токен проверки"', channel)
        self.assertIn("«Зарегистрировать вебхук» сообщит Telegram", channel)


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
