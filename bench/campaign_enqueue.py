#!/usr/bin/env python3
"""Campaign launch: our messenger campaign against Odoo's own SMS marketing.

For each audience size, creates that many subscribed messenger contacts and the same
number of mailing-list contacts with a mobile number, then launches, each in a fresh
process so that peak memory is its own:
- ours: a messenger mailing whose recipients are the messenger contacts (_messenger_launch);
- Odoo: an SMS mailing on the mailing list (action_send_sms), with ODOO_LIMIT_LITEVAL_BUFFER
  raised, as it refuses above about 15,000 recipients otherwise.
Each launch is rolled back, so the database can be reused.

    python3 bench/campaign_enqueue.py                 # 100,000 recipients
    python3 bench/campaign_enqueue.py 10000 100000 300000 --sms-max 100000
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _odoo

DB = os.environ.get("MESSENGER_BENCH_DB", "messenger_bench")


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def prepare(env, size):
    """Audiences of exactly ``size`` for both sides, made with SQL (fast), tagged by size."""
    cr = env.cr
    tag = f"bench-{size}"
    channel = env["messenger.channel"].search([("name", "=", tag)], limit=1)
    if not channel:
        channel = env["messenger.channel"].create({"name": tag, "provider": "sandbox"})
        cr.execute(
            """INSERT INTO messenger_contact (name, channel_id, company_id, chat_id, state, answered_by,
                                             create_date, write_date)
               SELECT 'Bench ' || g, %s, %s, 'b' || g, 'subscribed', 'bot', now(), now()
               FROM generate_series(1, %s) g""",
            [channel.id, channel.company_id.id or None, size],
        )
    mlist = env["mailing.list"].search([("name", "=", tag)], limit=1)
    if not mlist:
        mlist = env["mailing.list"].create({"name": tag})
        cr.execute(
            """WITH c AS (
                   INSERT INTO mailing_contact (name, email, email_normalized, mobile, phone_sanitized,
                                                create_date, write_date)
                   SELECT 'Bench ' || g, 'b' || g || '@example.com', 'b' || g || '@example.com',
                          '+1555' || lpad(g::text, 7, '0'), '+1555' || lpad(g::text, 7, '0'), now(), now()
                   FROM generate_series(1, %s) g RETURNING id)
               INSERT INTO mailing_subscription (contact_id, list_id, opt_out, create_date, write_date)
               SELECT id, %s, false, now(), now() FROM c""",
            [size, mlist.id],
        )
    # a live database has statistics (autovacuum); freshly bulk-loaded tables need them too
    for table in ("messenger_contact", "mailing_contact", "mailing_subscription", "res_partner"):
        cr.execute(f"ANALYZE {table}")
    cr.commit()
    return channel, mlist


def child(side, size):
    conf = _odoo.config_file()
    _registry, cr, env = _odoo.environment(conf, DB)
    channel, mlist = prepare(env, size)
    Mailing = env["mailing.mailing"]
    if side == "ours":
        mailing = Mailing.create(
            {
                "name": f"bench {size}",
                "subject": "bench",
                "mailing_type": "messenger",
                "mailing_model_id": env.ref("messenger_marketing.model_messenger_contact").id,
                "mailing_domain": repr([("channel_id", "=", channel.id)]),
                "messenger_channel_ids": [(6, 0, channel.ids)],
                "messenger_body": "Spring sale: -20% this week!",
            }
        )
        cr.commit()
        base, start = rss_mb(), time.perf_counter()
        count = mailing._messenger_launch()
        env.flush_all()
    else:
        mailing = Mailing.create(
            {
                "name": f"bench sms {size}",
                "subject": "bench",
                "mailing_type": "sms",
                "mailing_model_id": env.ref("mass_mailing.model_mailing_list").id,
                "contact_list_ids": [(6, 0, mlist.ids)],
                "body_plaintext": "Spring sale: -20% this week!",
            }
        )
        cr.commit()
        base, start = rss_mb(), time.perf_counter()
        mailing.action_send_sms()
        env.flush_all()
        count = env["sms.sms"].search_count([("mailing_id", "=", mailing.id)])
    seconds = time.perf_counter() - start
    peak = rss_mb() - base
    cr.rollback()
    cr.close()
    print(json.dumps({"side": side, "size": size, "count": count, "seconds": seconds, "peak_mb": peak}))


def vacuum():
    """Each launch is rolled back, which leaves dead rows behind; a live database has
    autovacuum for that. Clean up so that every run starts from the same state."""
    import psycopg2

    conn = psycopg2.connect(host=os.environ.get("PGHOST", "127.0.0.1"), dbname=DB, user=_odoo.db_user())
    conn.autocommit = True
    with conn.cursor() as cr:
        cr.execute("VACUUM ANALYZE messenger_message, mailing_trace, sms_sms, mail_message, mail_notification")
    conn.close()


def run_child(side, size):
    vacuum()
    env = dict(os.environ)
    if side == "sms":
        env["ODOO_LIMIT_LITEVAL_BUFFER"] = str(100 * 1024 * 1024)
    out = subprocess.run(
        [sys.executable, __file__, "--child", side, str(size)], env=env, check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[100000])
    parser.add_argument("--sms-max", type=int, default=100000, help="largest audience to run through SMS marketing")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child[0], int(args.child[1]))
    conf = _odoo.ensure_database(DB, "messenger_marketing,mass_mailing_sms")
    _registry, cr, env = _odoo.environment(conf, DB)
    _odoo.describe(env)
    cr.close()
    print(
        f"{'recipients':>10} | {'ours s':>8} {'ours MB':>8} | {'SMS s':>8} {'SMS MB':>8} | {'faster':>7} {'memory':>7}"
    )
    for size in args.sizes:
        ours = run_child("ours", size)
        assert ours["count"] == size, ours
        if size <= args.sms_max:
            sms = run_child("sms", size)
            assert sms["count"] == size, sms
            print(
                f"{size:>10} | {ours['seconds']:>8.2f} {ours['peak_mb']:>8.1f} | {sms['seconds']:>8.2f} "
                f"{sms['peak_mb']:>8.1f} | {sms['seconds'] / ours['seconds']:>6.1f}x "
                f"{sms['peak_mb'] / max(ours['peak_mb'], 1.0):>6.0f}x"
            )
        else:
            print(
                f"{size:>10} | {ours['seconds']:>8.2f} {ours['peak_mb']:>8.1f} | {'-':>8} {'-':>8} | {'-':>7} {'-':>7}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
