#!/usr/bin/env python3
"""Bus notification: what the ``NOTIFY imbus`` after a commit costs, Odoo's way and ours.

Every committed transaction that sends on Odoo's bus (a message shown in a watched
conversation, a cron triggered) then notifies the listeners from PostgreSQL's
``postgres`` database, on a cursor of its own. Odoo closes that connection after each
notification, so each one starts a PostgreSQL backend; this addon's ``post_load`` hook
keeps it in the pool. For each way, sends ``--count`` notifications as Odoo's bus does
and prints Odoo's CPU, PostgreSQL's CPU (all its processes: run it on a quiet machine)
and the wall time per notification, alternating the two ways ``--rounds`` times.

    python3 bench/bus_notify.py
    python3 bench/bus_notify.py --count 1000 --rounds 3
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import _odoo

DB = os.environ.get("MESSENGER_BENCH_DB", "messenger_bench")
MODULES = "messenger_marketing,mass_mailing_sms"  # the campaign benchmark's database, shared


def notify(count):
    """(Odoo CPU ms, PostgreSQL CPU ms, wall ms) per notification, as bus.bus sends them."""
    import odoo

    cpu, pg, wall = time.process_time(), _odoo.postgres_cpu(), time.perf_counter()
    for _i in range(count):
        with odoo.sql_db.db_connect("postgres").cursor() as cr:
            cr.execute("SELECT pg_notify('imbus', %s)", ['["messenger-bench"]'])
    cpu, pg, wall = time.process_time() - cpu, _odoo.postgres_cpu_since(pg), time.perf_counter() - wall
    return 1000 * cpu / count, 1000 * pg / count, 1000 * wall / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=500, help="notifications per way and round (default 500)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    conf = _odoo.ensure_database(DB, MODULES)
    _registry, cr, env = _odoo.environment(conf, DB)  # loads the addon: its hook is on
    _odoo.describe(env)
    cr.close()
    import odoo

    pool = odoo.sql_db.ConnectionPool
    ours = pool.give_back
    if not getattr(ours, "_messenger_keeps_maintenance_db", False):
        raise SystemExit("the addon's post_load hook is not applied")
    ways = (("Odoo's pool (closed after each)", ours.__wrapped__), ("kept in the pool (this addon)", ours))
    print(f"{'way':<32} | {'Odoo CPU ms':>11} {'PostgreSQL ms':>13} {'wall ms':>8}  per notification")
    for _round in range(args.rounds):
        for label, give_back in ways:
            pool.give_back = give_back
            odoo_ms, pg_ms, wall_ms = notify(args.count)
            print(f"{label:<32} | {odoo_ms:>11.2f} {pg_ms:>13.2f} {wall_ms:>8.2f}")
    pool.give_back = ours
    return 0


if __name__ == "__main__":
    sys.exit(main())
