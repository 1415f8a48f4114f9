"""Loading hooks of Messenger Marketing."""

import functools

import odoo.sql_db

MAINTENANCE_DB = "postgres"


def post_load():
    """Keep connections to PostgreSQL's ``postgres`` database in Odoo's connection pool.

    Odoo closes such a connection as soon as its cursor closes. Yet each transaction that
    sends on the bus (a message shown in a watched conversation, a cron triggered) opens
    one after its commit, for its ``NOTIFY imbus``: PostgreSQL starts a backend for it and
    Odoo sets the connection up, every time: about 1.2 ms of Odoo's CPU and 5 ms of the
    worker's time per notification, 0.3 and 0.5 ms kept (``bench/bus_notify.py``). Kept
    in the pool, the connection is reused as Odoo reuses those of its own database: reset
    on borrowing, closed after ten idle minutes. The template databases are still closed,
    as Odoo does: a database cannot be copied from one that has connections.
    """
    pool = odoo.sql_db.ConnectionPool
    if getattr(pool.give_back, "_messenger_keeps_maintenance_db", False):
        return  # run again: the tests' conftest runs it as the server's loader does
    give_back = pool.give_back

    @functools.wraps(give_back)  # __wrapped__: Odoo's own, for bench/bus_notify.py
    def give_back_keeping_maintenance_db(self, connection, keep_in_pool=True):
        if not keep_in_pool and not connection.closed and connection.info.dbname == MAINTENANCE_DB:
            keep_in_pool = True
        return give_back(self, connection, keep_in_pool=keep_in_pool)

    give_back_keeping_maintenance_db._messenger_keeps_maintenance_db = True
    pool.give_back = give_back_keeping_maintenance_db
