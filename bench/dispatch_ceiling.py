#!/usr/bin/env python3
"""Dispatcher ceiling: how fast Odoo sends when the provider sets no limit.

The provider's fake server enforces no rate limit and answers at once, and the channel's
own limit is set far above what a process can send. The same queue (a campaign plus
follow-up messages, see ``_dispatch.prepare``) is sent by one dispatcher, then by two
dispatchers in separate Odoo processes on the same database. Processes that cannot send
at a channel's rate share its grid of slots (each takes the slots the others leave free);
``--channels 2`` spreads the queue over two channels. ``--repeats 0`` leaves out the second,
transactional messages (each also written in the contact's Discuss conversation).

Prints messages per second at the fake (first to last send, and over the middle 90 % of the
sends, without the start and the tail), the CPU time per message of the dispatcher
processes (user + system), of the fake server and of the dispatchers' PostgreSQL backends,
the messages sent per second of all that CPU, and the load average at the run's start; and
checks that every message was sent exactly once.

    python3 bench/dispatch_ceiling.py                       # 10,000 messages, Telegram
    python3 bench/dispatch_ceiling.py --count 2000 --processes 1
    python3 bench/dispatch_ceiling.py --count 5000 --processes 1 2 --repeats 0
"""

import argparse
import os
import sys
import time

import psutil

sys.path.insert(0, os.path.dirname(__file__))
import _dispatch
import _odoo


def run(env, provider, count, processes, *, channels, repeats):
    fake = provider.start_fake(unlimited=True)
    try:
        channel_ids = _dispatch.prepare(
            env, provider, fake, count, channels=channels, unlimited=True, repeat_share=repeats
        )
        try:
            fake_cpu = psutil.Process(fake.process.pid).cpu_times()
            start = time.perf_counter()
            reports = _dispatch.run_dispatchers(channel_ids, processes, timeout=600)
            wall = time.perf_counter() - start
            fake_cpu_after = psutil.Process(fake.process.pid).cpu_times()
            stats = fake.stats()
            result = _dispatch.states(env, channel_ids)
        finally:
            _dispatch.cleanup(env, channel_ids)
    finally:
        fake.stop()
    sent = stats["sent"]
    dispatch_wall = max(r["wall"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    pg_cpu = sum(r["pg_cpu"] for r in reports)
    return {
        "processes": processes,
        "sent": sent,
        "duplicates": stats["duplicates"],
        "rate_fake": (sent - 1) / (stats["last_at"] - stats["first_at"]) if sent > 1 else 0.0,
        "rate_middle": 0.9 * sent / (stats["p95_at"] - stats["p05_at"]) if sent > 20 else 0.0,
        "rate_odoo": sent / dispatch_wall,
        "cpu_ms": 1000.0 * cpu / max(sent, 1),
        "pg_cpu_ms": 1000.0 * pg_cpu / max(sent, 1),
        "fake_cpu_ms": 1000.0
        * (fake_cpu_after.user + fake_cpu_after.system - fake_cpu.user - fake_cpu.system)
        / max(sent, 1),
        "wall": wall,
        "states": result,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10000, help="messages queued per run (default 10,000)")
    parser.add_argument("--provider", choices=sorted(_dispatch.PROVIDERS), default="telegram")
    parser.add_argument(
        "--processes", type=int, nargs="+", default=[1, 2], help="dispatcher processes per run (default: 1, then 2)"
    )
    parser.add_argument("--channels", type=int, default=1, help="channels the queue is spread over (default 1)")
    parser.add_argument(
        "--repeats",
        type=float,
        default=0.1,
        help="share of the queue that is a second, transactional message to a chat (default 0.1)",
    )
    args = parser.parse_args()
    conf = _odoo.ensure_database(_dispatch.DB, _dispatch.MODULES)
    _registry, cr, env = _odoo.environment(conf, _dispatch.DB)
    _odoo.describe(env)
    provider = _dispatch.PROVIDERS[args.provider]
    print(
        f"{args.count} messages over {args.channels} channels to a fake {provider.code} server with no limit, "
        f"database {_dispatch.DB}"
    )
    print(
        f"{'dispatchers':>11} | {'sent':>6} {'twice':>5} | {'msg/s at fake':>13} {'middle 90 %':>11} "
        f"{'msg/s overall':>13} | "
        f"{'Odoo CPU ms/msg':>15} {'fake CPU ms/msg':>15} {'PG CPU ms/msg':>13} {'msg/CPU s':>9} | "
        f"load | states"
    )
    try:
        for processes in args.processes:
            load = os.getloadavg()[0]
            r = run(env, provider, args.count, processes, channels=args.channels, repeats=args.repeats)
            print(
                f"{r['processes']:>11} | {r['sent']:>6} {r['duplicates']:>5} | {r['rate_fake']:>13.0f} "
                f"{r['rate_middle']:>11.0f} {r['rate_odoo']:>13.0f} | {r['cpu_ms']:>15.2f} "
                f"{r['fake_cpu_ms']:>15.2f} {r['pg_cpu_ms']:>13.2f} "
                f"{1000 / (r['cpu_ms'] + r['fake_cpu_ms'] + r['pg_cpu_ms']):>9.0f} | {load:4.1f} | {r['states']}"
            )
    finally:
        cr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
