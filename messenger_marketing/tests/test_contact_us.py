import json

from odoo.tests import HttpCase, tagged

from .common import TelegramSetupMixin


@tagged("post_install", "-at_install")
class TestContactUs(TelegramSetupMixin, HttpCase):
    """The "Contact us" button of the order messages, over the real webhook, with this
    addon's own hand-off: the channel enables no other addon's way of answering (the
    support addon takes the press over only on a channel that answers from its knowledge
    base, which is off by default)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)
        cls.operator = cls.env["res.users"].create(
            {
                "name": "Olga Operator",
                "login": "olga_operator",
                "email": "olga.operator@example.com",
                "groups_id": [(6, 0, cls.env.ref("messenger_marketing.group_messenger_user").ids)],
            }
        )
        cls.channel.team_id = cls.env["crm.team"].create(
            {"name": "Order desk", "member_ids": [(6, 0, cls.operator.ids)]}
        )
        cls.product = cls.env["product.product"].create({"name": "Oak desk", "list_price": 250.0, "type": "consu"})
        cls.partner = cls.env["res.partner"].create({"name": "Ivan Petrov"})
        cls.contact = cls.env["messenger.contact"].create(
            {"name": "Ivan", "channel_id": cls.channel.id, "chat_id": "9301", "partner_id": cls.partner.id}
        )
        cls.update_id = 93000

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def press(self, data, chat_id="9301"):
        TestContactUs.update_id += 1
        person = {"id": int(chat_id), "is_bot": False, "first_name": "Ivan", "language_code": "en"}
        query = {
            "id": f"cb-{self.update_id}",
            "data": data,
            "chat_instance": "x",
            "from": person,
            "message": {"message_id": 1, "date": 1700000000, "chat": {"id": int(chat_id), "type": "private"}},
        }
        self.env.flush_all()
        response = self.url_open(
            f"/messenger/webhook/{self.channel.webhook_key}",
            data=json.dumps({"update_id": self.update_id, "callback_query": query}).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": self.channel.webhook_secret,
            },
        )
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        return response

    def dispatch(self):
        self.env["messenger.dispatcher"]._dispatch(time_budget=10, channel_ids=self.channel.ids)
        self.env.invalidate_all()

    def handoff_notes(self, contact):
        return contact.discuss_channel_id.message_ids.filtered(lambda m: "pressed “Contact us”" in (m.body or ""))

    def test_contact_us_under_an_order_message_hands_off_to_the_team(self):
        order = self.env["sale.order"].create(
            {
                "partner_id": self.partner.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": 1, "price_unit": 250.0})],
            }
        )
        order.action_confirm()
        self.dispatch()
        [sent] = self.fake.sent
        [button] = [b for b in sent["reply_markup"]["inline_keyboard"][0] if b.get("callback_data")]
        self.assertEqual(button["text"], "Contact us")

        response = self.press(button["callback_data"])
        self.assertEqual(response.json()["method"], "answerCallbackQuery")
        contact = self.contact
        self.assertEqual((contact.answered_by, contact.user_id), ("operator", self.operator))
        self.assertIn(self.operator.partner_id, contact.message_partner_ids, "the operator follows it")
        [activity] = contact.activity_ids
        self.assertEqual(activity.user_id, self.operator)
        # the base addon's note, naming the order the button was under (the support addon's
        # hand-off would start with its reason, "Asked for a person")
        self.assertTrue(str(activity.note).startswith("<p>The customer pressed “Contact us” under the message about"))
        self.assertIn(f'data-oe-model="sale.order" data-oe-id="{order.id}"', str(activity.note))
        self.assertIn(order.name, str(activity.note))
        self.assertEqual(len(self.handoff_notes(contact)), 1)
        self.dispatch()
        self.assertEqual(self.fake.texts("9301")[1:], [self.channel.handoff_message], "the customer is told")

        # pressed again while the operator holds the conversation: nothing is done twice
        self.press(button["callback_data"])
        self.dispatch()
        self.assertEqual(len(contact.activity_ids), 1)
        self.assertEqual(len(self.handoff_notes(contact)), 1)
        self.assertEqual(self.fake.texts("9301")[1:], [self.channel.handoff_message])
        self.assertEqual(
            contact.message_ids_messenger.filtered(lambda m: m.direction == "in").mapped("body"),
            ["[button] contact_us"] * 2,
        )

    def test_contact_us_names_only_a_record_sent_to_this_chat(self):
        # another customer's order message, with its Contact us button, went to another chat
        other = self.env["messenger.contact"].create({"name": "Anna", "channel_id": self.channel.id, "chat_id": "9302"})
        order = self.env["sale.order"].create({"partner_id": self.env["res.partner"].create({"name": "Anna"}).id})
        other._send("Your order", buttons=[[{"text": "Contact us", "payload": "contact_us"}]], record=order)
        self.dispatch()
        # a stranger (a new chat) presses the same button: handed off, no order named
        self.press("contact_us", chat_id="9303")
        stranger = self.env["messenger.contact"].search([("chat_id", "=", "9303")])
        self.assertEqual((stranger.answered_by, stranger.user_id), ("operator", self.operator))
        self.assertEqual(str(stranger.activity_ids.note), "<p>The customer pressed “Contact us”.</p>")
        self.assertNotIn(order.name, "".join(stranger.message_ids.mapped("body")))
        self.assertEqual(other.answered_by, "bot")
