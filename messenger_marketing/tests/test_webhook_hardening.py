"""The webhooks' trust boundary, over real HTTP: bodies nested too deep, too large (with
and without a Content-Length), of the wrong shape or encoding get a 4xx and store nothing;
VK's confirmation code goes only to VK; and an event that a handler fails on is kept and
retried by the cron, never lost and never handled twice.

The handler failure is real: Odoo's own ``mail.message`` creation raises (patched in Odoo's
model, not in this addon), as a full disk or a broken mail override would make it.
"""

import dataclasses
import itertools
import json
import xmlrpc.client
from datetime import timedelta
from unittest.mock import patch

import odoo
from odoo import SUPERUSER_ID, api, fields
from odoo.exceptions import AccessError
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import get_db_name

from ..controllers.webhook import DEFAULT_MAX_BYTES, MAX_BYTES_PARAM
from ..core.providers import InboundEvent
from .common import meta_signature

VK_GROUP = 7777
CHANNELS = {
    "telegram": {"token": "424242:HARDENING"},
    "sandbox": {},
    "vk": {"token": "vk1.a.HARDENING", "vk_group_id": str(VK_GROUP), "vk_confirmation_code": "c0nf1rm-c0de"},
    "max": {"token": "max-HARDENING"},
    "whatsapp": {
        "token": "EAAG-HARDENING",
        "app_secret": "hardening-app-secret",
        "whatsapp_phone_number_id": "100100",
        "whatsapp_account_id": "200200",
    },
    "messenger": {"token": "EAAG-HARDENING", "app_secret": "hardening-app-secret", "facebook_page_id": "300300"},
    "instagram": {"token": "EAAG-HARDENING", "app_secret": "hardening-app-secret", "instagram_account_id": "400400"},
}
# where each provider expects an object: the place to put a hostile value
ENVELOPES = {
    "telegram": '{"update_id": 1, "message": %s}',
    "sandbox": '{"event_id": "x", "kind": "message", "chat_id": "1", "text": %s}',
    "vk": '{"type": "message_new", "group_id": 7777, "secret": "%(secret)s", "object": %%s}',
    "max": '{"update_type": "message_created", "timestamp": 1, "message": %s}',
    "whatsapp": '{"object": "whatsapp_business_account", "entry": %s}',
    "messenger": '{"object": "page", "entry": %s}',
    "instagram": '{"object": "instagram", "entry": %s}',
}
_ids = itertools.count(1)


def valid_event(code, secret, text="hi", chat="5001"):
    """A text message from ``chat`` as each provider sends it, with a fresh id."""
    n = next(_ids)
    meta_message = {"sender": {"id": chat}, "timestamp": 1, "message": {"mid": f"m.{n}", "text": text}}
    return {
        "telegram": {
            "update_id": 10_000 + n,
            "message": {
                "message_id": n,
                "chat": {"id": int(chat), "type": "private"},
                "from": {"id": int(chat), "first_name": "Ann"},
                "text": text,
            },
        },
        "sandbox": {"event_id": f"s{n}", "kind": "message", "chat_id": chat, "text": text},
        "vk": {
            "type": "message_new",
            "group_id": VK_GROUP,
            "secret": secret,
            "event_id": f"e{n}",
            "object": {"message": {"from_id": int(chat), "peer_id": int(chat), "id": n, "text": text}},
        },
        "max": {
            "update_type": "message_created",
            "timestamp": 1_700_000_000_000 + n,
            "message": {
                "sender": {"user_id": int(chat), "first_name": "Ann", "is_bot": False},
                "recipient": {"chat_id": 1, "chat_type": "dialog", "user_id": 5550001},
                "timestamp": 1_700_000_000_000 + n,
                "body": {"mid": f"mid.{n}", "seq": n, "text": text},
            },
        },
        "whatsapp": {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "200200",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "metadata": {"phone_number_id": "100100"},
                                "contacts": [{"wa_id": chat, "profile": {"name": "Ann"}}],
                                "messages": [
                                    {"from": chat, "id": f"wamid.{n}", "type": "text", "text": {"body": text}}
                                ],
                            },
                        }
                    ],
                }
            ],
        },
        "messenger": {"object": "page", "entry": [{"id": "300300", "messaging": [meta_message]}]},
        "instagram": {"object": "instagram", "entry": [{"id": "400400", "messaging": [meta_message]}]},
    }[code]


def deep(opener, depth, closed=True):
    """JSON nested ``depth`` levels of ``[`` or ``{``."""
    head, tail = ("[" * depth, "]" * depth) if opener == "[" else ('{"a": ' * depth, "}" * depth)
    return head + "1" + (tail if closed else "")


