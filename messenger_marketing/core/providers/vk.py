"""VK community messages through vk_api, and VK's Callback API for webhooks.

vk_api posts to its fixed address; its requests session sends those requests to the
channel's API base URL instead, so tests point the real client at a fake server. Every
send carries a ``random_id`` derived from the message's uuid: VK does not deliver a
second message with the same ``random_id``, so a resend after a crash cannot duplicate.
"""

import hashlib
import json
import threading
from urllib.parse import quote

import jconfig
import requests
import vk_api
from vk_api.exceptions import TOO_MANY_RPS_CODE, ApiError, ApiHttpError, Captcha
from vk_api.keyboard import VkKeyboard

from .base import (
    BLOCKED,
    MALFORMED,
    PERMANENT,
    SENT,
    TRANSIENT,
    InboundEvent,
    SendResult,
    WebhookRejectedError,
    WebhookReply,
    _lt,
)
from .blocking import BlockingProvider

API_VERSION = "5.199"
_VK_ADDRESSES = ("https://api.vk.ru/", "https://api.vk.com/")
# messages.send errors: the person is out of reach for good
_BLOCKED_CODES = {
    18: "the user was deleted or banned",
    900: "the user is in the community's blacklist",
    901: "the user has not allowed messages from the community",
    902: "the user's privacy settings forbid messages from the community",
}
# retried, after this many seconds at least (0: the dispatcher's backoff)
_TRANSIENT_CODES = {1: 0, 6: 1.0, 9: 10.0, 10: 0, 29: 600.0, 36: 0, 43: 60.0}
# VK's keyboard limits
_INLINE_ROWS = 6
_LABEL_LENGTH = 40
_CHAT_PEERS = 2000000000  # peer ids from here on are group chats, not people


class _VkSession(requests.Session):
    """Sends vk_api's requests to the channel's API base URL, with the channel's timeout
    (vk_api passes none)."""

    def __init__(self, base_url, timeout):
        super().__init__()
        self.base_url = base_url
        self.timeout = timeout

    def request(self, method, url, *args, **kwargs):
        for address in _VK_ADDRESSES:
            if url.startswith(address):
                url = f"{self.base_url}/{url[len(address) :]}"
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


class _VkApi(vk_api.VkApiGroup):
    # The dispatcher paces the channel: vk_api must neither sleep between calls nor
    # sleep-and-retry on "too many requests", which would hide the limit from it.
    RPS_DELAY = 0.0

    def __init__(self, token, session):
        super().__init__(token=token, session=session, api_version=API_VERSION, config=jconfig.MemoryConfig)
        self.error_handlers.pop(TOO_MANY_RPS_CODE, None)


