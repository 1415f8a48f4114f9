"""Hostile and concurrent webhook input, over real HTTP and real transactions.

The fuzz run posts hypothesis-made bodies and headers to each provider's webhook: the
answer is never a 500, an unauthenticated request stores nothing, and no token or
secret shows in the logs or in an answer. A provider takes part through an entry of
``WEBHOOK_PROVIDERS``.
"""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import odoo
from odoo import SUPERUSER_ID, api
from odoo.tests import BaseCase, HttpCase, new_test_user, tagged
from odoo.tests.common import get_db_name

from ..core.providers import InboundEvent
from .common import MessengerCase, meta_signature

# per provider: enough to find the usual shapes of trouble, quick to run (FUZZ_EXAMPLES=1000 for more)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))

# JSON of any shape, a little deep
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# the odd values a field of a real-looking update may carry
odd_values = st.none() | st.booleans() | st.integers() | st.text(max_size=30) | st.lists(st.integers(), max_size=2)
# header values an HTTP client can send
header_text = st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=60)


def telegram_updates():
    person = st.fixed_dictionaries(
        {"id": odd_values | st.integers(1, 10**12)},
        optional={
            "first_name": odd_values,
            "last_name": odd_values,
            "username": odd_values,
            "language_code": odd_values,
        },
    )
    chat = st.fixed_dictionaries({"id": odd_values | st.integers(-(10**12), 10**12)}, optional={"type": odd_values})
    message = st.fixed_dictionaries(
        {"chat": chat | odd_values},
        optional={
            "message_id": odd_values,
            "from": person | odd_values,
            "text": st.text(max_size=50) | odd_values | st.sampled_from(["/start", "/start p1-x", "STOP"]),
            "caption": odd_values,
            "contact": st.fixed_dictionaries({"phone_number": odd_values, "user_id": odd_values}) | odd_values,
        },
    )
    callback = st.fixed_dictionaries(
        {"id": odd_values, "from": person | odd_values},
        optional={"data": odd_values, "message": st.fixed_dictionaries({"chat": chat}) | odd_values},
    )
    member = st.fixed_dictionaries(
        {"chat": chat | odd_values, "from": person | odd_values},
        optional={"new_chat_member": st.fixed_dictionaries({"status": odd_values}) | odd_values},
    )
    return st.fixed_dictionaries(
        {"update_id": st.integers(1, 10**9) | odd_values},
        optional={"message": message | odd_values, "callback_query": callback, "my_chat_member": member},
    )


def sandbox_events():
    return st.dictionaries(
        st.sampled_from([*InboundEvent.__dataclass_fields__, "other"]),
        odd_values | st.sampled_from(["message", "start", "button", "blocked", "contact"]),
        max_size=6,
    )


def vk_events():
    peer = odd_values | st.integers(1, 10**9)
    message = st.fixed_dictionaries(
        {"from_id": peer, "peer_id": peer},
        optional={
            "id": odd_values,
            "text": st.text(max_size=50) | odd_values | st.sampled_from(["Начать", "STOP", "стоп"]),
            "payload": odd_values | st.sampled_from(['{"command":"start"}', '{"b":"unsub"}', '{"b":']),
        },
    )
    event_object = st.fixed_dictionaries(
        {},
        optional={
            "message": message | odd_values,
            "user_id": peer,
            "peer_id": peer,
            "payload": odd_values,
            "event_id": odd_values,
            "conversation_message_id": odd_values,
        },
    )
    return st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                ["message_new", "message_event", "message_allow", "message_deny", "message_read", "confirmation"]
            )
            | odd_values,
            "group_id": st.just(VK_GROUP) | odd_values,
        },
        optional={"event_id": odd_values, "object": event_object | odd_values, "v": odd_values},
    )


