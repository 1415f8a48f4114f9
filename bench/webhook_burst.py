#!/usr/bin/env python3
"""Webhook burst: Telegram updates posted to a real Odoo server at increasing rates.

Starts Odoo with ``--workers=2`` (two HTTP worker processes, no cron) on a free port of
127.0.0.1 and the benchmark database, then posts ``--count`` Telegram updates to a
Telegram channel's webhook, spread over the ``--rates`` steps (updates per second, sent
on schedule whatever the answers, over at most 40 connections as Telegram does): text
messages, /start, button presses, and re-sent updates (duplicates, as Telegram sends
again when it misses an answer) from a thousand people. Latency counts from the moment
an update was due to be sent, so waiting for a connection counts too. An update that is
not answered 200 (a connection dropped under overload) is sent again, as Telegram does,
after 1, 2, 3… seconds; its latency runs until it is answered. Prints per step the
throughput, how many updates were sent again, the p50/p95/p99 latency and the CPU time of
Odoo's processes per update, then PostgreSQL's and the load generator's (ms per update:
they share the cores), then the updates stored
against those sent: each distinct update stored once, duplicates not again, nothing lost.
Before the steps, as many requests at the first step's rate to Odoo's lightest JSON route
(``/web/webclient/version_info``: JSON-RPC, no login, no record), to its health check
and to the webhook with a wrong secret give the floor, what a request costs this server
before any work; each step prints its CPU per update against the first.
Target: p95 under 100 ms at 100 updates/s.

    python3 bench/webhook_burst.py                           # 5,000 updates at 50, 100, 200, 400/s
    python3 bench/webhook_burst.py --count 1000 --rates 100
"""

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import psutil

sys.path.insert(0, os.path.dirname(__file__))
import _odoo

DB = os.environ.get("MESSENGER_BENCH_DB", "messenger_bench")
MODULES = "messenger_marketing,mass_mailing_sms"  # the campaign benchmark's database, shared
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CONNECTIONS = 40  # Telegram's default max_connections for a webhook
PEOPLE = 1000
TIMEOUT = 120  # seconds an answer may take
RETRIES, RETRY_DELAY = 5, 1.0  # an update not answered 200 is sent again after 1 s, 2 s, …


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_channel(env, operated):
    """A fresh Telegram channel; returns its id, webhook key and secret. The first
    ``operated`` people of the burst already have a conversation that an operator took
    over (so their messages reach a person who is notified); the others have none yet."""
    env["messenger.channel"].search([("name", "=", "bench-webhook")]).unlink()
    channel = env["messenger.channel"].create(
        {"name": "bench-webhook", "provider": "telegram", "token": "123456:BENCH", "api_base_url": "http://127.0.0.1:9"}
    )
    operator = env["res.users"].search([("login", "=", "bench-operator")])
    if not operator:
        operator = env["res.users"].create(
            {
                "name": "Bench Operator",
                "login": "bench-operator",
                "groups_id": [(4, env.ref("messenger_marketing.group_messenger_user").id)],
            }
        )
    contacts = env["messenger.contact"].create(
        [
            {"channel_id": channel.id, "chat_id": str(800000000 + person), "name": f"Person {person}"}
            for person in range(operated)
        ]
    )
    contacts.with_user(operator).action_take_over()
    found = channel.id, channel.webhook_key, channel.webhook_secret
    env.cr.commit()
    return found


def updates(count, duplicate_share=0.15, seed=7):
    """``count`` update bodies: new ones (60 % text, 10 % /start, 30 % button presses),
    and copies of recent ones in between. Returns (bodies, distinct update ids)."""
    rng = random.Random(seed)
    bodies, sent = [], []
    update_id = 100000
    for _i in range(count):
        if sent and rng.random() < duplicate_share:
            bodies.append(rng.choice(sent[-50:]))
            continue
        update_id += 1
        person = rng.randrange(PEOPLE)
        user = {"id": 800000000 + person, "is_bot": False, "first_name": f"Person {person}", "language_code": "en"}
        chat = {"id": user["id"], "type": "private"}
        kind = rng.random()
        if kind < 0.3:
            update = {
                "update_id": update_id,
                "callback_query": {
                    "id": str(update_id),
                    "from": user,
                    "chat_instance": "1",
                    "data": rng.choice(["more", "price", "contact"]),
                    "message": {"message_id": 1, "date": 1700000000, "chat": chat},
                },
            }
        else:
            text = "/start" if kind < 0.4 else rng.choice(["Hello!", "Do you deliver to Kazan?", "price?", "thanks"])
            message = {"message_id": update_id, "date": 1700000000, "chat": chat, "from": user, "text": text}
            update = {"update_id": update_id, "message": message}
        body = json.dumps(update).encode()
        bodies.append(body)
        sent.append(body)
    return bodies, update_id - 100000


