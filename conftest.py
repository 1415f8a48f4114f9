"""A skipped test is not a passed test: webhook tests and browser tours must really run
(Odoo skips every browser test silently when websocket-client or Chromium is missing).
The addons' ``post_load`` hooks run as they do in a server."""

import sys
from pathlib import Path

import pytest

ADDONS = [path.parent.name for path in Path(__file__).parent.glob("*/__manifest__.py")]


def pytest_collection_finish(session):
    """pytest-odoo imports the addons while collecting their tests, before Odoo's loader,
    which then takes them for loaded and skips their ``post_load`` hooks: run them as the
    loader would have."""
    from odoo.modules.module import get_manifest

    for name in ADDONS:
        hook = get_manifest(name).get("post_load")
        module = sys.modules.get(f"odoo.addons.{name}")
        if hook and module:
            getattr(module, hook)()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        terminalreporter.write_line(
            f"ERROR: {len(skipped)} test(s) were skipped; this suite counts a skip as a failure.", red=True
        )


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter and reporter.stats.get("skipped") and session.exitstatus == 0:
        session.exitstatus = 1
