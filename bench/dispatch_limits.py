#!/usr/bin/env python3
"""Dispatch against the provider's rate limit.

Queues ``--count`` messages (a campaign plus follow-up messages to a tenth of its
recipients, see ``_dispatch.prepare``) on a channel pointed at the provider's fake
server, which enforces the provider's limits (Telegram: 30 messages/s per bot, 1/s per
chat; WhatsApp: 80 messages/s per phone number) and counts every
request over them. One dispatcher process sends the queue.
Prints the rate the fake saw, its share of the limit and the fake's count of limit
violations. Target: at least 95 % of the limit, no violation.

    python3 bench/dispatch_limits.py                  # 10,000 messages (about 6 minutes)
    python3 bench/dispatch_limits.py --count 1000     # a quick run
    python3 bench/dispatch_limits.py --count 20000 --provider telegram --rate 1000   # a high tier
"""

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import _dispatch
import _odoo


def run(env, provider, count, repeat_kind):
    fake = provider.start_fake()
    try:
        channel_ids = _dispatch.prepare(env, provider, fake, count, repeat_kind=repeat_kind)
        try:
            # generous: the queue at the provider's limit, plus time to start and finish
            reports = _dispatch.run_dispatchers(channel_ids, 1, timeout=60 + 2 * count / provider.rate_limit)
            stats = fake.stats()
            result = _dispatch.states(env, channel_ids)
        finally:
            _dispatch.cleanup(env, channel_ids)
    finally:
        fake.stop()
    sent = stats["sent"]
    rate = (sent - 1) / (stats["last_at"] - stats["first_at"]) if sent > 1 else 0.0
    return {
        "sent": sent,
        "requests": stats["requests"],
        "duplicates": stats["duplicates"],
        "violations": stats["violations"],
        "by_limit": stats["violations_by_limit"],
        "rate": rate,
        "share": rate / provider.rate_limit,
        "cpu_ms": 1000.0 * reports[0]["cpu"] / max(sent, 1),
        "wall": reports[0]["wall"],
        "states": result,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10000, help="messages queued per provider (default 10,000)")
    parser.add_argument(
        "--rate",
        type=float,
        help="messages/s the fake allows and the channel is set to, instead of the provider's limit "
        "(1,000: a Telegram paid broadcast's limit, WhatsApp's highest tier)",
    )
    parser.add_argument(
        "--provider",
        choices=sorted(_dispatch.PROVIDERS),
        nargs="+",
        default=sorted(_dispatch.PROVIDERS),
        help="providers to run (default: all)",
    )
    parser.add_argument(
        "--repeat-kind",
        choices=("transactional", "marketing"),
        default="transactional",
        help="the second messages' kind (default transactional, also written in the contact's Discuss conversation)",
    )
    args = parser.parse_args()
    conf = _odoo.ensure_database(_dispatch.DB, _dispatch.MODULES)
    _registry, cr, env = _odoo.environment(conf, _dispatch.DB)
    _odoo.describe(env)
    print(f"{args.count} messages per provider, one dispatcher, database {_dispatch.DB}")
    print(
        f"{'provider':>9} {'limit/s':>7} | {'sent':>6} {'requests':>8} {'twice':>5} | {'msg/s':>6} {'share':>6} "
        f"{'violations':>10} | {'CPU ms/msg':>10} {'wall s':>7} | states"
    )
    try:
        for code in args.provider:
            provider = _dispatch.PROVIDERS[code]
            if args.rate:
                provider = dataclasses.replace(provider, rate_limit=args.rate)
            r = run(env, provider, args.count, args.repeat_kind)
            print(
                f"{code:>9} {provider.rate_limit:>7.0f} | {r['sent']:>6} {r['requests']:>8} {r['duplicates']:>5} | "
                f"{r['rate']:>6.2f} {100 * r['share']:>5.1f}% {r['violations']:>10} | {r['cpu_ms']:>10.2f} "
                f"{r['wall']:>7.1f} | {r['states']} {r['by_limit'] or ''}"
            )
    finally:
        cr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
