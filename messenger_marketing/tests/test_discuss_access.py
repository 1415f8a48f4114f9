"""Who sees a conversation in Discuss: Messenger users of the contact's company, over every
door Discuss and RPC have (the sidebar's channel list, a channel's messages, a search of
messages), and nobody else, not even as a member of the channel."""

import xmlrpc.client

from odoo.tests import HttpCase, new_test_user, tagged

from ..core.providers import InboundEvent


@tagged("post_install", "-at_install")
class TestDiscussAccess(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        env = cls.env
        cls.company_a = env.company
        cls.company_b = env["res.company"].create({"name": "Conversation Company B"})
        cls.channel = env["messenger.channel"].create(
            {"name": "A bot", "provider": "sandbox", "company_id": cls.company_a.id}
        )
        env["messenger.inbound"]._process(
            cls.channel,
            [InboundEvent(event_id="acc1", kind="message", chat_id="acc-chat", name="Olga", text="my card number")],
        )
        cls.contact = env["messenger.contact"].search([("chat_id", "=", "acc-chat")])
        cls.conversation = cls.contact.discuss_channel_id
        cls.passwords = {}
        roles = {
            "dc_user": ("messenger_marketing.group_messenger_user", cls.company_a),
            "dc_employee": ("base.group_user", cls.company_a),
            "dc_portal": ("base.group_portal", cls.company_a),
            "dc_user_b": ("messenger_marketing.group_messenger_user", cls.company_b),
        }
        cls.users = {}
        for login, (group, company) in roles.items():
            cls.passwords[login] = f"{login}-pw-7731"
            cls.users[login] = new_test_user(
                env,
                login,
                groups=group,
                password=cls.passwords[login],
                company_id=company.id,
                company_ids=[(6, 0, company.ids)],
            )
        # even a member who should not be one sees nothing
        cls.conversation.add_members(
            partner_ids=(cls.users["dc_employee"] | cls.users["dc_portal"] | cls.users["dc_user_b"]).partner_id.ids,
            post_joined_message=False,
        )

    def rpc(self, login, model, method, *args, **kwargs):
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)
        uid = self.users[login].id
        return proxy.execute_kw(self.env.cr.dbname, uid, self.passwords[login], model, method, list(args), kwargs)

    def test_messenger_user_of_the_company_reads_the_conversation(self):
        found = self.rpc("dc_user", "discuss.channel", "search_read", [("channel_type", "=", "messenger")], ["name"])
        self.assertIn(self.conversation.id, [c["id"] for c in found], "a Messenger user need not be a member")
        messages = self.rpc(
            "dc_user", "mail.message", "search_read", [("body", "ilike", "my card number")], ["model", "res_id"]
        )
        self.assertEqual([(m["model"], m["res_id"]) for m in messages], [("discuss.channel", self.conversation.id)])

    def test_others_see_no_conversation_and_no_message(self):
        for login in ("dc_employee", "dc_portal", "dc_user_b"):
            with self.subTest(login=login):
                found = self.rpc(
                    login, "discuss.channel", "search_read", [("channel_type", "=", "messenger")], ["name"]
                )
                self.assertEqual(found, [])
                messages = self.rpc(login, "mail.message", "search_read", [("body", "ilike", "my card number")], ["id"])
                self.assertEqual(messages, [])
                with self.assertRaises(xmlrpc.client.Fault) as caught:
                    self.rpc(login, "discuss.channel", "read", self.conversation.ids, ["name"])
                self.assertEqual(caught.exception.faultCode, 4)
                message = self.conversation.message_ids[:1]
                with self.assertRaises(xmlrpc.client.Fault):
                    self.rpc(login, "mail.message", "read", message.ids, ["body"])

    def test_discuss_lists_and_serves_the_conversation_to_its_users_only(self):
        for login, allowed in (("dc_user", True), ("dc_employee", False), ("dc_portal", False), ("dc_user_b", False)):
            with self.subTest(login=login):
                self.authenticate(login, self.passwords[login])
                if allowed:
                    self.conversation._messenger_join(self.users[login])
                init = self.make_jsonrpc_request("/mail/data", {"channels_as_member": True})
                listed = [c["id"] for c in init.get("discuss.channel", [])]
                self.assertEqual(self.conversation.id in listed, allowed)
                if allowed:
                    answer = self.make_jsonrpc_request(
                        "/discuss/channel/messages", {"channel_id": self.conversation.id}
                    )
                    bodies = [m["body"] for m in answer["data"]["mail.message"]]
                    self.assertTrue(any("my card number" in b for b in bodies))
                else:
                    answer = self.url_open(
                        "/discuss/channel/messages",
                        data=f'{{"jsonrpc": "2.0", "params": {{"channel_id": {self.conversation.id}}}}}',
                        headers={"Content-Type": "application/json"},
                    )
                    self.assertNotIn("my card number", answer.text)
                    self.assertIn("error", answer.json())