def max_updates():
    user = st.fixed_dictionaries(
        {"user_id": odd_values | st.integers(1, 10**12)},
        optional={"first_name": odd_values, "last_name": odd_values, "username": odd_values},
    )
    attachment = st.fixed_dictionaries(
        {"type": st.sampled_from(["image", "file", "audio", "video", "sticker", "location", "contact"]) | odd_values},
        optional={
            "payload": st.fixed_dictionaries({}, optional={"url": odd_values, "vcf_info": odd_values}) | odd_values,
            "latitude": odd_values | st.floats(-90, 90),
            "longitude": odd_values | st.floats(-180, 180),
            "filename": odd_values,
            "size": odd_values,
        },
    )
    body = st.fixed_dictionaries(
        {"mid": odd_values | st.just("mid.1")},
        optional={
            "text": st.text(max_size=50) | odd_values | st.sampled_from(["/start", "/start p1-x", "STOP"]),
            "attachments": st.lists(attachment, max_size=3) | odd_values,
        },
    )
    message = st.fixed_dictionaries(
        {"sender": user | odd_values, "body": body | odd_values},
        optional={"recipient": st.fixed_dictionaries({"chat_type": odd_values, "chat_id": odd_values}) | odd_values},
    )
    callback = st.fixed_dictionaries(
        {"callback_id": odd_values, "user": user | odd_values}, optional={"payload": odd_values}
    )
    return st.fixed_dictionaries(
        {
            "update_type": st.sampled_from(
                ["message_created", "message_callback", "bot_started", "bot_stopped", "bot_removed", "dialog_muted"]
            )
            | odd_values,
        },
        optional={
            "timestamp": odd_values | st.integers(0, 2**62),
            "message": message | odd_values,
            "callback": callback | odd_values,
            "user": user | odd_values,
            "chat_id": odd_values,
            "payload": odd_values,
        },
    )


def whatsapp_events():
    message = st.fixed_dictionaries(
        {"from": odd_values | st.just("15550001111"), "id": odd_values},
        optional={
            "type": st.sampled_from(["text", "button", "interactive", "contacts", "image"]) | odd_values,
            "text": st.fixed_dictionaries({"body": st.text(max_size=50) | odd_values}) | odd_values,
            "button": st.fixed_dictionaries({"payload": odd_values, "text": odd_values}) | odd_values,
            "interactive": json_values,
            "timestamp": odd_values,
        },
    )
    status = st.fixed_dictionaries(
        {"id": odd_values, "status": st.sampled_from(["sent", "delivered", "read", "failed"]) | odd_values},
        optional={"recipient_id": odd_values, "timestamp": odd_values, "errors": json_values},
    )
    value = st.fixed_dictionaries(
        {},
        optional={
            "messages": st.lists(message, max_size=2) | odd_values,
            "statuses": st.lists(status, max_size=2) | odd_values,
            "contacts": json_values,
            "metadata": json_values,
        },
    )
    change = st.fixed_dictionaries({"field": st.just("messages") | odd_values, "value": value | odd_values})
    entry = st.fixed_dictionaries({"id": odd_values, "changes": st.lists(change, max_size=2) | odd_values})
    return st.fixed_dictionaries(
        {"object": st.just("whatsapp_business_account") | odd_values, "entry": st.lists(entry, max_size=2) | odd_values}
    )


def page_events(kind):
    """Messenger ("page") and Instagram ("instagram") webhooks: entries of messaging items."""
    person = st.fixed_dictionaries({"id": odd_values | st.just("2900000001")})
    item = st.fixed_dictionaries(
        {"sender": person | odd_values, "recipient": person | odd_values},
        optional={
            "timestamp": odd_values,
            "message": st.fixed_dictionaries(
                {"mid": odd_values},
                optional={
                    "text": st.text(max_size=50) | odd_values,
                    "quick_reply": st.fixed_dictionaries({"payload": odd_values}) | odd_values,
                    "is_echo": odd_values,
                },
            )
            | odd_values,
            "postback": st.fixed_dictionaries(
                {"payload": odd_values}, optional={"mid": odd_values, "referral": json_values}
            )
            | odd_values,
            "referral": json_values,
            "read": st.fixed_dictionaries({"watermark": odd_values, "mid": odd_values}) | odd_values,
            "delivery": json_values,
        },
    )
    entry = st.fixed_dictionaries({"id": odd_values, "messaging": st.lists(item, max_size=2) | odd_values})
    return st.fixed_dictionaries(
        {"object": st.just(kind) | odd_values, "entry": st.lists(entry, max_size=2) | odd_values}
    )


def secret_header(name):
    return lambda secret, body: (body, {name: secret})


def meta_signed(secret, body):
    return body, {"X-Hub-Signature-256": meta_signature(secret, body)}


def vk_secret(secret, body):
    """VK puts the secret key in the event itself: a body that is not a JSON object has none."""
    try:
        data = json.loads(body)
    except ValueError:
        return body, {}
    if not isinstance(data, dict):
        return body, {}
    return json.dumps({**data, "secret": secret}).encode(), {}


@dataclass
class WebhookProvider:
    """How the fuzz run talks to one provider's webhook: the channel's credentials,
    bodies shaped like the provider's own, and how a body is authenticated with a given
    secret (a header that carries it, a signature made with it, or a field of the body).
    ``secret_field`` is the channel's field that holds that secret. ``refusal`` is the
    answer to a call without the right secret: a provider whose secret travels in the
    body refuses a body it cannot read before it can look for the secret (400)."""

    code: str
    channel_vals: dict
    shaped_bodies: object
    authenticate: object  # (secret, body) -> (body, headers)
    secret_field: str = "webhook_secret"
    refusal: tuple = (403,)

    def sign(self, secret, body):
        return self.authenticate(secret, body) if secret is not None else (body, {})