class WebhookCase(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channels = {
            code: cls.env["messenger.channel"].create({"name": f"Hardening {code}", "provider": code, **vals})
            for code, vals in CHANNELS.items()
        }

    def secret(self, code):
        return self.channels[code].webhook_secret

    def sign(self, code, body):
        """Headers that authenticate ``body`` (bytes) as the provider would."""
        channel = self.channels[code]
        if code == "telegram":
            return {"X-Telegram-Bot-Api-Secret-Token": channel.webhook_secret}
        if code == "sandbox":
            return {"X-Messenger-Sandbox-Secret": channel.webhook_secret}
        if code == "vk":
            return {}  # the secret is in the body
        if code == "max":
            return {"X-Max-Bot-Api-Secret": channel.webhook_secret}
        return {"X-Hub-Signature-256": meta_signature(channel.app_secret, body)}

    def post(self, code, body, chunked=False, headers=None):
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **self.sign(code, body), **(headers or {})}
        # a generator has no length: requests sends it chunked, without a Content-Length
        data = iter([body[i : i + 65536] for i in range(0, len(body), 65536)]) if chunked else body
        return self.opener.post(
            f"{self.base_url()}/messenger/webhook/{self.channels[code].webhook_key}", data=data, headers=headers
        )

    def stored(self, code):
        self.env.flush_all()
        self.env.cr.execute(
            """SELECT (SELECT count(*) FROM messenger_webhook_event WHERE channel_id = %(c)s),
                      (SELECT count(*) FROM messenger_contact WHERE channel_id = %(c)s),
                      (SELECT count(*) FROM messenger_message WHERE channel_id = %(c)s)""",
            {"c": self.channels[code].id},
        )
        return self.env.cr.fetchone()

    def assert_refused(self, code, body, status=400, **kwargs):
        before = self.stored(code)
        response = self.post(code, body, **kwargs)
        self.assertEqual(response.status_code, status, (code, body[:80], response.text[:200]))
        self.assertEqual(self.stored(code), before, f"{code}: a refused request stored nothing")
        return response