def start_odoo(conf, port):
    command = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "_odoo_server.py"),
        "-c",
        conf,
        "-d",
        DB,  # and no --db-filter: Odoo then serves this database without listing them all per request
        "--workers=2",
        "--max-cron-threads=0",
        "--http-interface=127.0.0.1",
        f"--http-port={port}",
        f"--gevent-port={free_port()}",
        "--log-level=warn",
        "--limit-time-real=600",
    ]
    log = open(os.path.join(tempfile.gettempdir(), f"webhook-burst-{port}.log"), "w")  # noqa: SIM115
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/web/health", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise RuntimeError("Odoo did not start")


async def request_once(url, method, headers, body):
    """One HTTP/1.1 request on a connection of its own (Odoo's workers close each one after
    its answer); its status, 0 when the connection failed. Plain asyncio streams: httpx
    cost this generator about 6 ms of CPU per request, on the cores Odoo runs on."""
    parts = urllib.parse.urlsplit(url)
    head = [f"{method} {parts.path} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    head.append(f"Content-Length: {len(body)}")
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            status_line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            await asyncio.wait_for(reader.read(), TIMEOUT)  # the headers and body, to the close
            return int(status_line.split()[1])
        finally:
            writer.close()
    except (OSError, ValueError, IndexError, TimeoutError):
        return 0


async def post_all(url, headers, bodies, rate, method="POST"):
    """Post ``bodies`` at ``rate`` per second, on schedule, over at most CONNECTIONS
    connections at once; return (statuses, latencies, resent, seconds)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    connections = asyncio.Semaphore(CONNECTIONS)

    async def post(index, body):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        # like Telegram, send again what was not answered 200 (a dropped connection
        # under overload, a worker restart): the update is stored once all the same
        for attempt in range(RETRIES + 1):
            async with connections:
                status = await request_once(url, method, headers, body)
            if status in (200, 400, 403, 404) or attempt == RETRIES:  # refusals are final
                break
            await asyncio.sleep(RETRY_DELAY * (attempt + 1))
        return status, loop.time() - due, attempt

    results = await asyncio.gather(*(post(i, b) for i, b in enumerate(bodies)))
    seconds = loop.time() - start
    return [r[0] for r in results], [r[1] for r in results], sum(r[2] for r in results), seconds


FLOOR_ROUTE = "/web/webclient/version_info"


def floor_cpu(server, url, count, rate, *, headers, body):
    """Odoo's CPU ms per request of ``url``, sent as the updates are (GET without a body)."""
    cpu = server_cpu(server)
    method = "POST" if body else "GET"
    statuses, _lat, _resent, _s = asyncio.run(post_all(url, headers, [body] * count, rate, method))
    cpu = server_cpu(server) - cpu
    return 1000 * cpu / count, set(statuses)


def floors(server, port, key, count, rate):
    """What a request costs before any work: Odoo's lightest JSON route (JSON-RPC, no
    login, no record: the floor the ratios are against), its health check (plain HTTP,
    no session), and our webhook refusing a wrong secret (the channel found, the update
    not read)."""
    base = f"http://127.0.0.1:{port}"
    rpc = json.dumps({"jsonrpc": "2.0", "method": "call", "params": {}, "id": 1}).encode()
    found = {}
    for label, url, headers, body, expected in (
        (FLOOR_ROUTE, base + FLOOR_ROUTE, {"Content-Type": "application/json"}, rpc, 200),
        ("/web/health", base + "/web/health", {}, b"", 200),
        (
            "webhook, wrong secret",
            f"{base}/messenger/webhook/{key}",
            {"Content-Type": "application/json", SECRET_HEADER: "wrong"},
            b"{}",
            403,
        ),
    ):
        cost, statuses = floor_cpu(server, url, count, rate, headers=headers, body=body)
        assert statuses == {expected}, (label, statuses)
        found[label] = cost
    return found


def server_cpu(server):
    """CPU seconds used so far by the Odoo server and its workers."""
    total = 0.0
    root = psutil.Process(server.pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_since(postgres_before, own_before):
    """PostgreSQL's (a lower bound) and this load generator's CPU seconds since the
    readings given."""
    own = psutil.Process().cpu_times()
    return _odoo.postgres_cpu_since(postgres_before), own.user + own.system - own_before


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=5000, help="updates posted in all (default 5,000)")
    parser.add_argument(
        "--rates", type=int, nargs="+", default=[50, 100, 200, 400], help="updates per second, one step each"
    )
    parser.add_argument(
        "--operated",
        type=float,
        default=0.5,
        help="share of the people whose conversation an operator holds (default 0.5)",
    )
    args = parser.parse_args()
    conf = _odoo.ensure_database(DB, MODULES)
    _registry, cr, env = _odoo.environment(conf, DB)
    _odoo.describe(env)
    channel_id, key, secret = make_channel(env, int(PEOPLE * args.operated))
    bodies, distinct = updates(args.count)
    port = free_port()
    server = start_odoo(conf, port)
    url = f"http://127.0.0.1:{port}/messenger/webhook/{key}"
    headers = {"Content-Type": "application/json", SECRET_HEADER: secret}
    try:
        # each worker loads the registry on its first request: refused ones store nothing
        forged = {"Content-Type": "application/json", SECRET_HEADER: "wrong"}
        statuses, _lat, _retried, _s = asyncio.run(post_all(url, forged, [b"{}"] * 40, 20))
        assert set(statuses) == {403}, statuses
        step = -(-len(bodies) // len(args.rates))
        costs = floors(server, port, key, min(step, 1000), args.rates[0])
        for label, cost in costs.items():
            print(f"floor: {label} costs {cost:.2f} ms of Odoo CPU per request at {args.rates[0]}/s")
        floor = costs[FLOOR_ROUTE]
        print(f"{len(bodies)} updates ({distinct} distinct) to Odoo --workers=2, database {DB}")
        print(
            f"{'rate/s':>7} | {'updates':>7} {'resent':>6} {'errors':>6} | {'done/s':>6} | "
            f"{'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} | {'CPU ms/update':>13} {'× floor':>7} | "
            f"{'PostgreSQL':>10} {'generator':>9}"
        )
        failed = 0
        for n, rate in enumerate(args.rates):
            chunk = bodies[n * step : (n + 1) * step]
            cpu, pg, own = server_cpu(server), _odoo.postgres_cpu(), psutil.Process().cpu_times()
            statuses, latencies, resent, seconds = asyncio.run(post_all(url, headers, chunk, rate))
            cpu = server_cpu(server) - cpu
            pg, generator = cpu_since(pg, own.user + own.system)
            errors = sum(1 for s in statuses if s != 200)
            failed += errors
            print(
                f"{rate:>7} | {len(chunk):>7} {resent:>6} {errors:>6} | {len(chunk) / seconds:>6.0f} | "
                f"{1000 * percentile(latencies, 0.5):>7.0f} {1000 * percentile(latencies, 0.95):>7.0f} "
                f"{1000 * percentile(latencies, 0.99):>7.0f} | {1000 * cpu / len(chunk):>13.1f} "
                f"{1000 * cpu / len(chunk) / floor:>7.1f} | "
                f"{1000 * pg / len(chunk):>10.1f} {1000 * generator / len(chunk):>9.1f}"
            )
    finally:
        server.terminate()
        server.wait(30)
    cr.rollback()  # a fresh snapshot, after the server's commits
    cr.execute("SELECT count(*) FROM messenger_webhook_event WHERE channel_id = %s", [channel_id])
    events = cr.fetchone()[0]
    cr.execute(
        "SELECT count(*) FROM messenger_message WHERE channel_id = %s AND direction = 'in'",
        [channel_id],
    )
    stored = cr.fetchone()[0]
    print(
        f"sent {len(bodies)} updates, {distinct} distinct; stored {events} events and {stored} incoming messages; "
        f"{failed} updates never answered 200"
    )
    env["messenger.channel"].browse(channel_id).unlink()
    cr.commit()
    cr.close()
    return 0 if events == stored == distinct and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
