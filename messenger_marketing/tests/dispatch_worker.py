"""A dispatcher in an operating-system process of its own, as a cron worker of another
Odoo host runs it. The fault tests kill it, cut its database connection, or run two at
once; it is not a test module.

    python3 dispatch_worker.py <odoo config file> <database> <channel ids, comma-separated> <seconds> [--debug]

Prints ``READY`` once the registry is loaded, then dispatches (committing as the cron
does) until nothing of those channels is queued or sending, or the seconds are over, and
prints ``DONE <messages handed to providers>``; ``DB-ERROR <message>`` (exit code 3) when
the database connection broke. ``--debug`` logs each batch of the dispatcher (on standard
error).
"""

import logging
import sys
import time


def say(line):
    """Tell the test (our standard output is its pipe)."""
    sys.stdout.write(f"{line}\n")
    sys.stdout.flush()


def main():
    conf, db, ids, seconds = sys.argv[1:5]
    debug = "--debug" in sys.argv[5:]
    channel_ids = [int(i) for i in ids.split(",")]
    import psycopg2

    import odoo
    from odoo import api

    odoo.tools.config.parse_config(["-c", conf, "-d", db, "--log-level=warn", "--max-cron-threads=0"])
    if debug:
        logging.getLogger("odoo.addons.messenger_marketing.models.messenger_dispatcher").setLevel(logging.DEBUG)
    registry = odoo.modules.registry.Registry(db)
    say("READY")
    handled = 0
    deadline = time.monotonic() + float(seconds)
    try:
        with registry.cursor() as cr:
            env = api.Environment(cr, odoo.SUPERUSER_ID, {})
            while time.monotonic() < deadline:
                budget = max(deadline - time.monotonic(), 0.0)
                handled += env["messenger.dispatcher"]._dispatch(
                    time_budget=budget, channel_ids=channel_ids, auto_commit=True
                )
                cr.execute(
                    """SELECT count(*) FROM messenger_message
                       WHERE channel_id = ANY(%s) AND state IN ('queued', 'sending')""",
                    [channel_ids],
                )
                left = cr.fetchone()[0]
                cr.commit()
                if not left:
                    break
                time.sleep(0.1)  # the rest is another dispatcher's, or due later
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        say(f"DB-ERROR {exc}".replace("\n", " "))
        return 3
    say(f"DONE {handled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