@tagged("post_install", "-at_install")
class TestHostileBodies(WebhookCase):
    def envelope(self, code, inner):
        return (ENVELOPES[code] % {"secret": self.secret(code)} if code == "vk" else ENVELOPES[code]) % inner

    def test_deep_nesting_is_refused_by_every_provider(self):
        for code, depth, opener, closed in itertools.product(CHANNELS, (100, 1000, 100_000), "[{", (True, False)):
            inner = deep(opener, depth, closed)
            with self.subTest(code=code, depth=depth, opener=opener, closed=closed):
                self.assert_refused(code, inner.encode())
                response = self.assert_refused(code, self.envelope(code, inner).encode())
                if closed:  # well-formed, only too deep: said so
                    self.assertIn("nested deeper than 64", response.text)
        # 64 levels is no reason to refuse: the body's shape is
        response = self.post("telegram", deep("[", 64).encode())
        self.assertNotIn("nested", response.text)

    def test_wrong_types_get_a_400_and_store_nothing(self):
        values = ["[]", "[1, 2]", "0", "-1", '"text"', "null", "true", "1.5", "1e400", "NaN", "-Infinity"]
        values += ["1" * 5000, str(10**300), '{"id": %s}' % (10**300), "[" + ", ".join(["{}"] * 1000) + "]"]
        for code, value in itertools.product(CHANNELS, values):
            with self.subTest(code=code, value=value[:20]):
                self.assert_refused(code, value.encode())
                response = self.post(code, self.envelope(code, value).encode())
                self.assertIn(response.status_code, (200, 400), response.text)
        for code in CHANNELS:  # a huge number where an id goes
            event = valid_event(code, self.secret(code), chat="9" * 300)
            if code == "vk":  # a peer that large is a group chat, which the bot ignores: the event's own id
                event = {**valid_event(code, self.secret(code)), "event_id": "9" * 300}
            with self.subTest(code=code, huge_id=True):
                self.assert_refused(code, json.dumps(event).encode())

    def test_a_malformed_attachment_costs_only_itself(self):
        """One bad place or video in a batch: the attachment is left out, its message and
        the batch's other messages are recorded."""
        page, vk = self.channels["messenger"], self.channels["vk"]
        bad_place = {"type": "location", "payload": {"coordinates": "here"}}
        meta = valid_event("messenger", "", text="Where is the shop?", chat="6001")
        place = {"sender": {"id": "6002"}, "timestamp": 1, "message": {"mid": "m.place", "attachments": [bad_place]}}
        meta["entry"][0]["messaging"].insert(0, place)
        self.assertEqual(self.post("messenger", meta).status_code, 200)
        bodies = dict(
            self.env["messenger.message"]
            .search([("channel_id", "=", page.id)])
            .mapped(lambda m: (m.contact_id.chat_id, m.body))
        )
        self.assertEqual(bodies, {"6001": "Where is the shop?", "6002": "[attachment]"})
        event = valid_event("vk", self.secret("vk"), text="See this", chat="6003")
        event["object"]["message"].update(
            geo={"coordinates": {"latitude": "north"}},
            attachments=[{"type": "video", "video": {"id": 4}}, {"type": "doc", "doc": {"url": "https://vk.com/d"}}],
        )
        self.assertEqual(self.post("vk", event).text, "ok")
        message = self.env["messenger.message"].search([("channel_id", "=", vk.id)])
        self.assertEqual(message.body, "See this")
        self.assertEqual(message.media_ids.mapped("kind"), ["document"], "the good attachment is kept")

    def test_encodings_other_than_utf8_are_refused(self):
        for code in CHANNELS:
            text = json.dumps(valid_event(code, self.secret(code), text="Привет"), ensure_ascii=False)
            variants = {
                "utf-16": text.encode("utf-16"),
                "utf-16-le": text.encode("utf-16-le"),
                "utf-32": text.encode("utf-32"),
                "utf-8 BOM": b"\xef\xbb\xbf" + text.encode(),
                "cp1251": text.encode("cp1251"),
                "invalid utf-8": text.encode().replace("Привет".encode(), b"\xff\xfe\xc3("),
                "NUL byte": text.encode().replace("Привет".encode(), b"a\x00b"),
                "lone surrogate": text.encode().replace("Привет".encode(), b"\\ud800"),
            }
            for name, body in variants.items():
                with self.subTest(code=code, encoding=name):
                    self.assert_refused(code, body)
            # an escaped NUL is valid JSON: the event is taken, the NUL dropped
            before = self.stored(code)
            body = text.encode().replace("Привет".encode(), b"a\\u0000b")
            self.assertEqual(self.post(code, body).status_code, 200)
            self.assertEqual(self.stored(code)[2], before[2] + 1, f"{code}: the message was stored")

    def test_size_limit_with_and_without_content_length(self):
        limit = DEFAULT_MAX_BYTES
        self.assertFalse(self.env["ir.config_parameter"].sudo().get_param(MAX_BYTES_PARAM))
        for code, chunked in itertools.product(CHANNELS, (False, True)):
            with self.subTest(code=code, chunked=chunked):
                body = json.dumps(valid_event(code, self.secret(code))).encode()
                # JSON allows whitespace after the value: the body is as large as we like
                response = self.assert_refused(code, body + b" " * (limit + 1 - len(body)), 413, chunked=chunked)
                self.assertIn(str(limit), response.text)
                before = self.stored(code)
                response = self.post(code, body + b" " * (limit - len(body)), chunked=chunked)
                self.assertEqual(response.status_code, 200, response.text)
                self.assertEqual(self.stored(code)[2], before[2] + 1, "a body at the limit is handled")
        # the limit is a setting; a false Content-Length cannot make us read past it
        self.env["ir.config_parameter"].sudo().set_param(MAX_BYTES_PARAM, "2000")
        body = json.dumps(valid_event("telegram", "")).encode()
        self.assert_refused("telegram", body + b" " * 2000, 413)
        self.assert_refused("telegram", body + b" " * 2000, 413, chunked=True)
        self.assertEqual(self.post("telegram", body).status_code, 200)
        # a setting that is no number falls back to the default rather than failing every call
        self.env["ir.config_parameter"].sudo().set_param(MAX_BYTES_PARAM, "1 MB")
        self.assertEqual(self.post("telegram", body + b" " * 2000).status_code, 200)


@tagged("post_install", "-at_install")
class TestVkConfirmation(WebhookCase):
    def test_code_only_with_the_secret(self):
        code = self.channels["vk"].vk_confirmation_code
        confirmation = {"type": "confirmation", "group_id": VK_GROUP}
        for secret in (None, "", "wrong", self.secret("vk")[:-1], self.secret("vk") + "x"):
            body = confirmation if secret is None else {**confirmation, "secret": secret}
            with self.subTest(secret=secret):
                response = self.post("vk", body)
                self.assertEqual(response.status_code, 403)
                self.assertNotIn(code, response.text)
        response = self.post("vk", {**confirmation, "secret": self.secret("vk")})
        self.assertEqual((response.status_code, response.text), (200, code))


