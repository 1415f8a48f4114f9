import collections
import threading

from odoo import SUPERUSER_ID, api
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from odoo.addons.messenger_marketing.tests.fakes.telegram_server import FakeTelegram
from odoo.addons.messenger_marketing.tests.test_faults_dispatch import PROVIDERS, CommittedCase, _Worker


@tagged("post_install", "-at_install")
class TestConcurrentDispatchers(BaseCase):
    """Two dispatchers, each in its own thread with its own cursor and commits, as two cron
    workers (or two Odoo hosts) would run: no message twice, none left, limits kept.

    The data is committed for real (the dispatchers cannot see a test transaction), and
    removed at the end."""

    def setUp(self):
        super().setUp()
        self.registry = __import__("odoo").modules.registry.Registry(get_db_name())
        self.fake = FakeTelegram(rate_limit=100).start()
        self.addCleanup(self.fake.stop)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            channel = env["messenger.channel"].create(
                {
                    "name": "Concurrency bot",
                    "provider": "telegram",
                    "token": self.fake.token,
                    "api_base_url": self.fake.url,
                    "rate_limit": 100,
                    "per_chat_interval": 1.0,
                }
            )
            contacts = env["messenger.contact"].create(
                [{"name": f"P{i}", "channel_id": channel.id, "chat_id": str(5000 + i)} for i in range(300)]
            )
            contacts._send("hello", kind="transactional")
            # a second message to a few chats: their order and the per-chat pause must hold
            contacts[:10]._send("second", kind="transactional")
            self.channel_id = channel.id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["messenger.channel"].browse(self.channel_id).unlink()

    def _run_dispatcher(self, errors):
        try:
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                env["messenger.dispatcher"]._dispatch(time_budget=20, channel_ids=[self.channel_id], auto_commit=True)
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)

    def test_two_dispatchers_never_send_twice(self):
        errors = []
        threads = [threading.Thread(target=self._run_dispatcher, args=(errors,)) for _i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual(errors, [])
        pairs = [(s["chat_id"], s["text"]) for s in self.fake.sent]
        self.assertEqual(len(pairs), 310)
        self.assertEqual(len(set(pairs)), 310, "no message was sent twice")
        self.assertEqual(self.fake.violations, 0)
        for chat in range(5000, 5010):
            self.assertEqual(self.fake.texts(chat), ["hello", "second"])
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT state, count(*) FROM messenger_message WHERE channel_id = %s GROUP BY state", [self.channel_id]
            )
            self.assertEqual(dict(cr.fetchall()), {"sent": 310})


class TestOneChannelTwoProcesses(CommittedCase):
    """Two dispatcher processes (dispatch_worker.py) on one channel whose limit is above
    what either can send: each takes the grid slots the other leaves free."""

    def test_two_processes_fill_each_others_slots(self):
        # Each process has 32 connections and the fake answers after 0.16 s: one process
        # sends at most 200 messages/s, far under the channel's 1,000/s, whatever its CPU.
        fake = FakeTelegram(rate_limit=1000, per_chat_interval=1.0, delay=0.16).start()
        self.addCleanup(fake.stop)
        channel_id = self.make_channel(PROVIDERS["telegram"], fake, rate_limit=1000, per_chat_interval=1.0)
        with self.committed_env() as env:
            env.cr.execute(
                """INSERT INTO messenger_contact (name, channel_id, chat_id, state, answered_by,
                                                  create_date, write_date)
                   SELECT 'Grid test ' || g, %s, (800000 + g)::text, 'subscribed', 'bot', now(), now()
                   FROM generate_series(1, 3600) g""",
                [channel_id],
            )
            # a second message to a tenth of the chats: the per-chat limit across processes.
            # Marketing messages: a transactional one is also written in the contact's Discuss
            # conversation, about 10 ms each, which would bound the processes instead.
            for text, limit in (("first", 3600), ("second", 360)):
                env.cr.execute(
                    """INSERT INTO messenger_message (channel_id, contact_id, direction, kind, body, body_format,
                                                      state, uuid, attempts, priority, next_attempt_at,
                                                      create_date, write_date)
                       SELECT %s, id, 'out', 'marketing', %s, 'plain', 'queued', md5(random()::text || id), 0,
                              0, now() at time zone 'utc', now(), now()
                       FROM messenger_contact WHERE channel_id = %s ORDER BY id LIMIT %s""",
                    [channel_id, text, channel_id, limit],
                )
        workers = [_Worker([channel_id], 120, debug=True) for _i in range(2)]
        for worker in workers:
            self.addCleanup(worker.close)
        for worker in workers:
            worker.wait_ready()
        for worker in workers:
            self.assertEqual(worker.finish(timeout=180), 0, worker.tail())

        stats = fake.stats()
        self.assertEqual((stats["sent"], stats["duplicates"]), (3960, 0), "each message sent once")
        self.assertEqual(stats["violations"], 0, stats["violations_by_limit"])
        self.assertEqual(collections.Counter(r[0] for r in self.rows(channel_id).values()), {"sent": 3960})
        by_chat = collections.defaultdict(list)
        for sent in fake.sent:
            by_chat[sent["chat_id"]].append(sent["text"])
        self.assertEqual(sum(texts == ["first", "second"] for texts in by_chat.values()), 360)
        # they sent into each other's blocks, at once: faster than one process can. (Over
        # the second half of the sends: in the first, each process finds the pace it manages.)
        joined = [w.tail(None).count("of another process's block") for w in workers]
        self.assertGreater(sum(joined), 0, "no process took a phase of another's block")
        times = sorted(s["at"] for s in fake.sent)
        half, p95 = len(times) // 2, len(times) * 19 // 20
        rate = (p95 - half) / (times[p95] - times[half])
        self.assertGreater(rate, 1.4 * 200, f"{rate:.0f} messages/s: the processes took turns ({joined} joins)")
