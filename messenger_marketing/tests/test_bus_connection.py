"""The bus's connection to PostgreSQL's maintenance database is kept (``hooks.post_load``).

Each committed transaction that sends on the bus notifies the listeners from the
``postgres`` database. Odoo would open a connection, and so a PostgreSQL backend, for each
of them; kept in the pool, one backend sends them all, and they still arrive.
"""

import json
import select
import time

import psycopg2

import odoo
from odoo import SUPERUSER_ID, api
from odoo.tests import BaseCase, tagged
from odoo.tests.common import get_db_name

TARGET = "messenger-test-bus-connection"


@tagged("post_install", "-at_install")
class TestBusConnection(BaseCase):
    def setUp(self):
        super().setUp()
        self.registry = odoo.modules.registry.Registry(get_db_name())
        _db, params = odoo.sql_db.connection_info_for("postgres")
        self.listener = psycopg2.connect(**params)
        self.listener.autocommit = True
        self.listener.cursor().execute("LISTEN imbus")
        self.addCleanup(self.listener.close)
        self.addCleanup(self._forget_sent)

    def _forget_sent(self):
        with self.registry.cursor() as cr:
            cr.execute("DELETE FROM bus_bus WHERE channel LIKE %s", [f"%{TARGET}%"])

    def _send(self, number):
        """One transaction that sends on the bus, committed as a request's is."""
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["bus.bus"]._sendone(TARGET, "messenger/test", {"number": number})

    def _notifications(self, count, timeout=10):
        found, deadline = [], time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            if select.select([self.listener], [], [], 0.5)[0]:
                self.listener.poll()
                while self.listener.notifies:
                    notify = self.listener.notifies.pop(0)
                    if TARGET in notify.payload:
                        found.append(notify)
        return found

    def test_one_backend_notifies_for_every_transaction(self):
        for number in range(3):
            self._send(number)
        notifications = self._notifications(3)
        self.assertEqual(len(notifications), 3, "every committed transaction's notification arrives")
        channel = [get_db_name(), TARGET]  # what the bus's listeners look for, per database
        self.assertTrue(all(channel in json.loads(n.payload) for n in notifications))
        self.assertEqual(len({n.pid for n in notifications}), 1, "sent by one kept backend, not one each")

    def test_the_template_databases_are_still_let_go(self):
        """A database is copied from a template with no connection to it: those are not kept."""
        pids = set()
        for _attempt in range(2):
            with odoo.sql_db.db_connect("template1").cursor() as cr:
                cr.execute("SELECT pg_backend_pid()")
                pids.add(cr.fetchone()[0])
        self.assertEqual(len(pids), 2)
