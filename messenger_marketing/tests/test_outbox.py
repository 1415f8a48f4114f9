"""The outbox's lifecycle: ``messenger.message`` is the only writer of ``state``, every
move follows ``core.outbox.TRANSITIONS``, and traces and chatter notes follow each move."""

import pathlib
import re

from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from ..core import outbox
from ..core.providers import BLOCKED, PERMANENT, SendResult
from ..models.messenger_message import STATES
from .common import MessengerCase

ADDONS = pathlib.Path(__file__).resolve().parents[2]


@tagged("post_install", "-at_install")
class TestOutbox(MessengerCase):
    def setUp(self):
        super().setUp()
        self.contact = self.make_contacts(1)
        self.message = self.contact._send("hello")

    def test_the_state_machine_names_every_state(self):
        self.assertEqual(set(outbox.TRANSITIONS), {key for key, _label in STATES})
        for targets in outbox.TRANSITIONS.values():
            self.assertLessEqual(targets, set(outbox.TRANSITIONS))
        for group in (outbox.PENDING, outbox.WAITING, outbox.SENT, outbox.FAILED, outbox.CANCELLABLE):
            self.assertLessEqual(set(group), set(outbox.TRANSITIONS))
        self.assertEqual(set(outbox.sources("read")), {"sent", "delivered"})

    def test_state_is_written_only_through_a_transition(self):
        with self.assertRaises(UserError):
            self.message.sudo().write({"state": "sent"})
        self.assertEqual(self.message.state, "queued")
        user = self.env.ref("base.user_demo")
        with self.assertRaises(AccessError):  # the access rules answer first, over RPC too
            self.message.with_user(user).write({"state": "sent"})
        self.message.write({"priority": 5})  # other fields are the features' own
        self.assertEqual(self.message.priority, 5)

    def test_only_allowed_moves_happen(self):
        message = self.message
        self.assertFalse(message._to("read"))  # queued cannot be read
        self.assertEqual(message.state, "queued")
        self.assertEqual(message._to("sending"), message)
        self.assertEqual(message._to("sent"), message)
        self.assertEqual(message._to("read"), message)
        self.assertFalse(message._to("delivered"))  # never back from read to delivered
        self.assertFalse(message._to("queued"))
        self.assertEqual(message.state, "read")

    def test_a_person_retries_or_cancels_only_what_has_ended(self):
        message = self.message
        message._to("sending")
        message.action_cancel()  # being sent: only the dispatcher moves it
        message.action_retry()
        self.assertEqual(message.state, "sending")
        message._fail(SendResult(message.id, PERMANENT, reason="Bad Request"))
        self.assertEqual((message.state, message.failure_type), ("failed", "rejected"))
        message.action_retry()
        self.assertEqual((message.state, message.failure_type, message.attempts), ("queued", False, 0))
        message.action_cancel()
        self.assertEqual(message.state, "cancelled")

    def test_a_block_fails_the_message_and_opts_the_contact_out(self):
        other = self.contact._send("and this", kind="marketing")
        self.message._to("sending")
        self.message._fail(SendResult(self.message.id, BLOCKED, reason="Forbidden: bot was blocked by the user"))
        self.assertEqual((self.message.state, self.message.failure_type), ("failed", "blocked"))
        self.assertEqual(self.contact.state, "blocked")
        # what was still waiting for the contact is cancelled at once, visibly
        self.assertEqual((other.state, other.failure_type), ("cancelled", "blocked"))

    def test_moves_keep_the_campaign_trace_in_step(self):
        trace = self.env["mailing.trace"].create(
            {"trace_type": "messenger", "model": "res.partner", "res_id": 1, "trace_status": "outgoing"}
        )
        self.message.sudo().mailing_trace_id = trace
        self.message._to("sending")
        self.assertEqual(trace.trace_status, "outgoing")
        sent = self.env["messenger.message"]._mark_sent([(self.message.id, "77")], self.message.create_date)
        self.assertEqual(sent, self.message)
        self.assertEqual((self.message.state, self.message.provider_message_id), ("sent", "77"))
        self.assertEqual(trace.trace_status, "sent")
        self.assertTrue(trace.sent_datetime)
        self.message._to("read")
        self.assertEqual(trace.trace_status, "open")
        # a second bulk "sent" for the same row moves nothing (it is no longer sending)
        self.assertFalse(self.env["messenger.message"]._mark_sent([(self.message.id, "78")], self.message.create_date))
        self.assertEqual(self.message.provider_message_id, "77")

    def test_moves_keep_the_chatter_note_in_step(self):
        partner = self.env["res.partner"].create({"name": "Olga"})
        note = partner._message_log(body="queued")
        self.message.sudo().chatter_log_id = note
        self.message._to("sending")
        self.message._fail(SendResult(self.message.id, PERMANENT, reason="chat not found"))
        self.assertIn("chat not found", str(note.body))
        self.assertIn("Failed", str(note.body))

    def test_no_other_file_writes_the_state(self):
        """The write guard catches ORM writes; SQL that moves messages lives in the model."""
        owner = ADDONS / "messenger_marketing" / "models" / "messenger_message.py"
        moves = re.compile(r"UPDATE\s+messenger_message\b[^;\"]*?\bSET\b[^;\"]*?\bstate\s*=", re.S | re.I)
        offenders = []
        for path in ADDONS.glob("messenger_marketing*/**/*.py"):
            if path == owner or "tests" in path.parts:
                continue
            if moves.search(path.read_text()):
                offenders.append(str(path.relative_to(ADDONS)))
        self.assertEqual(offenders, [])
        self.assertTrue(moves.search(owner.read_text()))  # the pattern does find the owner's moves