def broken_mail(self, vals_list):
    raise OSError("No space left on device")


@tagged("post_install", "-at_install")
class TestFailedEvents(WebhookCase):
    LOGGER = "odoo.addons.messenger_marketing.models.messenger_inbound"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.MessengerMessage = type(cls.env["messenger.message"])
        cls.env["ir.config_parameter"].sudo().set_param("messenger_marketing.webhook_retry_base_seconds", "60")

    def broken(self):
        """No message can be stored (a full disk): every handler that records one fails."""
        return patch.object(self.MessengerMessage, "create", broken_mail)

    def incoming(self, code="telegram"):
        self.env.invalidate_all()
        return self.env["messenger.message"].search([("channel_id", "=", self.channels[code].id)])

    def kept(self, code="telegram"):
        self.env.invalidate_all()
        return self.env["messenger.webhook.event"].search(
            [("channel_id", "=", self.channels[code].id), ("state", "!=", "done")]
        )

    def fail_once(self, text="Where is my order?"):
        update = valid_event("telegram", "", text=text)
        with self.broken(), self.assertLogs(self.LOGGER, "ERROR"):
            response = self.post("telegram", update)
        self.assertEqual(response.status_code, 200, "answered: the provider must not resend it forever")
        return update

    def make_due(self, event):
        event.sudo().next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)

    def test_failed_event_is_kept_and_retried_once(self):
        update = self.fail_once()
        event = self.kept()
        self.assertEqual((len(event), event.state, event.attempts), (1, "retry", 1))
        self.assertEqual(event.payload["text"], "Where is my order?")
        self.assertEqual(event.payload["kind"], "message")
        self.assertIn("No space left on device", event.error)
        self.assertIn("Traceback", event.error)
        self.assertFalse(self.incoming(), "the failed handling left nothing half done")
        self.assertGreater(event.next_attempt_at, fields.Datetime.now() + timedelta(seconds=50))
        # the provider resends it: a replay, not handled again
        self.assertEqual(self.post("telegram", update).status_code, 200)
        self.assertEqual((len(self.kept()), self.kept().attempts), (1, 1))
        self.assertFalse(self.incoming())
        # not due yet: the cron leaves it
        self.env["messenger.webhook.event"]._cron_retry()
        self.assertEqual(self.kept(), event)
        # the fault is gone and the event due: handled once
        self.make_due(event)
        self.env["messenger.webhook.event"]._cron_retry()
        self.env["messenger.webhook.event"]._cron_retry()
        self.assertFalse(self.kept())
        self.assertEqual(self.incoming().mapped("body"), ["Where is my order?"])
        self.assertEqual((event.state, event.payload, event.error), ("done", False, False))
        self.assertEqual(self.post("telegram", update).status_code, 200)
        self.assertEqual(len(self.incoming()), 1, "a replay after the retry is still a replay")

    def test_repeated_failures_back_off_then_fail(self):
        self.fail_once()
        event = self.kept()
        delays = []
        with self.broken():
            for attempt in range(2, 9):
                self.make_due(event)
                with self.assertLogs(self.LOGGER, "ERROR"):
                    self.env["messenger.webhook.event"]._cron_retry()
                self.assertEqual(event.attempts, attempt)
                if attempt < 8:
                    self.assertEqual(event.state, "retry")
                    delays.append((event.next_attempt_at - fields.Datetime.now()).total_seconds())
            self.assertEqual((event.state, event.next_attempt_at), ("failed", False))
            self.assertIn("No space left on device", event.error)
            # no more automatic tries
            event.sudo().next_attempt_at = fields.Datetime.now() - timedelta(seconds=1)
            self.env["messenger.webhook.event"]._cron_retry()
            self.assertEqual(event.attempts, 8)
        for before, after, attempt in zip(delays, delays[1:], itertools.count(2), strict=False):
            self.assertAlmostEqual(after, before * 2, delta=3, msg=f"attempt {attempt}")
        self.assertAlmostEqual(delays[0], 120, delta=3)
        # not vacuumed while not handled, however old
        self.env.cr.execute(
            "UPDATE messenger_webhook_event SET create_date = now() - interval '90 days' WHERE channel_id = %s",
            [self.channels["telegram"].id],
        )
        self.env["messenger.webhook.event"]._gc_old_events()
        self.assertEqual(self.kept(), event)
        self.assertFalse(self.incoming())

    def test_only_a_manager_sees_and_retries(self):
        self.fail_once("Is it in stock?")
        event = self.kept()
        users, passwords = {}, {}
        for name, group in (
            ("manager", "messenger_marketing.group_messenger_manager"),
            ("user", "messenger_marketing.group_messenger_user"),
            ("employee", "base.group_user"),
            ("portal", "base.group_portal"),
        ):
            passwords[name] = f"{name}-hardening-pw"
            users[name] = new_test_user(self.env, f"hardening_{name}", groups=group, password=passwords[name])
        proxy = xmlrpc.client.ServerProxy(f"{self.base_url()}/xmlrpc/2/object", allow_none=True)

        def rpc(name, method, *args):
            return proxy.execute_kw(
                self.env.cr.dbname, users[name].id, passwords[name], "messenger.webhook.event", method, *args
            )

        for name in ("user", "employee", "portal"):
            for method, args in (("read", [[event.id], ["error"]]), ("action_retry", [[event.id]])):
                with self.subTest(user=name, method=method):
                    with self.assertRaises(xmlrpc.client.Fault) as caught:
                        rpc(name, method, args)
                    self.assertEqual(caught.exception.faultCode, 4, caught.exception.faultString)
        self.assertEqual(self.kept(), event)
        self.assertFalse(self.incoming(), "nobody but a manager made it run")
        # the manager sees it with its error, and retries it now
        (seen,) = rpc("manager", "search_read", [[("state", "=", "retry")], ["error", "channel_id"]])
        self.assertIn("No space left on device", seen["error"])
        self.assertTrue(rpc("manager", "action_retry", [[event.id]]))
        self.assertFalse(self.kept())
        self.assertEqual(self.incoming().mapped("body"), ["Is it in stock?"])

    def test_a_manager_of_another_company_does_not_see_it(self):
        self.fail_once()
        event = self.kept()
        self.assertEqual(event.company_id, self.channels["telegram"].company_id)
        other = self.env["res.company"].create({"name": "Other shop"})
        manager = new_test_user(
            self.env,
            "hardening_other_manager",
            groups="messenger_marketing.group_messenger_manager",
            company_id=other.id,
            company_ids=[(6, 0, other.ids)],
        )
        Event = self.env["messenger.webhook.event"].with_user(manager)
        self.assertFalse(Event.search([("id", "=", event.id)]))
        with self.assertRaises(AccessError):
            Event.browse(event.id).action_retry()
        self.assertEqual(self.kept().state, "retry")


