"""Fault tolerance of sending, with real processes, a real database and the providers'
fake servers: a dispatcher killed mid-batch, a provider that goes down, a database
connection cut during dispatch, and two hosts sending one queue.

The dispatchers that are killed or run side by side are Odoo processes of their own
(``dispatch_worker.py``), so what they need is committed for real, and removed at the end.
A provider takes part through an entry of ``PROVIDERS``.
"""

import collections
import contextlib
import functools
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

from .common import MessengerCase
from .fakes.graph_server import FakeGraph
from .fakes.max_server import FakeMax
from .fakes.telegram_server import FakeTelegram
from .fakes.vk_server import FakeVk

WORKER = Path(__file__).with_name("dispatch_worker.py")


@dataclass
class FaultProvider:
    """How the fault tests drive one provider.

    ``fake`` starts its fake server with the given options (None: nothing leaves Odoo);
    ``idempotent``: a resend after a crash cannot reach a person twice (VK's
    ``random_id``), so interrupted rows are sent again. ``account_vals`` are the channel's
    account settings for a fake; ``chat_key`` names the person in the fake's ``sent``;
    ``window``: the provider sends free text only to people who wrote lately (WhatsApp),
    so the test's contacts did."""

    code: str
    idempotent: bool
    fake: object = None
    account_vals: object = None  # fake -> channel values
    chat_key: str = "chat_id"
    window: bool = False

    def start_fake(self, **options):
        return self.fake(**options).start() if self.fake else None

    def vals(self, fake):
        vals = {"provider": self.code}
        if fake:
            vals.update({"token": fake.token, "api_base_url": fake.url, "request_timeout": 5.0})
            vals.update(self.account_vals(fake) if self.account_vals else {})
        return vals

    def delivered(self, fake):
        return collections.Counter(s[self.chat_key] for s in fake.sent) if fake else None


PROVIDERS = {
    "telegram": FaultProvider("telegram", idempotent=False, fake=FakeTelegram),
    "sandbox": FaultProvider("sandbox", idempotent=True),
    "vk": FaultProvider(
        "vk", idempotent=True, fake=FakeVk, account_vals=lambda f: {"vk_group_id": f.group_id}, chat_key="peer_id"
    ),
    "max": FaultProvider("max", idempotent=False, fake=FakeMax, chat_key="user_id"),
    "whatsapp": FaultProvider(
        "whatsapp",
        idempotent=False,
        fake=functools.partial(FakeGraph, "whatsapp"),
        account_vals=lambda f: {
            "app_secret": f.app_secret,
            "whatsapp_phone_number_id": f.account_id,
            "whatsapp_account_id": f.waba_id,
        },
        chat_key="chat",
        window=True,
    ),
}