def meta_provider(code, account_vals, bodies):
    """A platform of Meta's Graph API: the app secret signs each body."""
    credentials = {"token": "EAAG-FUZZ-TOKEN-never-logged", "app_secret": "fuzz-app-secret-never-logged"}
    return WebhookProvider(code, {**credentials, **account_vals}, bodies, meta_signed, secret_field="app_secret")


VK_GROUP = "7777"
WEBHOOK_PROVIDERS = {
    "telegram": WebhookProvider(
        "telegram",
        {"token": "424242:FUZZ-TOKEN-never-logged"},
        telegram_updates(),
        secret_header("X-Telegram-Bot-Api-Secret-Token"),
    ),
    "sandbox": WebhookProvider("sandbox", {}, sandbox_events(), secret_header("X-Messenger-Sandbox-Secret")),
    "vk": WebhookProvider(
        "vk",
        {"token": "vk1.a.FUZZ-TOKEN-never-logged", "vk_group_id": VK_GROUP, "vk_confirmation_code": "c0nf1rm"},
        vk_events(),
        vk_secret,
        refusal=(400, 403),
    ),
    "max": WebhookProvider(
        "max", {"token": "max-FUZZ-TOKEN-never-logged"}, max_updates(), secret_header("X-Max-Bot-Api-Secret")
    ),
    "whatsapp": meta_provider(
        "whatsapp", {"whatsapp_phone_number_id": "100100", "whatsapp_account_id": "200200"}, whatsapp_events()
    ),
    "messenger": meta_provider("messenger", {"facebook_page_id": "300300"}, page_events("page")),
    "instagram": meta_provider("instagram", {"instagram_account_id": "400400"}, page_events("instagram")),
}


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.texts = []
        self.errors = []

    def emit(self, record):
        text = logging.Formatter("%(name)s %(message)s").format(record)
        self.texts.append(text)
        if record.levelno >= logging.ERROR:
            self.errors.append(text)


@tagged("post_install", "-at_install")
class TestHostileWebhooks(HttpCase):
    def _fuzz(self, code):
        provider = WEBHOOK_PROVIDERS[code]
        channel = self.env["messenger.channel"].create(
            {"name": f"Fuzz {code}", "provider": code, **provider.channel_vals}
        )
        key, secret, token = channel.webhook_key, channel[provider.secret_field], channel.token
        credentials = {secret, token, channel.webhook_secret}
        capture = _Capture()
        root = logging.getLogger()
        root.addHandler(capture)
        self.addCleanup(root.removeHandler, capture)
        # everything from INFO up, whatever the test run mutes (SQL is logged at DEBUG)
        for name in ("odoo", "werkzeug"):
            logger = logging.getLogger(name)
            self.addCleanup(logger.setLevel, logger.level)
            logger.setLevel(logging.INFO)
        answers = []

        def stored():
            self.env.flush_all()
            self.env.cr.execute(
                """SELECT (SELECT count(*) FROM messenger_webhook_event WHERE channel_id = %(c)s),
                          (SELECT count(*) FROM messenger_contact WHERE channel_id = %(c)s),
                          (SELECT count(*) FROM messenger_message WHERE channel_id = %(c)s)""",
                {"c": channel.id},
            )
            return self.env.cr.fetchone()

        bodies = st.one_of(
            st.binary(max_size=200),
            json_values.map(lambda v: json.dumps(v).encode()),
            provider.shaped_bodies.map(lambda v: json.dumps(v).encode()),
        )
        # mostly the right secret, so that the bodies get past the check and into the parser
        wrong = st.one_of(st.none(), header_text, st.just(secret[:-1]), st.just(secret + "x"))
        secrets = st.integers(0, 3).flatmap(lambda n: wrong if n == 0 else st.just(secret))
        content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(body=bodies, given_secret=secrets, content_type=content_types)
        def post(body, given_secret, content_type):
            before = stored()
            body, headers = provider.sign(given_secret, body)
            if content_type:
                headers["Content-Type"] = content_type
            response = self.opener.post(f"{self.base_url()}/messenger/webhook/{key}", data=body, headers=headers)
            answers.append(response.text)
            self.assertIn(response.status_code, (200, 400, 403), (body, given_secret, response.text))
            if given_secret != secret:
                self.assertIn(response.status_code, provider.refusal)
                self.assertEqual(stored(), before, "nothing stored from an unauthenticated request")
            elif response.status_code == 400:
                self.assertEqual(stored(), before, "nothing stored from a malformed body")

        post()
        # a wrong key is refused too, and stores nothing
        before = stored()
        body, headers = provider.sign(secret, b"{}")
        response = self.url_open(f"/messenger/webhook/{key[:-2]}", data=body, headers=headers)
        self.assertEqual(response.status_code, 404)
        self.assertEqual(stored(), before)

        self.assertEqual(capture.errors, [], "no update made the handling fail")
        seen = "\n".join(capture.texts + answers)
        self.assertTrue(capture.texts, "the refusals were logged")
        for credential in filter(None, credentials):
            self.assertNotIn(credential, seen)
        # the key is part of the URL: only the HTTP access log may show it
        self.assertFalse([t for t in capture.texts if key in t and not t.startswith("werkzeug")])


