"""Shared by the dispatch benchmarks: the providers they run against, a channel with its
queue of messages, and dispatchers run in processes of their own.

A provider takes part through one entry of ``PROVIDERS``: its fake server (from the
tests' fakes, run in a process of its own), the limits that fake enforces, and the
channel values that point the real client library at it.
"""

import json
import logging
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, os.path.dirname(__file__))
import _odoo

sys.path.insert(0, str(_odoo.REPO / "messenger_marketing" / "tests" / "fakes"))
from graph_server import FakeGraph  # found through the path above
from telegram_server import FakeTelegram

DB = os.environ.get("MESSENGER_BENCH_DB", "messenger_bench")
MODULES = "messenger_marketing,mass_mailing_sms"  # the campaign benchmark's database, shared


@dataclass
class ProviderBench:
    """How to benchmark one provider against its fake server."""

    code: str
    fake_class: object  # (rate_limit=, per_chat_interval=, **fake_options) -> fake server
    rate_limit: float  # messages per second per channel, as the provider enforces it
    per_chat_interval: float  # seconds between two messages to one chat
    fake_options: dict = field(default_factory=dict)
    account_vals: object = None  # fake -> the channel's account settings besides the token
    # WhatsApp sends free text only to people who wrote in the last 24 hours: the
    # benchmark's contacts wrote a moment ago
    window: bool = False

    def start_fake(self, unlimited=False):
        if unlimited:
            return self.fake_class(rate_limit=0, per_chat_interval=0.0, **self.fake_options).start()
        return self.fake_class(
            rate_limit=self.rate_limit, per_chat_interval=self.per_chat_interval, **self.fake_options
        ).start()

    def channel_vals(self, fake, unlimited=False):
        return {
            "provider": self.code,
            "token": fake.token,
            "api_base_url": fake.url,
            "request_timeout": 10.0,
            "rate_limit": 100000.0 if unlimited else self.rate_limit,
            "per_chat_interval": 0.0 if unlimited else self.per_chat_interval,
            **(self.account_vals(fake) if self.account_vals else {}),
        }


PROVIDERS = {
    "telegram": ProviderBench("telegram", FakeTelegram, rate_limit=30.0, per_chat_interval=1.0),
    # Cloud API: 80 messages/s per phone number; a second between two messages to one
    # person, the channel's default (see WhatsAppProvider)
    "whatsapp": ProviderBench(
        "whatsapp",
        lambda **options: FakeGraph("whatsapp", **options),
        rate_limit=80.0,
        per_chat_interval=1.0,
        account_vals=lambda fake: {
            "app_secret": fake.app_secret,
            "whatsapp_phone_number_id": fake.account_id,
            "whatsapp_account_id": fake.waba_id,
        },
        window=True,
    ),
}


def prepare(env, provider, fake, count, *, channels=1, unlimited=False, repeat_share=0.1, repeat_kind="transactional"):
    """Fresh channels (bots of one shop) with ``count`` queued messages between them: a
    campaign to most of their contacts (marketing, with traces and the unsubscribe button,
    as a real campaign queues them) and a second message (of ``repeat_kind``) to
    ``repeat_share`` of them, so the per-chat pause and the order within a chat are
    exercised. A transactional message sent is also written in the contact's Discuss
    conversation; a marketing one is not. Returns the channel ids."""
    cr = env.cr
    repeats = int(count * repeat_share)
    chats = count - repeats
    vals = provider.channel_vals(fake, unlimited=unlimited)
    records = env["messenger.channel"].create(
        [{"name": f"bench-dispatch-{provider.code}-{n}", **vals} for n in range(channels)]
    )
    cr.execute(
        """INSERT INTO messenger_contact (name, channel_id, company_id, chat_id, state, answered_by,
                                          last_inbound_at, create_date, write_date)
           SELECT 'Bench ' || g, ch.id, ch.company_id, (700000000 + g)::text, 'subscribed', 'bot',
                  CASE WHEN %s THEN now() at time zone 'utc' END, now(), now()
           FROM generate_series(1, %s) g JOIN messenger_channel ch ON ch.id = (%s::int[])[1 + g %% %s]""",
        [provider.window, chats, records.ids, channels],
    )
    mailing = env["mailing.mailing"].create(
        {
            "name": f"bench dispatch {provider.code}",
            "subject": "bench",
            "mailing_type": "messenger",
            "mailing_model_id": env.ref("messenger_marketing.model_messenger_contact").id,
            "mailing_domain": repr([("channel_id", "in", records.ids)]),
            "messenger_channel_ids": [(6, 0, records.ids)],
            "messenger_body": "Spring sale: -20% this week!",
        }
    )
    queued = mailing._messenger_launch()
    cr.execute(
        """INSERT INTO messenger_message (channel_id, contact_id, direction, kind, body, body_format, state, uuid,
                                          attempts, priority, next_attempt_at, create_date, write_date)
           SELECT channel_id, id, 'out', %s, 'Your order is confirmed', 'plain', 'queued',
                  md5(random()::text), 0, 0, now() at time zone 'utc', now(), now()
           FROM messenger_contact WHERE channel_id = ANY(%s) ORDER BY id LIMIT %s""",
        [repeat_kind, records.ids, repeats],
    )
    assert queued + cr.rowcount == count, (queued, cr.rowcount)
    cr.execute("ANALYZE messenger_message")
    cr.execute("ANALYZE messenger_contact")
    cr.commit()
    return records.ids