class _Worker:
    """A dispatcher process (see dispatch_worker.py)."""

    def __init__(self, channel_ids, seconds, debug=False):
        self.log = tempfile.NamedTemporaryFile("w+", prefix="messenger-worker-", suffix=".log")  # noqa: SIM115
        command = [
            sys.executable,
            str(WORKER),
            odoo.tools.config.rcfile,
            get_db_name(),
            ",".join(map(str, channel_ids)),
            str(seconds),
            *(["--debug"] if debug else []),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.lines = []

    @property
    def pid(self):
        return self.process.pid

    def read_line(self, timeout):
        ready, _w, _x = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""
        self.lines.append(line)
        return line.strip()

    def wait_ready(self, timeout=120):
        line = self.read_line(timeout)
        assert line == "READY", f"the dispatcher process did not start: {line!r}\n{self.tail()}"

    def finish(self, timeout):
        out, _err = self.process.communicate(timeout=timeout)
        self.lines.extend(out.splitlines())
        return self.process.returncode

    def kill(self):
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def output(self):
        return "\n".join(line.strip() for line in self.lines if line.strip())

    def tail(self, size=3000):
        """The end of the process's log (None: all of it)."""
        self.log.seek(0)
        text = self.log.read()
        return text[-size:] if size else text

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()
        self.log.close()


def wait_until(condition, timeout, message):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(message)


@tagged("post_install", "-at_install")
class CommittedCase(BaseCase):
    """Channels, contacts and messages committed for real, for other processes to see."""

    def setUp(self):
        super().setUp()
        self.registry = odoo.modules.registry.Registry(get_db_name())
        self.channel_ids = []
        self.addCleanup(self._remove_channels)

    @contextlib.contextmanager
    def committed_env(self):
        with self.registry.cursor() as cr:
            yield api.Environment(cr, SUPERUSER_ID, {})

    def _remove_channels(self):
        with self.committed_env() as env:
            env["messenger.channel"].browse(self.channel_ids).unlink()  # contacts and messages go with them

    def make_channel(self, provider, fake, **vals):
        with self.committed_env() as env:
            vals = {"name": f"Faults {provider.code}", **provider.vals(fake), **vals}
            channel = env["messenger.channel"].create(vals)
            self.channel_ids.append(channel.id)
            return channel.id

    def set_param(self, key, value):
        with self.committed_env() as env:
            params = env["ir.config_parameter"]
            old = params.get_param(key)
            params.set_param(key, value)

        def restore():
            with self.committed_env() as env:
                env["ir.config_parameter"].set_param(key, old or False)

        self.addCleanup(restore)

    def queue(self, channel_id, count, kind="marketing", text="Spring sale", wrote_lately=False):
        with self.committed_env() as env:
            wrote_at = fields.Datetime.now() if wrote_lately else False
            contacts = env["messenger.contact"].create(
                [
                    {
                        "name": f"P{i}",
                        "channel_id": channel_id,
                        "chat_id": str(7000 + i),
                        "last_inbound_at": wrote_at,
                    }
                    for i in range(count)
                ]
            )
            return contacts._send(text, kind=kind).ids

    def rows(self, channel_id):
        """id -> (state, attempts, chat id, failure type) of the channel's messages."""
        with self.committed_env() as env:
            env.cr.execute(
                """SELECT m.id, m.state, m.attempts, c.chat_id, m.failure_type FROM messenger_message m
                   JOIN messenger_contact c ON c.id = m.contact_id WHERE m.channel_id = %s AND m.direction = 'out'""",
                [channel_id],
            )
            return {r[0]: r[1:] for r in env.cr.fetchall()}

    def dispatch_here(self, channel_id, budget):
        """A new dispatcher run in this process, committing as the cron does."""
        with self.committed_env() as env:
            return env["messenger.dispatcher"]._dispatch(time_budget=budget, channel_ids=[channel_id], auto_commit=True)

    def start_worker(self, channel_ids, seconds=60):
        worker = _Worker(channel_ids, seconds)
        self.addCleanup(worker.close)
        worker.wait_ready()
        return worker


class TestKilledDispatcher(CommittedCase):
    """A dispatcher killed with SIGKILL in the middle of a batch, then a new one."""

    def _check_killed_mid_batch(self, code):
        provider = PROVIDERS[code]
        fake = provider.start_fake(rate_limit=0, per_chat_interval=0.0, delay=0.3)
        if fake:
            self.addCleanup(fake.stop)
        # 60 messages at 20/s: the first batch (40) takes two seconds to go out
        channel_id = self.make_channel(provider, fake, rate_limit=20, per_chat_interval=0.0)
        ids = self.queue(channel_id, 60, wrote_lately=provider.window)
        self.set_param("messenger_marketing.sending_timeout_seconds", "1")
        worker = self.start_worker([channel_id])
        wait_until(
            lambda: any(r[0] == "sending" for r in self.rows(channel_id).values()),
            30,
            f"the dispatcher claimed nothing\n{worker.tail()}",
        )
        if fake:
            wait_until(lambda: fake.stats()["requests"] >= 5, 30, "nothing reached the provider")
        else:
            time.sleep(0.8)  # well into the batch's two seconds
        worker.kill()
        at_kill = self.rows(channel_id)
        interrupted = {i for i, r in at_kill.items() if r[0] == "sending"}
        untouched = {i for i, r in at_kill.items() if r[0] == "queued"}
        self.assertTrue(interrupted, "the kill landed in the middle of a batch")
        self.assertTrue(untouched, "some messages were not claimed yet")
        if fake:
            time.sleep(0.5)  # the provider finishes the requests it had (the killed process got no answer)
            reached_before = sum(provider.delivered(fake).values())
            self.assertGreater(reached_before, 0)
        time.sleep(1.1)  # past the sending timeout
        self.dispatch_here(channel_id, budget=30)

        final = self.rows(channel_id)
        self.assertEqual(set(final), set(ids))
        states = collections.Counter(r[0] for r in final.values())
        delivered = provider.delivered(fake)
        if provider.idempotent:
            # retried safely: everything sent, the interrupted ones on a second attempt
            self.assertEqual(states, {"sent": 60})
            self.assertEqual({final[i][1] for i in interrupted}, {2})
            if fake:  # the provider kept the resends that reached it already from reaching anyone twice
                self.assertEqual(set(delivered.values()), {1})
                self.assertEqual(len(delivered), 60)
            return
        self.assertEqual(max(delivered.values()), 1, "no message reached anyone twice")
        self.assertLessEqual(set(states), {"sent", "uncertain"}, "nothing lost, nothing left queued")
        for message_id, (state, _attempts, chat_id, failure_type) in final.items():
            if state == "sent":
                self.assertEqual(delivered[chat_id], 1, f"message {message_id} was sent exactly once")
            else:
                # unknowable after the crash: a person decides, nothing was resent
                self.assertIn(message_id, interrupted)
                self.assertEqual(failure_type, "interrupted")
        self.assertTrue(untouched <= {i for i, r in final.items() if r[0] == "sent"})
        self.assertEqual({i for i, r in final.items() if r[0] == "uncertain"}, interrupted)


for _code in PROVIDERS:
    setattr(
        TestKilledDispatcher,
        f"test_killed_mid_batch_{_code}",
        lambda self, code=_code: self._check_killed_mid_batch(code),
    )


class TestDatabaseConnectionCut(CommittedCase):
    def test_connection_terminated_during_dispatch(self):
        """The dispatcher's database connections are terminated while a batch is out: it
        writes what it sent through a new connection; the next run sends the rest."""
        provider = PROVIDERS["telegram"]
        fake = provider.start_fake(rate_limit=0, per_chat_interval=0.0, delay=0.5)
        self.addCleanup(fake.stop)
        channel_id = self.make_channel(provider, fake, rate_limit=20, per_chat_interval=0.0)
        ids = self.queue(channel_id, 40, kind="transactional", text="Your order shipped")
        self.set_param("messenger_marketing.sending_timeout_seconds", "1")
        worker = self.start_worker([channel_id])
        wait_until(lambda: fake.stats()["requests"] >= 5, 30, f"nothing reached the provider\n{worker.tail()}")
        with self.committed_env() as env:
            env.cr.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                [f"odoo-{worker.pid}"],
            )
            self.assertTrue(env.cr.fetchall(), "the dispatcher's connections were found")
        worker.finish(timeout=120)
        self.assertIn("DB-ERROR", worker.output(), worker.tail())
        time.sleep(1.1)  # whatever it could not write is past the sending timeout
        self.dispatch_here(channel_id, budget=30)

        final = self.rows(channel_id)
        self.assertEqual(set(final), set(ids))
        self.assertEqual(collections.Counter(r[0] for r in final.values()), {"sent": 40}, worker.tail())
        delivered = provider.delivered(fake)
        self.assertEqual(sorted(delivered), sorted(r[2] for r in final.values()))
        self.assertEqual(set(delivered.values()), {1}, "each message reached its person once")


