#!/usr/bin/env python3
"""Starts an Odoo server for a benchmark: ``python3 bench/_odoo_server.py <odoo options>``.

The prefork server (``--workers``) starts its websocket process by running its own start
script again with ``gevent``. A benchmark of HTTP requests needs no websocket process,
and where gevent cannot start (a plugin it cannot load) the server would start it again
every second, each time loading Odoo on a CPU the benchmark measures. Here, that second
run only waits for the server to stop.
"""

import os
import sys
import time

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "gevent":
        parent = os.getppid()
        while os.getppid() == parent:
            time.sleep(1)
        sys.exit(0)
    os.environ["TZ"] = "UTC"  # as odoo-bin does, before anything reads the time zone
    import odoo

    sys.exit(odoo.cli.main())
