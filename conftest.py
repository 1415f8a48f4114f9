"""A skipped test is not a passed test: webhook tests and browser tours must really run
(Odoo skips every browser test silently when websocket-client or Chromium is missing)."""

import pytest


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
