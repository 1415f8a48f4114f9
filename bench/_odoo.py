"""Shared by the benchmarks: an Odoo configuration for this machine and a database with
the addons installed (created once, reused by later runs)."""

import getpass
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def db_user():
    return os.environ.get("PGUSER") or getpass.getuser()


def config_file():
    import odoo

    addons = Path(odoo.__file__).parent / "addons"
    # one file per checkout: several checkouts on one machine must not load each other's code
    tag = hashlib.sha1(str(REPO).encode()).hexdigest()[:8]
    conf = Path(tempfile.gettempdir()) / f"messenger-bench-odoo-{tag}.conf"
    conf.write_text(
        "[options]\n"
        f"db_host = {os.environ.get('PGHOST', '127.0.0.1')}\n"
        f"db_port = {os.environ.get('PGPORT', '5432')}\n"
        f"db_user = {db_user()}\n"
        f"addons_path = {REPO},{addons}\n"
        f"data_dir = {REPO / '.odoo-data'}\n"
    )
    return str(conf)


def ensure_database(db, modules):
    import psycopg2

    conf = config_file()
    conn = psycopg2.connect(host=os.environ.get("PGHOST", "127.0.0.1"), dbname="postgres", user=db_user())
    with conn.cursor() as cr:
        cr.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db])
        exists = cr.fetchone()
    conn.close()
    if not exists:
        print(f"creating database {db} with {modules} (once)...", file=sys.stderr)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "odoo",
                "-c",
                conf,
                "-d",
                db,
                "-i",
                modules,
                "--without-demo=all",
                "--stop-after-init",
                "--log-level=warn",
            ],
            check=True,
        )
    return conf


def environment(conf, db):
    """(registry, cursor, env) as superuser; the caller closes the cursor."""
    import odoo
    from odoo import api

    odoo.tools.config.parse_config(["-c", conf, "-d", db, "--log-level=warn"])
    registry = odoo.modules.registry.Registry(db)
    cr = registry.cursor()
    return registry, cr, api.Environment(cr, odoo.SUPERUSER_ID, {})


# the tables whose size changes what the hot paths cost (issue: webhooks slowed down with
# 100,000 contacts in the database)
SIZED_TABLES = (
    "messenger_contact",
    "messenger_message",
    "messenger_webhook_event",
    "mailing_trace",
    "mail_message",
    "res_partner",
)
LIBRARIES = ("psycopg2", "python-telegram-bot", "httpx", "requests", "vk-api", "werkzeug", "psutil")


def describe(env):
    """Print what a figure depends on besides the code: the machine, its load, the
    database's table sizes and the library versions, so that two runs can be compared."""
    import platform
    from importlib import metadata

    import odoo

    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"machine: {cpu}, {os.cpu_count()} cores, load {load} (1, 5, 15 min)")
    env.cr.execute("SHOW server_version")
    server = env.cr.fetchone()[0]
    env.cr.execute(
        "SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname = ANY(%s) ORDER BY relname",
        [list(SIZED_TABLES)],
    )
    print("rows: " + ", ".join(f"{name} {rows:,}" for name, rows in env.cr.fetchall()))
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} -")
    base = f"Python {platform.python_version()}, Odoo {odoo.release.version}, PostgreSQL {server}"
    print(f"versions: {base}, " + ", ".join(versions))


def postgres_cpu():
    """CPU seconds used so far by each of PostgreSQL's processes (every database's: on a
    quiet machine, this benchmark's), by process id."""
    import psutil

    found = {}
    for process in psutil.process_iter(["name", "cpu_times"]):
        times = process.info["cpu_times"]
        if process.info["name"] == "postgres" and times:
            found[process.pid] = times.user + times.system
    return found


def postgres_cpu_since(before):
    """PostgreSQL's CPU seconds since the reading ``before`` (a backend that ended
    meanwhile is not counted: the figure is a lower bound)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())
