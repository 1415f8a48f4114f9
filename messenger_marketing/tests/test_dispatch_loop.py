"""The dispatcher's run loop on its own (``core.dispatch``): a store in memory, a fake
clock, a provider that answers at once. No database, no Odoo model."""

from types import SimpleNamespace

from odoo.tests import BaseCase

from ..core.dispatch import CLAIM_AHEAD, Job, Run, run_loop, seconds_to_next_claim
from ..core.providers import SENT, TRANSIENT, SendResult
from ..core.providers.base import OutgoingMessage


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Provider:
    """Answers every send at once: ``retry_after`` for the keys named, sent otherwise."""

    def __init__(self, retry_after=()):
        self.retry_after = set(retry_after)
        self.sent = []

    async def open(self):
        pass

    async def close(self):
        pass

    async def send(self, message):
        if message.key in self.retry_after:
            return SendResult(message.key, TRANSIENT, reason="429", retry_after=30.0)
        self.sent.append(message.key)
        return SendResult(message.key, SENT, provider_message_id=f"p{message.key}")


class Store:
    """A queue in memory, {key: due time on the fake clock}, and a log of what the loop
    asked of it."""

    def __init__(self, clock, queue, provider=None, channel_id=7, interval=0.0):
        self.clock = clock
        self.queue = {key: clock() + delay for key, delay in queue.items()}
        self.provider = provider or Provider()
        self.channel = SimpleNamespace(id=channel_id)
        self.interval = interval  # real seconds between sends
        self.log = []
        self.applied = []

    def begin(self):
        self.log.append("begin")

    def commit(self):
        self.log.append("commit")

    def claim(self, run):
        self.log.append("claim")
        keys = sorted(k for k, due in self.queue.items() if due <= self.clock())
        if not keys:
            return []
        for key in keys:
            del self.queue[key]
        provider = run.provider(self.channel.id, lambda: self.provider)
        return [
            Job(
                channel=self.channel,
                provider=provider,
                outgoing=[OutgoingMessage(key=k, chat_id=str(k), text="hi") for k in keys],
                claimed_at=None,
                start_at=self.clock(),
                interval=self.interval,
                per_chat_interval=0.0,
                limit=1000,
                concurrency=8,
                failure_pause=10.0,
                pace=run.pace(self.channel.id),
            )
        ]

    def apply(self, jobs, outcomes):
        self.log.append("apply")
        for outcome in outcomes:
            self.applied += [(r.key, r.outcome) for r in outcome.results]
            for message, wait in outcome.deferred:
                self.applied.append((message.key, "deferred"))
                self.queue[message.key] = self.clock() + wait
        return sum(len(o.results) for o in outcomes)

    def release_window(self, run, channel_id):
        self.log.append(f"release {channel_id}")

    def seconds_to_next_due(self):
        return max(min(self.queue.values()) - self.clock(), 0.0) if self.queue else None

    def schedule(self, seconds):
        self.log.append(f"schedule {seconds:g}")


class TestDispatchLoop(BaseCase):
    def run_loop(self, store, clock, budget):
        run = Run(clock=clock)
        try:
            return run_loop(store, run, clock() + budget, sleep=clock.sleep), run
        finally:
            run.close()

    def test_one_claim_even_when_the_budget_is_spent(self):
        clock = Clock()
        store = Store(clock, {1: 0, 2: 0, 3: 0, 4: 1})
        handled, _run = self.run_loop(store, clock, budget=0)
        self.assertEqual(handled, 3)
        self.assertEqual(store.log.count("claim"), 1)
        self.assertEqual(sorted(store.applied), [(1, SENT), (2, SENT), (3, SENT)])
        self.assertEqual(store.provider.sent, [1, 2, 3])
        self.assertIn("schedule 1", store.log)  # 4 is for the next run

    def test_each_batch_is_written_in_a_transaction_of_its_own(self):
        clock = Clock()
        store = Store(clock, {1: 0})
        self.run_loop(store, clock, budget=10)
        # claim, then the batch's results, each between a begin and a commit
        first_apply = store.log.index("apply")
        self.assertEqual(store.log[first_apply - 1], "begin")
        self.assertEqual(store.log[first_apply + 1], "commit")
        claim = store.log.index("claim")
        self.assertEqual(store.log[claim - 1 : claim + 2], ["begin", "claim", "commit"])

    def test_waits_for_what_falls_due_within_the_budget(self):
        clock = Clock()
        store = Store(clock, {1: 0, 2: 5})
        handled, _run = self.run_loop(store, clock, budget=10)
        self.assertEqual(handled, 2)
        self.assertEqual(clock.sleeps, [5.0])
        self.assertEqual(store.provider.sent, [1, 2])
        self.assertFalse([e for e in store.log if e.startswith("schedule")])

    def test_schedules_what_falls_due_after_the_budget(self):
        clock = Clock()
        store = Store(clock, {1: 0, 2: 30})
        handled, _run = self.run_loop(store, clock, budget=10)
        self.assertEqual(handled, 1)
        self.assertEqual(clock.sleeps, [])  # no waiting past the budget
        self.assertIn("schedule 30", store.log)

    def test_a_pause_gives_back_the_unused_window(self):
        clock = Clock()
        store = Store(clock, {1: 0, 2: 0, 3: 0}, provider=Provider(retry_after={1}), interval=0.05)
        handled, run = self.run_loop(store, clock, budget=0)
        self.assertEqual(handled, 1)  # the 429; the rest was handed back, not sent
        self.assertEqual(sorted(store.applied), [(1, TRANSIENT), (2, "deferred"), (3, "deferred")])
        self.assertIn("release 7", store.log)
        self.assertNotIn(7, run.busy_until)
        self.assertEqual(store.provider.sent, [])
        # the pause (30 s from the answer, on the sending loop's clock) is left to the next run
        (scheduled,) = [float(e.split()[1]) for e in store.log if e.startswith("schedule")]
        self.assertTrue(29 < scheduled <= 30, scheduled)

    def test_next_claim_shortly_before_the_window_ends(self):
        clock = Clock()
        run = Run(clock=clock)
        try:
            self.assertIsNone(seconds_to_next_claim(run, deadline=clock() + 10))
            run.busy_until[1] = clock() + 3.0
            run.busy_until[2] = clock() + 1.0
            self.assertAlmostEqual(seconds_to_next_claim(run, deadline=clock() + 10), 1.0 - CLAIM_AHEAD)
            self.assertIsNone(seconds_to_next_claim(run, deadline=clock()))  # budget spent
        finally:
            run.close()

    def test_pacing_belongs_to_the_run(self):
        first, second = Run(), Run()
        try:
            self.assertIs(first.pace(1), first.pace(1))
            self.assertIsNot(first.pace(1), second.pace(1))
        finally:
            first.close()
            second.close()
