import threading

from odoo import SUPERUSER_ID, api
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from odoo.addons.messenger_marketing.tests.fakes.telegram_server import FakeTelegram


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