def cleanup(env, channel_ids):
    env.cr.rollback()
    channels = env["messenger.channel"].browse(channel_ids)
    env["mailing.mailing"].search([("messenger_channel_ids", "in", channels.ids)]).unlink()
    channels.unlink()  # contacts and messages go with them (ON DELETE CASCADE)
    env.cr.commit()


def states(env, channel_ids):
    env.cr.execute(
        "SELECT state, count(*) FROM messenger_message WHERE channel_id = ANY(%s) GROUP BY state ORDER BY 2 DESC",
        [list(channel_ids)],
    )
    return dict(env.cr.fetchall())


def run_dispatchers(channel_ids, processes, timeout):
    """Run ``processes`` dispatchers at once, each an Odoo process of its own, until the
    channels' queue is empty; return their reports (messages handled, CPU and wall time)."""
    script = Path(__file__).resolve()
    ids = ",".join(map(str, channel_ids))
    # MESSENGER_BENCH_PROFILE="py-spy record -r 250 -f raw -o /tmp/dispatch-{n}.txt --" runs
    # each dispatcher under that profiler ({n}: the process's number)
    profiler = os.environ.get("MESSENGER_BENCH_PROFILE", "")
    children = [
        subprocess.Popen(
            [*profiler.format(n=n).split(), sys.executable, str(script), "--child", ids, str(timeout)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    reports = []
    for child in children:
        out, _err = child.communicate(timeout=timeout + 120)
        if child.returncode:
            raise RuntimeError(f"a dispatcher process failed (exit code {child.returncode})")
        # the last JSON line (a profiler may print after it)
        reports.append(json.loads([line for line in out.splitlines() if line.startswith("{")][-1]))
    return reports


def child(channel_ids, timeout):
    """One dispatcher process: load the registry, then dispatch until nothing is left."""
    conf = _odoo.config_file()
    _registry, cr, env = _odoo.environment(conf, DB)
    if os.environ.get("MESSENGER_BENCH_DEBUG"):  # each batch's pace, on stderr
        logging.getLogger("odoo.addons.messenger_marketing.models.messenger_dispatcher").setLevel(logging.DEBUG)
    dispatcher = env["messenger.dispatcher"]
    # the dispatcher's PostgreSQL backend (its queries run on this cursor), on this host
    cr.execute("SELECT pg_backend_pid()")
    backend = psutil.Process(cr.fetchone()[0])
    cr.commit()
    backend_before = backend.cpu_times()
    before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    handled = 0
    while time.perf_counter() - start < timeout:
        handled += dispatcher._dispatch(time_budget=30, channel_ids=channel_ids, auto_commit=True)
        cr.execute(
            "SELECT count(*) FROM messenger_message WHERE channel_id = ANY(%s) AND state IN ('queued', 'sending')",
            [channel_ids],
        )
        left = cr.fetchone()[0]
        cr.commit()
        if not left:
            break
        time.sleep(0.05)  # the rest is claimed by another dispatcher, or due later
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    backend_after = backend.cpu_times()
    cr.close()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    pg_cpu = backend_after.user + backend_after.system - backend_before.user - backend_before.system
    print(json.dumps({"handled": handled, "cpu": cpu, "pg_cpu": pg_cpu, "wall": wall, "pid": os.getpid()}))


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--child":
    child([int(i) for i in sys.argv[2].split(",")], float(sys.argv[3]))
