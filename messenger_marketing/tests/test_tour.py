from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestSimulatorTour(HttpCase):
    def test_simulator_tour(self):
        """In headless Chromium: open the sandbox simulator, send a message, see the reply."""
        self.start_tour("/odoo", "messenger_simulator_tour", login="admin")
        admin = self.env.ref("base.user_admin")
        contact = self.env["messenger.contact"].search([("chat_id", "=", f"simulator-{admin.id}")])
        self.assertEqual(contact.state, "unsubscribed")
        self.assertEqual(contact.channel_id.provider, "sandbox")
        outgoing = contact.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(set(outgoing.mapped("state")), {"sent"})
        self.assertEqual(len(outgoing), 2)

    def test_flow_tour(self):
        """In headless Chromium: a manager builds a two-step flow and tries it in the simulator."""
        if not self.env["messenger.channel"].search([("provider", "=", "sandbox")]):
            self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        self.start_tour("/odoo", "messenger_flow_tour", login="admin")
        flow = self.env["messenger.flow"].search([("name", "=", "Tour flow")])
        self.assertEqual(len(flow), 1)
        steps = flow.step_ids.sorted("sequence")
        self.assertEqual(steps.mapped("text"), ["Hello from the tour flow", "Goodbye from the tour flow"])
        self.assertEqual(steps[0].button_ids.mapped("label"), ["Continue"])
        session = flow.session_ids
        self.assertEqual((len(session), session.state), (1, "done"))
        self.assertEqual(session.answers, {"Message": "Continue"})
        outgoing = session.contact_id.message_ids_messenger.filtered(lambda m: m.direction == "out")
        self.assertEqual(set(outgoing.mapped("state")), {"sent"})