for _code in WEBHOOK_PROVIDERS:
    setattr(TestHostileWebhooks, f"test_fuzz_{_code}", lambda self, code=_code: self._fuzz(code))


@tagged("post_install", "-at_install")
class TestConcurrentDuplicate(BaseCase):
    """The provider retries an update while the original is still being handled: the
    retry waits for it, then counts as a replay; stored once, and no error (an error
    would make Odoo run the request again after a random sleep that holds a worker)."""

    def setUp(self):
        super().setUp()
        self.registry = odoo.modules.registry.Registry(get_db_name())
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.channel_id = env["messenger.channel"].create({"name": "Race", "provider": "sandbox"}).id
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        with self.registry.cursor() as cr:
            api.Environment(cr, SUPERUSER_ID, {})["messenger.channel"].browse(self.channel_id).unlink()

    def _process(self, cr, event):
        env = api.Environment(cr, SUPERUSER_ID, {})
        env["messenger.inbound"]._process(env["messenger.channel"].browse(self.channel_id), [event])

    def test_retry_racing_its_original(self):
        event = InboundEvent(event_id="race-1", kind="message", chat_id="r1", text="Hello", name="Racer")
        errors, retry_pid = [], []
        original_done, retry_started = threading.Event(), threading.Event()

        def retry():
            try:
                with self.registry.cursor() as cr:
                    cr.execute("SELECT pg_backend_pid()")  # the transaction's snapshot starts here
                    retry_pid.append(cr.fetchone()[0])
                    retry_started.set()
                    original_done.wait(30)
                    self._process(cr, event)
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        with self.registry.cursor() as cr:
            self._process(cr, event)  # handled, not committed yet
            thread = threading.Thread(target=retry)
            thread.start()
            retry_started.wait(30)
            original_done.set()
            # commit once the retry waits on the original's row
            deadline = time.monotonic() + 30
            with self.registry.cursor() as watch:
                while time.monotonic() < deadline:
                    watch.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", retry_pid)
                    if (watch.fetchone() or [None])[0] == "Lock":
                        break
                    watch.rollback()
                    time.sleep(0.02)
                else:
                    self.fail("the retry never waited for the original")
        thread.join(30)
        self.assertEqual(errors, [])
        with self.registry.cursor() as cr:
            cr.execute(
                """SELECT (SELECT count(*) FROM messenger_webhook_event WHERE channel_id = %(c)s),
                          (SELECT count(*) FROM messenger_message WHERE channel_id = %(c)s AND direction = 'in')""",
                {"c": self.channel_id},
            )
            self.assertEqual(cr.fetchone(), (1, 1))


class TestCustomerNotSubscribed(MessengerCase):
    def test_operator_reply_does_not_email_the_customer(self):
        """The customer's own message in the conversation makes their partner no member
        nor follower: an operator's reply goes through the messenger only."""
        partner = self.env["res.partner"].create({"name": "Customer", "email": "customer@example.com"})
        contact = self.make_contacts(1)
        contact.partner_id = partner
        self.env["messenger.inbound"].sudo()._process(
            self.channel, [InboundEvent(event_id="n1", kind="message", chat_id=contact.chat_id, text="Hi")]
        )
        channel = contact.discuss_channel_id
        self.assertNotIn(partner, contact.message_partner_ids | channel.channel_member_ids.partner_id)
        operator = new_test_user(self.env, "mm_operator", groups="messenger_marketing.group_messenger_user")
        channel._messenger_join(operator)
        channel.with_user(operator).sudo().message_post(
            body="We ship tomorrow", message_type="comment", subtype_xmlid="mail.mt_comment"
        )
        self.assertFalse(self.env["mail.mail"].search([("recipient_ids", "in", partner.ids)]))
        self.assertEqual(
            contact.message_ids_messenger.filtered(lambda m: m.direction == "out").body, "We ship tomorrow"
        )
