import json

from odoo.tests import new_test_user


class FlowSetupMixin:
    """A Telegram channel with a sales team, a product and a flow attached to it:

    card (Order / Ask a question) → question (At home / In the office) → phone → e-mail →
    create lead → callback → end;  “Ask a question” → hand over to an operator.
    """

    @classmethod
    def setup_flow(cls):
        env = cls.env
        cls.salesperson = new_test_user(
            env,
            "flow_seller",
            name="Sonia Seller",
            tz="Europe/Moscow",
            groups="sales_team.group_sale_salesman,messenger_marketing.group_messenger_user",
        )
        cls.team = env["crm.team"].create({"name": "Chat sales", "member_ids": [(6, 0, cls.salesperson.ids)]})
        cls.channel.team_id = cls.team
        cls.product = env["product.template"].create(
            {"name": "Oak desk", "list_price": 250.0, "description_sale": "Solid oak, 160 × 80 cm."}
        )
        cls.flow = env["messenger.flow"].create({"name": "Desk landing", "on_return": "restart"})
        Step = env["messenger.flow.step"]

        def step(sequence, step_type, **vals):
            return Step.create({"flow_id": cls.flow.id, "sequence": sequence, "step_type": step_type, **vals})

        cls.step_card = step(10, "product", text="Here is the desk you looked at.")
        cls.step_use = step(20, "question", text="Where will you use it?", answer_key="Use")
        cls.step_phone = step(30, "phone")
        cls.step_email = step(40, "email")
        cls.step_lead = step(50, "lead", text="Thank you! Our team will contact you.")
        cls.step_callback = step(60, "callback")
        cls.step_end = step(70, "end", text="Have a nice day!")
        cls.step_handoff = step(80, "handoff", text="Connecting you with a person.")
        Button = env["messenger.flow.button"]
        cls.button_order = Button.create({"step_id": cls.step_card.id, "label": "Order", "sequence": 1})
        cls.button_ask = Button.create(
            {"step_id": cls.step_card.id, "label": "Ask a question", "next_step_id": cls.step_handoff.id}
        )
        cls.button_home = Button.create({"step_id": cls.step_use.id, "label": "At home", "sequence": 1})
        cls.button_office = Button.create({"step_id": cls.step_use.id, "label": "In the office", "sequence": 2})
        cls.product.messenger_flow_id = cls.flow
        cls.source = env["utm.source"].create({"name": "Instagram bio"})
        cls.campaign = env["utm.campaign"].create({"name": "Desk spring"})
        cls.link = env["messenger.flow.link"].create(
            {
                "channel_id": cls.channel.id,
                "product_tmpl_id": cls.product.id,
                "source_id": cls.source.id,
                "campaign_id": cls.campaign.id,
            }
        )


class TelegramUpdatesMixin:
    """Telegram updates shaped like the Bot API's, posted to the channel's webhook."""

    update_seq = 5000

    def post(self, update):
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": self.channel.webhook_secret}
        response = self.url_open(
            f"/messenger/webhook/{self.channel.webhook_key}", data=json.dumps(update).encode(), headers=headers
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.env.invalidate_all()
        return response

    def _next_id(self):
        TelegramUpdatesMixin.update_seq += 1
        return TelegramUpdatesMixin.update_seq

    def _user(self, chat_id):
        return {"id": chat_id, "is_bot": False, "first_name": "Olga", "last_name": "P", "language_code": "en"}

    def send_text(self, text, chat_id=555):
        update_id = self._next_id()
        message = {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": self._user(chat_id),
            "text": text,
        }
        return self.post({"update_id": update_id, "message": message})

    def press(self, payload, chat_id=555):
        update_id = self._next_id()
        query = {
            "id": f"cb-{update_id}",
            "data": payload,
            "chat_instance": "x",
            "from": self._user(chat_id),
            "message": {"message_id": 1, "date": 1700000000, "chat": {"id": chat_id, "type": "private"}},
        }
        return self.post({"update_id": update_id, "callback_query": query})

    def share_phone(self, phone, chat_id=555):
        update_id = self._next_id()
        message = {
            "message_id": update_id,
            "date": 1700000000,
            "chat": {"id": chat_id, "type": "private"},
            "from": self._user(chat_id),
            "contact": {"phone_number": phone, "first_name": "Olga", "user_id": chat_id},
        }
        return self.post({"update_id": update_id, "message": message})

    def contact(self, chat_id=555):
        return self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", str(chat_id))]
        )

    def outgoing(self, chat_id=555):
        return self.contact(chat_id).message_ids_messenger.filtered(lambda m: m.direction == "out").sorted("id")

    def last_out(self, chat_id=555):
        return self.outgoing(chat_id)[-1:]

    def payload_of(self, message, label):
        return next(b["payload"] for row in message.buttons for b in row if b["text"] == label)