@tagged("post_install", "-at_install")
class TestRetryWorkers(BaseCase):
    """Two cron workers, each with its own committed transactions, on one kept event."""

    def setUp(self):
        super().setUp()
        self.registry = odoo.modules.registry.Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.channel_id = env["messenger.channel"].create({"name": "Workers", "provider": "sandbox"}).id
            event = InboundEvent(event_id="w1", kind="message", chat_id="w1", text="Hello from the retry")
            self.event_id = (
                env["messenger.webhook.event"]
                .create(
                    {
                        "channel_id": self.channel_id,
                        "event_id": event.event_id,
                        "kind": event.kind,
                        "state": "retry",
                        "attempts": 1,
                        "payload": dataclasses.asdict(event),
                        "next_attempt_at": fields.Datetime.now() - timedelta(seconds=1),
                    }
                )
                .id
            )
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["messenger.channel"].browse(self.channel_id).unlink()

    def run_worker(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["messenger.webhook.event"]._cron_retry()

    def handled(self):
        with self.registry.cursor() as cr:
            cr.execute(
                """SELECT (SELECT state FROM messenger_webhook_event WHERE id = %s),
                          (SELECT count(*) FROM messenger_message WHERE channel_id = %s AND direction = 'in')""",
                (self.event_id, self.channel_id),
            )
            return cr.fetchone()

    def test_a_locked_event_is_left_to_its_worker(self):
        with self.registry.cursor() as busy:
            # another worker is handling the event: it holds the row
            busy.execute("SELECT id FROM messenger_webhook_event WHERE id = %s FOR UPDATE", [self.event_id])
            self.run_worker()  # does not wait for it, and does not take it
            self.assertEqual(self.handled(), ("retry", 0))
            busy.rollback()  # that worker died: the event is still due
        self.run_worker()
        self.assertEqual(self.handled(), ("done", 1))
        self.run_worker()
        self.assertEqual(self.handled(), ("done", 1), "handled once")