class TestTwoHosts(CommittedCase):
    def test_two_processes_share_one_queue(self):
        """Two Odoo processes dispatch the same 5,000 messages at once: none is sent twice,
        none is left, and a chat's two messages keep their order."""
        provider = PROVIDERS["telegram"]
        fake = provider.start_fake(rate_limit=0, per_chat_interval=1.0)
        self.addCleanup(fake.stop)
        channel_id = self.make_channel(provider, fake, rate_limit=1000, per_chat_interval=1.0)
        with self.committed_env() as env:
            cr = env.cr
            cr.execute(
                """INSERT INTO messenger_contact (name, channel_id, chat_id, state, answered_by,
                                                  create_date, write_date)
                   SELECT 'Host test ' || g, %s, (900000 + g)::text, 'subscribed', 'bot', now(), now()
                   FROM generate_series(1, 4900) g""",
                [channel_id],
            )
            # 4,900 first messages, then a second one to a hundred of the chats
            for text, limit in (("first", 4900), ("second", 100)):
                cr.execute(
                    """INSERT INTO messenger_message (channel_id, contact_id, direction, kind, body, body_format,
                                                      state, uuid, attempts, priority, next_attempt_at,
                                                      create_date, write_date)
                       SELECT %s, id, 'out', 'transactional', %s, 'plain', 'queued', md5(random()::text || id), 0, 0,
                              now() at time zone 'utc', now(), now()
                       FROM messenger_contact WHERE channel_id = %s ORDER BY id LIMIT %s""",
                    [channel_id, text, channel_id, limit],
                )
            cr.execute("ANALYZE messenger_message")
        workers = [_Worker([channel_id], 180) for _i in range(2)]
        for worker in workers:
            self.addCleanup(worker.close)
        for worker in workers:
            worker.wait_ready()
        for worker in workers:
            self.assertEqual(worker.finish(timeout=240), 0, worker.tail())

        handled = [int(w.output().split("DONE ")[-1]) for w in workers]
        self.assertTrue(all(handled), f"both processes sent: {handled}")
        stats = fake.stats()
        self.assertEqual((stats["sent"], stats["duplicates"]), (5000, 0))
        self.assertEqual(collections.Counter(r[0] for r in self.rows(channel_id).values()), {"sent": 5000})
        by_chat = collections.defaultdict(list)
        for sent in fake.sent:
            by_chat[sent["chat_id"]].append(sent["text"])
        self.assertEqual(sum(texts == ["first", "second"] for texts in by_chat.values()), 100)
        self.assertEqual(sum(1 for texts in by_chat.values() if texts == ["first"]), 4800)


