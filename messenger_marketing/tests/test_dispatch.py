import contextlib
import itertools
import time
from types import SimpleNamespace

from odoo import fields

from ..core.dispatch import Run
from .common import MessengerCase


class TestDispatch(MessengerCase):
    def test_500_messages_sent_once_within_limits(self):
        contacts = self.make_contacts(500)
        messages = contacts._send("Hello {}", kind="marketing")
        self.assertEqual(len(messages), 500)
        self.dispatch(budget=60)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake.sent), 500)
        self.assertEqual(len({s["chat_id"] for s in self.fake.sent}), 500, "every chat exactly once")
        self.assertEqual(self.fake.violations, 0)
        # the achieved rate is close to the limit, not far under it
        times = sorted(s["at"] for s in self.fake.sent)
        rate = (len(times) - 1) / (times[-1] - times[0])
        self.assertGreater(rate, 25)
        self.assertLessEqual(rate, 30)
        # every marketing message carries the unsubscribe button
        markup = self.fake.sent[0]["reply_markup"]
        self.assertEqual(markup["inline_keyboard"][-1][0]["callback_data"], "unsub")
        self.assertTrue(all(m.provider_message_id for m in messages))

    def test_per_chat_limit(self):
        contact = self.make_contacts(1)
        messages = contact._send("one") | contact._send("two") | contact._send("three")
        self.dispatch(budget=20)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(self.fake.texts(contact.chat_id), ["one", "two", "three"])
        self.assertEqual(self.fake.violations, 0)
        gaps = [b["at"] - a["at"] for a, b in zip(self.fake.sent, self.fake.sent[1:], strict=False)]
        self.assertTrue(all(gap >= 1.0 for gap in gaps), gaps)
        self.assertEqual(messages.mapped("attempts"), [1, 1, 1], "waiting for the chat is no attempt")

    def test_per_chat_limit_holds_across_runs(self):
        """Each run paces on its own; the chat's last send, in the database, carries its
        pause from one run (or process) to the next."""
        contact = self.make_contacts(1)
        first = contact._send("one")
        self.dispatch(budget=5)
        second = contact._send("two")
        self.dispatch(budget=5)  # a new run, right after: it waits for the chat
        self.assertEqual((first.state, second.state), ("sent", "sent"))
        self.assertEqual(second.attempts, 1, "waiting for the chat is no attempt")
        self.assertEqual(self.fake.violations, 0)
        gap = self.fake.sent[1]["at"] - self.fake.sent[0]["at"]
        self.assertGreaterEqual(gap, 1.0)

    def test_429_retry_after_is_honoured(self):
        contacts = self.make_contacts(5)
        self.fake.script(("429", 2))
        messages = contacts._send("hi", kind="transactional")
        self.dispatch(budget=30)
        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(len(self.fake.sent), 5)
        retried = messages.filtered(lambda m: m.attempts == 2)
        self.assertEqual(len(retried), 1)
        rejected_at = self.fake.requests[0][1]
        self.assertEqual(len(self.fake.requests), 6, "nothing else was tried during the pause")
        self.assertGreaterEqual(self.fake.requests[1][1] - rejected_at, 1.9, "waited retry_after seconds")

    def test_retry_after_outlives_the_run(self):
        """A run that ends during a "retry after" leaves the pause on the channel row: the
        next run (or another process) sends nothing to the provider before it ends, also
        not messages queued since."""
        contacts = self.make_contacts(3)
        self.fake.script(("429", 4))
        first = contacts[0]._send("hi", kind="transactional")
        self.dispatch(budget=0.5)  # the run ends while the channel is paused
        rejected_at = self.fake.requests[0][1]
        self.assertEqual((len(self.fake.requests), first.state), (1, "queued"))
        later = contacts[1:]._send("a reply")  # not part of the paused batch
        self.dispatch(budget=30)  # the next run waits for the pause, then sends
        self.assertEqual(set((first | later).mapped("state")), {"sent"})
        self.assertGreaterEqual(self.fake.requests[1][1] - rejected_at, 3.9, "the pause held across runs")
        self.assertEqual(self.fake.violations, 0)

    def test_a_released_window_keeps_the_pause(self):
        """A pause shorter than the batch's window: giving back the unused slots keeps the
        channel's first free slot at the pause's end, for the other processes."""
        Dispatcher = self.env["messenger.dispatcher"]
        run = Run()
        try:
            start_at, _interval, _count = Dispatcher._reserve_window(run, self.channel, 300, 1 / 30, 1.0)  # 10 s
            run.pace(self.channel.id).paused_until = start_at + 2  # paused for about 2 s
            Dispatcher._release_window(run, self.channel.id)
            self.env.cr.execute(
                "SELECT EXTRACT(EPOCH FROM pacing_next_slot - (clock_timestamp() AT TIME ZONE 'UTC')) "
                "FROM messenger_channel "
                "WHERE id = %s",
                [self.channel.id],
            )
            seconds = float(self.env.cr.fetchone()[0])
            self.assertGreater(seconds, 1.5)  # the pause holds
            self.assertLess(seconds, 5)  # the rest of the window is given back
        finally:
            run.close()

    @contextlib.contextmanager
    def runs(self, count):
        """``count`` dispatcher runs, as many processes, closed after."""
        runs = [Run() for _i in range(count)]
        try:
            yield runs
        finally:
            for run in runs:
                run.close()

    def _slots(self, window):
        start_at, interval, count = window
        return [start_at + i * interval for i in range(count)]

    def test_processes_share_the_slots_of_a_block(self):
        """A process that sends at a third of the channel's rate leaves two grid slots free
        after each of its sends: two other processes take them, sized to the block; a
        fourth reserves a block after it, whose free phases a slower process and the first
        one take. No slot is used twice."""
        Dispatcher = self.env["messenger.dispatcher"]
        grid = 0.5  # 2 messages/s: the slots are far apart, whatever the machine's speed
        with self.runs(5) as runs:
            first = Dispatcher._reserve_window(runs[0], self.channel, 20, grid, 3.0)  # 30 s of slots
            second = Dispatcher._reserve_window(runs[1], self.channel, 40, grid, 3.0)
            third = Dispatcher._reserve_window(runs[2], self.channel, 20, grid, 3.2)
            fourth = Dispatcher._reserve_window(runs[3], self.channel, 20, grid, 3.0)
            # a process twice as slow as the block: every second slot of its phase
            slower = Dispatcher._reserve_window(runs[4], self.channel, 20, grid, 6.0)
            again = Dispatcher._reserve_window(runs[0], self.channel, 20, grid, 3.0)
        self.assertEqual(first[1:], (1.5, 20))
        self.assertEqual(second[1:], (1.5, 20), "the block's 20 sends, not the 40 asked for")
        self.assertEqual(third[1:], (1.5, 20))
        self.assertAlmostEqual(second[0] - first[0], grid, delta=0.05)
        self.assertAlmostEqual(third[0] - first[0], 2 * grid, delta=0.05)
        self.assertGreater(fourth[0] - first[0], 30 - 0.05, "a new block after the full one")
        self.assertEqual(slower[1:], (3.0, 10))
        self.assertAlmostEqual(slower[0] - fourth[0], grid, delta=0.05)
        self.assertAlmostEqual(again[0] - fourth[0], 2 * grid, delta=0.05)
        slots = sorted(t for w in (first, second, third, fourth, slower, again) for t in self._slots(w))
        self.assertGreater(min(b - a for a, b in itertools.pairwise(slots)), grid - 0.05)

    def test_a_process_never_takes_two_phases_of_one_block(self):
        Dispatcher = self.env["messenger.dispatcher"]
        with self.runs(2) as (first, second):
            block = Dispatcher._reserve_window(first, self.channel, 20, 0.5, 3.0)
            again = Dispatcher._reserve_window(first, self.channel, 20, 0.5, 3.0)
            other = Dispatcher._reserve_window(second, self.channel, 20, 0.5, 3.0)
        self.assertGreater(again[0] - block[0], 30 - 0.05, "a block of its own after the first")
        self.assertAlmostEqual(other[0] - again[0], 0.5, delta=0.05, msg="another process takes its free phase")

    def test_a_paid_broadcast_never_joins_a_block_of_the_other_lane(self):
        Dispatcher = self.env["messenger.dispatcher"]
        with self.runs(2) as (first, second):
            free = Dispatcher._reserve_window(first, self.channel, 20, 0.5, 3.0)
            paid = Dispatcher._reserve_window(second, self.channel, 20, 0.001, 3.0)
        self.assertGreater(paid[0] - free[0], 30 - 0.05, "after the other lane's block")

    def test_a_pause_closes_the_grid_to_other_processes(self):
        """A "retry after" seen by one process: no other takes a phase of a block that
        starts before the pause ends, and the one that sends in the block keeps its slots
        (the block is not given back). Every process's next slot is after the pause."""
        Dispatcher = self.env["messenger.dispatcher"]
        grid = 0.5
        with self.runs(3) as (first, second, third):
            block = Dispatcher._reserve_window(first, self.channel, 20, grid, 4.0)  # 40 s of slots
            joined = Dispatcher._reserve_window(second, self.channel, 20, grid, 4.0)
            self.assertAlmostEqual(joined[0] - block[0], grid, delta=0.05)
            pace = first.pace(self.channel.id)
            pace.paused_until = block[0] + 3  # retry after 3 s, seen by the first process
            Dispatcher._carry_pause(SimpleNamespace(pace=pace, channel=self.channel))
            Dispatcher._release_window(first, self.channel.id)  # its batch ended: it gives back what it can
            later = Dispatcher._reserve_window(third, self.channel, 20, grid, 4.0)
        self.assertGreater(later[0] - block[0], 40 - 0.05, "not the block's free phase, nor its given-back slots")
        self.channel.invalidate_recordset()
        self.assertEqual(self.channel.pacing_block_phases, 1, "a new block")

    def test_a_pause_holds_for_a_process_without_a_block(self):
        """The pause alone (no block to join): the other process's slots start after it."""
        Dispatcher = self.env["messenger.dispatcher"]
        with self.runs(2) as (first, second):
            pace = first.pace(self.channel.id)
            pace.paused_until = time.monotonic() + 3
            Dispatcher._carry_pause(SimpleNamespace(pace=pace, channel=self.channel))
            start_at, _interval, _count = Dispatcher._reserve_window(second, self.channel, 20, 0.01, 4.0)
        self.assertGreater(start_at - time.monotonic(), 2.5)

    def test_a_campaign_slot_later_does_not_hold_a_reply(self):
        """A chat's messages go out in order, but a row planned for later and never claimed
        (a slow campaign's slot) does not hold the bot's answer to the person. One handed
        back to wait for its chat still holds the next ones (test_per_chat_limit)."""
        contact = self.make_contacts(1)
        later = contact._send("promo", kind="marketing")
        later.sudo().next_attempt_at = fields.Datetime.add(fields.Datetime.now(), hours=2)
        reply = contact._send("Your order ships today")
        self.dispatch(budget=5)
        self.assertEqual((reply.state, later.state), ("sent", "queued"))
        self.assertEqual(self.fake.texts(contact.chat_id), ["Your order ships today"])

    def test_5xx_retried_with_backoff_then_sent(self):
        contact = self.make_contacts(1)
        self.fake.script(("500",), ("500",))
        message = contact._send("hello")
        self.dispatch(budget=30)
        self.assertEqual(message.state, "sent")
        self.assertEqual(message.attempts, 3)
        self.assertEqual(self.fake.texts(), ["hello"])

    def test_transient_errors_give_up_after_max_attempts(self):
        self.channel.max_attempts = 2
        contact = self.make_contacts(1)
        self.fake.script(("500",), ("500",), ("500",))
        message = contact._send("hello")
        self.dispatch(budget=30)
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.failure_type, "provider_unavailable")
        self.assertIn("Telegram unavailable", message.failure_reason)
        self.assertEqual(message.attempts, 2)
        self.assertEqual(self.fake.texts(), [])

    def test_permanent_error_fails_with_reason(self):
        contact = self.make_contacts(1)
        self.fake.script(("400", "message text is empty"))
        message = contact._send("hello")
        self.dispatch(budget=10)
        self.assertEqual(message.state, "failed")
        self.assertEqual(message.failure_type, "rejected")
        self.assertIn("message text is empty", message.failure_reason.lower())
        self.assertEqual(message.attempts, 1)
        self.assertIn("message text is empty", self.channel.last_error.lower())

    def test_403_blocks_contact_and_later_marketing_skips_it(self):
        contacts = self.make_contacts(2)
        blocked = contacts[0]
        self.fake.blocked.add(blocked.chat_id)
        messages = contacts._send("first", kind="marketing")
        self.dispatch(budget=10)
        self.assertEqual(blocked.state, "blocked")
        self.assertEqual(blocked.consent_log_ids[:1].method, "provider")
        failed = messages.filtered(lambda m: m.contact_id == blocked)
        self.assertEqual((failed.state, failed.failure_type), ("failed", "blocked"))
        # nothing more is queued for the blocked contact...
        later = contacts._send("second", kind="marketing")
        self.assertEqual(later.contact_id, contacts[1])
        # ...and a row queued before the block is cancelled at send time, never sent
        stale = self.env["messenger.message"].create(
            {"channel_id": self.channel.id, "contact_id": blocked.id, "kind": "marketing", "body": "stale"}
        )
        self.fake.blocked.clear()
        self.dispatch(budget=10)
        self.assertEqual((stale.state, stale.failure_type), ("cancelled", "opted_out"))
        self.assertEqual(self.fake.texts(blocked.chat_id), [])
        self.assertEqual(self.fake.texts(contacts[1].chat_id), ["first", "second"])

    def test_unsubscribed_contact_gets_no_marketing_but_gets_replies(self):
        contact = self.make_contacts(1, state="unsubscribed")
        self.assertFalse(contact._send("promo", kind="marketing"))
        self.assertTrue(contact._send("your order shipped", kind="transactional"))
        self.channel.transactional_consent = "subscribed"
        self.assertFalse(contact._send("your order shipped", kind="transactional"))
        self.assertTrue(contact._send("operator reply", kind="service"))

    def test_slow_answer_retries_conversation_but_not_marketing(self):
        self.channel.request_timeout = 0.5
        contacts = self.make_contacts(2)
        self.fake.script(("slow", 1.0))
        reply = contacts[0]._send("reply", kind="service")
        self.dispatch(budget=10)
        # a conversation reply is retried: better twice than never
        self.assertEqual(reply.state, "sent")
        self.assertEqual(reply.attempts, 2)
        self.fake.wait_for(2)
        self.fake.reset()
        self.fake.script(("slow", 1.0))
        promo = contacts[1]._send("promo", kind="marketing")
        self.dispatch(budget=10)
        # a marketing message whose outcome is unknown waits for a person, never resent blindly
        self.assertEqual((promo.state, promo.maybe_delivered), ("uncertain", True), "marked: it may have arrived")
        self.assertEqual(promo.attempts, 1)
        self.fake.wait_for(1)
        self.assertEqual(self.fake.texts(contacts[1].chat_id), ["promo"])

    def test_interrupted_sending_becomes_uncertain(self):
        contact = self.make_contacts(1)
        message = contact._send("hello")
        message._to("sending", claimed_at="2020-01-01 00:00:00")
        self.dispatch(budget=5)
        self.assertEqual((message.state, message.maybe_delivered), ("uncertain", True))
        self.assertEqual(self.fake.texts(), [])
        message.action_retry()
        self.dispatch(budget=5)
        self.assertEqual(message.state, "sent")

    def test_interrupted_sending_is_resent_where_the_provider_deduplicates(self):
        sandbox = self.env["messenger.channel"].create({"name": "Sandbox", "provider": "sandbox"})
        contact = self.env["messenger.contact"].create({"name": "S", "channel_id": sandbox.id, "chat_id": "s1"})
        message = contact._send("hello")
        message._to("sending", claimed_at="2020-01-01 00:00:00")
        self.env["messenger.dispatcher"]._dispatch(time_budget=5, channel_ids=sandbox.ids)
        self.assertEqual(message.state, "sent")

    def test_archived_channel_keeps_its_queue(self):
        contact = self.make_contacts(1)
        message = contact._send("hello")
        self.channel.active = False
        self.dispatch(budget=2)
        self.assertEqual(message.state, "queued")
        self.channel.active = True
        self.dispatch(budget=5)
        self.assertEqual(message.state, "sent")
