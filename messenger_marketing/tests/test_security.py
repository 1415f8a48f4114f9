import xmlrpc.client

from odoo.exceptions import AccessError
from odoo.tests import HttpCase, new_test_user, tagged


@tagged("post_install", "-at_install")
class TestSecurity(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.env["messenger.channel"].create(
            {"name": "Secure bot", "provider": "telegram", "token": "123:SECRET-TOKEN"}
        )
        cls.contact = cls.env["messenger.contact"].create(
            {"name": "Client", "channel_id": cls.channel.id, "chat_id": "42"}
        )
        cls.message = cls.contact._send("hello")
        cls.contact._set_consent("unsubscribed", "manual", "test")
        cls.user = new_test_user(
            cls.env, "mm_user", groups="messenger_marketing.group_messenger_user", password="mm_user_pw_123"
        )
        cls.manager = new_test_user(
            cls.env, "mm_manager", groups="messenger_marketing.group_messenger_manager", password="mm_manager_pw_123"
        )
        cls.employee = new_test_user(cls.env, "mm_employee", groups="base.group_user")
        cls.portal = new_test_user(cls.env, "mm_portal", groups="base.group_portal")

    def test_messenger_user_cannot_read_credentials(self):
        channel = self.channel.with_user(self.user)
        self.assertEqual(channel.name, "Secure bot")
        for field in ("token", "webhook_secret", "webhook_key", "webhook_url"):
            with self.assertRaises(AccessError, msg=field):
                channel.read([field])
        self.assertNotIn("token", channel.read()[0])
        with self.assertRaises(AccessError):
            channel.write({"name": "renamed"})
        # the manager reads and edits them
        self.assertEqual(self.channel.with_user(self.manager).token, "123:SECRET-TOKEN")

    def test_messenger_user_works_conversations(self):
        contact = self.contact.with_user(self.user)
        contact.partner_id = self.env["res.partner"].create({"name": "Linked"})
        self.assertEqual(contact.message_ids_messenger.with_user(self.user).body, "hello")
        with self.assertRaises(AccessError):
            contact.unlink()
        with self.assertRaises(AccessError):
            self.message.with_user(self.user).write({"state": "sent"})

    def test_others_reach_nothing(self):
        for user in (self.portal, self.employee):
            for record in (self.channel, self.contact, self.message, self.contact.consent_log_ids):
                with self.assertRaises(AccessError, msg=f"{user.login} {record._name}"):
                    record.with_user(user).read(["display_name"])
        with self.assertRaises(AccessError):
            self.env["messenger.webhook.event"].with_user(self.user).search([])

    def test_token_not_readable_over_rpc(self):
        common = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object")
        db = self.env.cr.dbname
        with self.assertRaises(xmlrpc.client.Fault) as caught:
            common.execute_kw(
                db,
                self.user.id,
                "mm_user_pw_123",
                "messenger.channel",
                "read",
                [self.channel.ids],
                {"fields": ["token"]},
            )
        self.assertNotIn("SECRET-TOKEN", str(caught.exception))
        rows = common.execute_kw(
            db, self.user.id, "mm_user_pw_123", "messenger.channel", "search_read", [[("id", "=", self.channel.id)]], {}
        )
        self.assertEqual(rows[0]["name"], "Secure bot")
        self.assertNotIn("token", rows[0])
        self.assertNotIn("SECRET-TOKEN", str(rows))
        rows = common.execute_kw(
            db,
            self.manager.id,
            "mm_manager_pw_123",
            "messenger.channel",
            "read",
            [self.channel.ids],
            {"fields": ["token"]},
        )
        self.assertEqual(rows[0]["token"], "123:SECRET-TOKEN")

    def test_multi_company_rules(self):
        other = self.env["res.company"].create({"name": "Other Co"})
        foreign = self.env["messenger.channel"].create({"name": "Foreign bot", "company_id": other.id})
        foreign_contact = self.env["messenger.contact"].create(
            {"name": "Foreign", "channel_id": foreign.id, "chat_id": "1"}
        )
        Channel = self.env["messenger.channel"].with_user(self.manager)
        self.assertNotIn(foreign, Channel.search([]))
        self.assertNotIn(foreign_contact, self.env["messenger.contact"].with_user(self.manager).search([]))
        self.manager.write({"company_ids": [(4, other.id)]})
        self.assertIn(foreign, Channel.with_context(allowed_company_ids=[other.id]).search([]))

    def test_provider_credentials_are_for_managers_only(self):
        meta = self.env["messenger.channel"].create(
            {
                "name": "Meta page",
                "provider": "messenger",
                "token": "EAAG-PAGE-SECRET",
                "app_secret": "APP-SECRET-VALUE",
                "facebook_page_id": "1080",
            }
        )
        vk = self.env["messenger.channel"].create(
            {"name": "VK", "provider": "vk", "token": "vk1.SECRET", "vk_group_id": "2", "vk_confirmation_code": "c0de"}
        )
        for channel, field in ((meta, "app_secret"), (vk, "vk_confirmation_code"), (vk, "vk_server_id")):
            with self.assertRaises(AccessError, msg=field):
                channel.with_user(self.user).read([field])
        # the account ids are no secret: sales staff see which page a channel is
        self.assertEqual(meta.with_user(self.user).facebook_page_id, "1080")
        common = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object")
        rows = common.execute_kw(
            self.env.cr.dbname,
            self.user.id,
            "mm_user_pw_123",
            "messenger.channel",
            "search_read",
            [[("id", "in", (meta | vk).ids)]],
            {},
        )
        self.assertEqual(len(rows), 2)
        for secret in ("EAAG-PAGE-SECRET", "APP-SECRET-VALUE", "vk1.SECRET", "c0de", meta.webhook_secret):
            self.assertNotIn(secret, str(rows))