class TestProviderOutage(MessengerCase):
    def test_outage_then_recovery(self):
        """The provider refuses connections, then answers 500, then recovers: every
        message arrives once after the recovery, within the retry budget, and the
        dispatcher probed the outage with a few requests instead of every message."""
        self.env["ir.config_parameter"].sudo().set_param("messenger_marketing.retry_base_seconds", "0.5")
        self.channel.write({"rate_limit": 20, "per_chat_interval": 0.0, "max_attempts": 5})
        contacts = self.make_contacts(20)
        messages = contacts._send("Your order shipped", kind="transactional")
        start = time.monotonic()
        self.fake.fail(4.0)  # every send gets a 500 for four seconds...
        self.fake.refuse(1.5)  # ...and for the first one and a half, nothing even listens
        self.dispatch(budget=40)

        self.assertEqual(set(messages.mapped("state")), {"sent"})
        self.assertEqual(sorted(self.fake.texts()), ["Your order shipped"] * 20)
        self.assertEqual(len({s["chat_id"] for s in self.fake.sent}), 20, "each message arrived once")
        self.assertGreaterEqual(min(s["at"] for s in self.fake.sent), start + 4.0, "delivered after the recovery")
        self.assertLess(max(s["at"] for s in self.fake.sent), start + 15.0, "and soon after it")
        attempts = messages.mapped("attempts")
        self.assertLessEqual(max(attempts), self.channel.max_attempts, "within the retry budget")
        # Three failures in a row pause the channel, then one probe per pause (each pause
        # twice as long): a handful of attempts in all, not one per message and retry.
        self.assertLessEqual(sum(attempts) - 20, 8, attempts)
        # requests that reached the server during the outage (refused connections never do)
        failed_requests = len(self.fake.requests) - 20
        self.assertLessEqual(failed_requests, 3, "the outage was probed, not hammered")
        self.assertIn("Telegram unavailable", self.channel.last_error)