def random_id(idempotency_key):
    """VK's ``random_id`` (a signed 32-bit integer) for a message's uuid: the same message
    always gets the same one."""
    digest = hashlib.sha256((idempotency_key or "").encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class VkProvider(BlockingProvider):
    code = "vk"
    label = "VK"
    default_rate_limit = 20.0  # requests per second with a community token
    default_per_chat_interval = 1.0  # VK answers "flood control" (9) to bursts at one person
    has_idempotency_key = True
    max_text_length = 4096
    max_caption_length = 4096  # a picture goes as a link under the text
    default_api_base_url = "https://api.vk.ru"
    credential_fields = ("vk_group_id", "token")
    account_field = "vk_group_id"
    config_fields = {"confirmation_code": "vk_confirmation_code", "registration_id": "vk_server_id"}
    webhook_fields = ("webhook_secret", "vk_confirmation_code")
    field_labels = {**BlockingProvider.field_labels, "webhook_secret": _lt("Secret Key")}
    setup_help = (
        _lt("In your VK community: <b>Manage › Messages</b>, turn community messages on."),
        _lt(
            "<b>Manage › API usage › Access tokens</b>: create a token that may manage the community and send messages."
        ),
        _lt(
            "The community ID is the number in <b>Manage › Settings</b> (or in the address "
            "<code>vk.com/club123456</code>)."
        ),
    )
    webhook_help = _lt(
        "Test Connection fetches the confirmation code; Register Webhook then adds this address as a Callback API "
        "server of the community, with its secret key, and VK confirms it."
    )

    def __init__(self, config):
        super().__init__(config)
        self._local = threading.local()

    def _new_session(self):
        session = _VkSession(self.base_url, self.config.request_timeout)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(self.config.concurrency, 10))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def _api(self):
        """A VkApi per thread: vk_api holds a lock around each request, which would
        serialize the sends of the whole pool through one instance."""
        api = getattr(self._local, "api", None)
        if api is None or api.http is not self.session:
            api = self._local.api = _VkApi(self.config.token, self.session)
        return api

    # -- sending -------------------------------------------------------------------------
    @staticmethod
    def keyboard(buttons):
        """VK keyboard JSON: an inline keyboard under the message, or a regular one-time
        keyboard when the rows do not fit inline or a button asks for the phone number
        (VK cannot share it: the press sends the label). Payload buttons are text buttons
        whose press comes back as a message with the payload."""
        if not buttons:
            return None
        regular = len(buttons) > _INLINE_ROWS or any(b.get("request_contact") for row in buttons for b in row)
        keyboard = VkKeyboard(one_time=regular, inline=not regular)
        for index, row in enumerate(buttons):
            if index:
                keyboard.add_line()
            for button in row[:5]:
                label = (button.get("text") or "")[:_LABEL_LENGTH]
                if button.get("url") and not regular:
                    keyboard.add_openlink_button(label, button["url"])
                else:
                    payload = {"b": button["payload"]} if button.get("payload") else None
                    keyboard.add_button(label, payload=payload)
        return keyboard.get_keyboard()

    def send_blocking(self, message):
        text, _format = self.prepare_text(message.text, message.text_format)
        if message.image_url:
            text = f"{text}\n\n{message.image_url}".strip()
        values = {"peer_id": message.chat_id, "random_id": random_id(message.idempotency_key), "message": text}
        keyboard = self.keyboard(message.buttons)
        if keyboard:
            values["keyboard"] = keyboard
        try:
            message_id = self._api().method("messages.send", values)
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        return SendResult(message.key, SENT, provider_message_id=str(message_id))

    @classmethod
    def classify_error(cls, key, exc):
        if isinstance(exc, Captcha):
            return SendResult(key, TRANSIENT, reason="VK asks for a captcha: too many requests", retry_after=60.0)
        if isinstance(exc, ApiError):
            code, text = exc.code, exc.error.get("error_msg", "")
            reason = f"VK error {code}: {text}"
            if code in _BLOCKED_CODES:
                return SendResult(key, BLOCKED, reason=f"{reason} ({_BLOCKED_CODES[code]})")
            if code in _TRANSIENT_CODES:
                return SendResult(key, TRANSIENT, reason=reason, retry_after=_TRANSIENT_CODES[code])
            if code == 5:
                reason += " (the community token is wrong or was revoked)"
            return SendResult(key, PERMANENT, reason=reason)
        if isinstance(exc, ApiHttpError):
            return SendResult(key, TRANSIENT, reason=f"VK unavailable: HTTP {exc.response.status_code}")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return cls.timed_out(key)
        if isinstance(exc, requests.exceptions.RequestException | ValueError):
            return SendResult(key, TRANSIENT, reason=f"VK unavailable: {exc.__class__.__name__}")
        return cls.unexpected(key, exc)

    # -- webhooks (Callback API) ---------------------------------------------------------
    def _json(self, body):
        data = self.load_json(body)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise WebhookRejectedError(400, "not a VK Callback API event (no type)")
        return data

    def _check_group(self, data):
        if str(data.get("group_id")) != str(self.config.account_id):
            raise WebhookRejectedError(403, "the event is for another community")

    def challenge(self, method, query, headers, body):
        if method != "POST":
            return None
        data = self._json(body)
        if data["type"] != "confirmation":
            return None
        # VK checks the server before it sends events: the answer is the community's code
        self._check_group(data)
        # the code proves to VK that the server is ours: only VK, which knows the secret, gets it
        self._check_secret(data)
        if not self.config.confirmation_code:
            raise WebhookRejectedError(403, "no confirmation code is set on the channel")
        return WebhookReply(200, self.config.confirmation_code)

    def _check_secret(self, data):
        self.check_secret(str(data.get("secret") or ""), self.config.webhook_secret, "missing or wrong secret key")

    def verify_webhook(self, headers, body):
        data = self._json(body)
        self._check_secret(data)
        self._check_group(data)

    def parse_webhook(self, body):
        data = self._json(body)
        # VK sends event_id from API 5.103 on; without one, the body itself identifies a replay
        event_id = str(data.get("event_id") or hashlib.sha256(body).hexdigest())
        try:
            return [self._event(f"vk-{event_id}", data["type"], data.get("object") or {})]
        except MALFORMED as exc:
            raise WebhookRejectedError(400, f"malformed event: {exc.__class__.__name__}") from exc

    @staticmethod
    def _payload(raw):
        """Our button payloads travel as {"b": payload}; VK's own Start button sends
        {"command": "start"}."""
        if isinstance(raw, str):
            try:
                raw = VkProvider.load_json(raw.encode())
            except WebhookRejectedError:
                return raw
        if isinstance(raw, dict):
            if raw.get("command") == "start":
                return None
            return str(raw.get("b", json.dumps(raw)))
        return str(raw)

    def _event(self, event_id, kind, obj):
        if kind == "message_new":
            message = obj.get("message", obj)
            peer = int(message["peer_id"])
            if peer >= _CHAT_PEERS:
                return InboundEvent(event_id, "other")
            chat = str(message.get("from_id") or peer)
            mid = str(message.get("id") or "")
            text = str(message.get("text") or "")
            ref = str(message.get("ref") or "")
            person = {"chat_id": chat, "provider_message_id": mid}
            if "payload" in message:
                payload = self._payload(message["payload"])
                if payload is None:  # the Start button
                    return InboundEvent(event_id, "start", text=text, payload=ref, **person)
                return InboundEvent(event_id, "button", payload=payload, **person)
            if ref:  # the first message after a vk.me/<community>?ref=<payload> link
                return InboundEvent(event_id, "start", text=text, payload=ref, **person)
            payload = self.start_payload(text)
            if payload is not None:
                return InboundEvent(event_id, "start", text=text, payload=payload, **person)
            return InboundEvent(event_id, "message", text=text or "[attachment]", **person)
        if kind == "message_event":  # a callback button
            return InboundEvent(
                event_id,
                "button",
                chat_id=str(obj["user_id"]),
                payload=self._payload(obj.get("payload")) or "",
                callback_id=str(obj.get("event_id") or ""),
            )
        if kind == "message_allow":  # the person allowed the community's messages
            return InboundEvent(event_id, "start", chat_id=str(obj["user_id"]), payload=str(obj.get("key") or ""))
        if kind == "message_deny":
            return InboundEvent(event_id, "blocked", chat_id=str(obj["user_id"]))
        if kind == "message_read":  # read up to this message
            return InboundEvent(
                event_id,
                "status",
                chat_id=str(obj.get("from_id") or obj["peer_id"]),
                status="read",
                provider_message_id=str(obj["read_message_id"]),
                up_to=True,
            )
        return InboundEvent(event_id, "other")

    def webhook_reply(self, events):
        return "ok"  # VK resends an event until the answer is exactly this

    # -- configuration -------------------------------------------------------------------
    def deep_link(self, payload):
        name = self.config.bot_username or f"club{self.config.account_id or 0}"
        return f"https://vk.me/{name}?ref={quote(payload)}"

    def _method(self, name, values):
        if not self.config.token:
            raise ValueError("Fill in the community access token.")
        if not self.config.account_id:
            raise ValueError("Fill in the VK community ID.")

        def run():
            try:
                return self._api().method(name, {"group_id": self.config.account_id, **values})
            except ApiError as exc:
                detail = {5: " The community token is wrong or was revoked.", 15: " The token lacks this right."}
                message = f"VK error {exc.code} on {name}: {exc.error.get('error_msg')}."
                raise ValueError(message + detail.get(exc.code, "")) from exc
            except (ApiHttpError, requests.exceptions.RequestException) as exc:
                raise ValueError(f"VK did not answer {name}: {exc}") from exc

        return self.call(run)

    def test_connection(self):
        answer = self._method("groups.getById", {})
        groups = answer.get("groups", []) if isinstance(answer, dict) else answer
        group = groups[0] if groups else {}
        if str(group.get("id")) != str(self.config.account_id):
            raise ValueError(f"The token belongs to the community {group.get('id')}, not {self.config.account_id}.")
        info = {"bot_username": group.get("screen_name") or f"club{group['id']}"}
        try:
            info["vk_confirmation_code"] = self._method("groups.getCallbackConfirmationCode", {})["code"]
        except ValueError as exc:
            info["warning"] = (
                f"The token works, but VK did not give the Callback API confirmation code ({exc}). "
                "Give the token the right to manage the community, or paste the code from the "
                "community's Callback API settings."
            )
        return info

    def set_webhook(self, url):
        if not self.config.confirmation_code:
            raise ValueError(
                "VK asks for the confirmation code as soon as the server is added: run Test Connection "
                "first (it fetches the code), or paste it from the community's Callback API settings."
            )
        server = self._method(
            "groups.addCallbackServer", {"url": url, "title": "Odoo", "secret_key": self.config.webhook_secret}
        )["server_id"]
        events = ("message_new", "message_event", "message_allow", "message_deny", "message_read")
        self._method(
            "groups.setCallbackSettings",
            {"server_id": server, "api_version": API_VERSION, **dict.fromkeys(events, 1)},
        )
        return {"vk_server_id": str(server)}

    def delete_webhook(self):
        if self.config.registration_id:
            self._method("groups.deleteCallbackServer", {"server_id": self.config.registration_id})
