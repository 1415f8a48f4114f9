"""Take the README's screenshots from a running demo (``bin/demo``), in headless Chromium.

    python3 docs/take_screenshots.py [--url http://localhost:8069] [--db messenger_demo]

Logs in as admin, prepares what a page needs over JSON-RPC (a simulator conversation),
then opens each page with the Chrome DevTools protocol and saves a PNG in docs/images/.
"""

import argparse
import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import requests
import websocket

IMAGES = Path(__file__).resolve().parent / "images"
WIDTH, HEIGHT = 1366, 800


class Odoo:
    def __init__(self, url, db):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.call("/web/session/authenticate", {"db": db, "login": "admin", "password": "admin"})

    def call(self, path, params):
        answer = self.session.post(f"{self.url}{path}", json={"jsonrpc": "2.0", "params": params}, timeout=60).json()
        if "error" in answer:
            raise RuntimeError(answer["error"]["data"]["message"])
        return answer["result"]

    def model(self, model, method, *args, **kwargs):
        params = {"model": model, "method": method, "args": list(args), "kwargs": kwargs}
        return self.call("/web/dataset/call_kw", params)

    def ref(self, xmlid):
        module, name = xmlid.split(".")
        rows = self.model("ir.model.data", "search_read", [("module", "=", module), ("name", "=", name)], ["res_id"])
        return rows[0]["res_id"]


class Browser:
    """Headless Chromium driven over its DevTools websocket."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="messenger-shots-")
        self.process = subprocess.Popen(
            [
                shutil.which("chromium") or "/usr/bin/chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--window-size={WIDTH},{HEIGHT}",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=9333",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _attempt in range(50):
            try:
                with urllib.request.urlopen("http://127.0.0.1:9333/json") as response:
                    page = next(t for t in json.load(response) if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.2)
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        self.seq = 0

    def send(self, method, **params):
        self.seq += 1
        self.ws.send(json.dumps({"id": self.seq, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.seq:
                return message.get("result", {})

    def shot(self, url, name, wait_for, settle=1.5):
        self.send("Page.navigate", url=url)
        for _attempt in range(100):
            found = self.send(
                "Runtime.evaluate", expression=f"!!document.querySelector({json.dumps(wait_for)})", returnByValue=True
            )
            if found.get("result", {}).get("value"):
                break
            time.sleep(0.2)
        else:
            data = self.send("Page.captureScreenshot", format="png")["data"]
            (IMAGES / f"failed-{name}.png").write_bytes(base64.b64decode(data))
            raise RuntimeError(f"{name}: {wait_for} never showed on {url} (see docs/images/failed-{name}.png)")
        time.sleep(settle)  # let charts and fonts finish
        # notifications (such as "the page is out of date" after an update) are not the subject
        hide = "document.head.insertAdjacentHTML('beforeend', '<style>.o_notification_manager{display:none}</style>')"
        self.send("Runtime.evaluate", expression=hide)
        data = self.send("Page.captureScreenshot", format="png")["data"]
        (IMAGES / f"{name}.png").write_bytes(base64.b64decode(data))
        print(f"docs/images/{name}.png")

    def close(self):
        self.ws.close()
        self.process.terminate()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8069")
    parser.add_argument("--db", default="messenger_demo")
    args = parser.parse_args()
    IMAGES.mkdir(exist_ok=True)
    odoo = Odoo(args.url, args.db)

    browser = Browser()
    cookie = odoo.session.cookies.get("session_id")
    browser.send("Network.enable")
    browser.send("Network.setCookie", name="session_id", value=cookie, url=args.url)
    base = f"{args.url}/odoo/action-messenger_marketing."
    try:
        browser.shot(f"{base}action_messenger_inbox", "inbox", ".o_messenger_inbox .o_kanban_record")
        anna = odoo.ref("messenger_marketing.demo_contact_anna")
        browser.shot(f"{base}action_messenger_inbox/{anna}", "conversation", ".o_messenger_conversation")

        # a conversation in the simulator: the chair's landing flow from its Instagram link
        channel = odoo.ref("messenger_marketing.demo_channel_sandbox")
        link_id = odoo.ref("messenger_marketing.demo_link_chair_instagram")
        payload = odoo.model("messenger.flow.link", "read", [link_id], ["payload"])[0]["payload"]
        simulator = odoo.model("messenger.simulator", "create", {"channel_id": channel})
        odoo.model("messenger.simulator", "action_reset", [simulator])
        for text in (f"/start {payload}", "Order", "In the office"):
            odoo.model("messenger.simulator", "write", [simulator], {"text": text})
            odoo.model("messenger.simulator", "action_send", [simulator])
        browser.shot(f"{base}action_messenger_simulator/{simulator}", "simulator", ".o_messenger_sim_out")

        flow = odoo.ref("messenger_marketing.demo_flow_chair")
        browser.shot(f"{base}action_messenger_flow/{flow}", "flow", ".o_form_view .o_list_renderer")
        browser.shot(f"{base}action_messenger_chat_leads", "chat_leads", ".o_kanban_record")
        mailing = odoo.ref("messenger_marketing.demo_mailing_spring")
        browser.shot(f"{base}mailing_mailing_action_messenger/{mailing}", "campaign", ".o_messenger_campaign_stats")
        browser.shot(
            f"{base}action_messenger_overview", "channels_overview", ".o_messenger_channel_overview .o_kanban_record"
        )
        browser.shot(
            f"{args.url}/odoo/action-messenger_marketing_support.action_messenger_support_article",
            "knowledge_base",
            ".o_kanban_record, .o_data_row",
        )
    finally:
        browser.close()


if __name__ == "__main__":
    main()
