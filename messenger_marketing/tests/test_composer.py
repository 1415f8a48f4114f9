from .common import MessengerCase


class TestComposer(MessengerCase):
    """The "Send messenger message" composer on partners, orders and leads, and as a server action."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.partners = cls.env["res.partner"].create(
            [{"name": name} for name in ("Anna", "Boris", "Vera", "Gleb (no messenger)")]
        )
        cls.contacts = cls.env["messenger.contact"].create(
            [
                {"name": p.name, "channel_id": cls.channel.id, "chat_id": str(7000 + i), "partner_id": p.id}
                for i, p in enumerate(cls.partners[:3])
            ]
        )
        cls.template = cls.env["messenger.template"].create(
            {
                "name": "Partner hello",
                "model_id": cls.env.ref("base.model_res_partner").id,
                "body": "Hello {{ object.name }}!",
                "button_contact": True,
            }
        )

    def composer(self, records, **vals):
        return (
            self.env["messenger.composer"].with_context(active_model=records._name, active_ids=records.ids).create(vals)
        )

    def test_mass_send_skips_partner_without_contact_and_says_so(self):
        composer = self.composer(self.partners, template_id=self.template.id)
        self.assertEqual((composer.record_count, composer.reachable_count), (4, 3))
        self.assertIn("Gleb", composer.unreachable_description)
        self.assertEqual(composer.preview, "Hello Anna!\n\n[Contact us]")
        action = composer.action_send()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("3 messenger message(s) queued", action["params"]["message"])
        self.assertIn("Gleb (no messenger)", action["params"]["message"])
        self.assertIn("no messenger contact", self.partners[3].message_ids[:1].body)
        self.dispatch(budget=10)
        self.assertEqual(
            sorted(self.fake.texts()), ["Hello Anna!", "Hello Boris!", "Hello Vera!"], "each rendered for its partner"
        )
        sent = self.contacts.message_ids_messenger
        self.assertEqual(set(sent.mapped("state")), {"sent"})
        self.assertEqual(set(sent.mapped("res_model")), {"res.partner"})
        # each partner's chatter shows the message with its status
        self.assertIn("Sent", self.partners[0].message_ids[:1].body)

    def test_marketing_kind_respects_consent(self):
        self.contacts[1].action_unsubscribe()
        composer = self.composer(self.partners[:3], body="Sale starts tomorrow", kind="marketing")
        self.assertEqual(composer.reachable_count, 2)
        composer._send()
        self.dispatch(budget=10)
        self.assertEqual(len(self.fake.texts()), 2)
        self.assertEqual(self.fake.texts(self.contacts[1].chat_id), [])
        unsubscribe = self.fake.sent[0]["reply_markup"]["inline_keyboard"][-1][0]
        self.assertEqual(unsubscribe["callback_data"], "unsub")

    def test_written_text_with_placeholders_on_orders(self):
        order = self.env["sale.order"].create({"partner_id": self.partners[2].id})
        composer = self.composer(order, body="{{ object.name }} is ready for pickup", kind="transactional")
        self.assertEqual(composer.preview, f"{order.name} is ready for pickup")
        messages, skipped = composer._send()
        self.assertFalse(skipped)
        self.assertEqual((messages.contact_id, messages.res_id), (self.contacts[2], order.id))

    def test_server_action_on_leads(self):
        lead_template = self.env["messenger.template"].create(
            {"name": "Lead", "model_id": self.env.ref("crm.model_crm_lead").id, "body": "About {{ object.name }}"}
        )
        action = self.env["ir.actions.server"].create(
            {
                "name": "Tell the lead",
                "model_id": self.env.ref("crm.model_crm_lead").id,
                "state": "messenger",
                "messenger_template_id": lead_template.id,
            }
        )
        leads = self.env["crm.lead"].create(
            [
                {"name": "Kitchen", "partner_id": self.partners[0].id},
                {"name": "Lost", "partner_id": self.partners[3].id},
            ]
        )
        action.with_context(active_model="crm.lead", active_ids=leads.ids).run()
        queued = self.contacts[0].message_ids_messenger
        self.assertEqual((queued.body, queued.kind, queued.res_id), ("About Kitchen", "transactional", leads[0].id))
        self.assertIn("no messenger contact", leads[1].message_ids[:1].body)
