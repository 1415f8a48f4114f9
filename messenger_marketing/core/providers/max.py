"""MAX (VK's national messenger) through the MAX Bot API, over REST with requests.

No client library: the maintained one on PyPI (``maxapi``) resolves beside Odoo 18's pins,
but brings aiohttp, pydantic and six more packages into the server for a dozen REST calls,
and retries 429 answers itself (``backoff``), which would hide the platform's limit from
the dispatcher's pacing. The API is plain JSON over HTTPS (dev.max.ru/docs-api): the token
goes in the ``Authorization`` header (no longer in the query), a bot writes to a person
with ``POST /messages?user_id=…`` and to a group chat with ``?chat_id=…``, files go up in
two steps (``POST /uploads?type=…`` gives an address, the file goes there, the answer's
token becomes an attachment), and the webhook is a subscription (``POST /subscriptions``)
whose ``secret`` comes back in the ``X-Max-Bot-Api-Secret`` header of every update.
"""

import hashlib
import logging
import re
from urllib.parse import quote

import requests

from .base import (
    BLOCKED,
    MALFORMED,
    MB,
    PERMANENT,
    SENT,
    TRANSIENT,
    FetchedFile,
    InboundEvent,
    InboundMedia,
    MediaError,
    SendResult,
    TelegramHtmlText,
    WebhookRejectedError,
    _lt,
    media_filename,
)
from .blocking import BlockingProvider

_logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Max-Bot-Api-Secret"
# what the product handles; MAX sends only the types a subscription names
UPDATE_TYPES = ("message_created", "message_callback", "bot_started", "bot_stopped", "bot_removed")
# OutgoingFile kinds -> the upload type and attachment type of MAX
_UPLOAD_TYPES = {"photo": "image", "document": "file", "audio": "audio", "video": "video"}
# an audio or a file must be the only attachment of its message (NewMessageBody, dev.max.ru)
_ALONE = {"audio", "file"}
# MAX's inbound attachment types -> InboundMedia kinds
_INBOUND_KINDS = {"image": "photo", "file": "document", "audio": "audio", "video": "video", "sticker": "sticker"}
# MAX takes files up to 4 GB; Odoo holds a fetched file in memory while it stores it, so a
# person's file above this stays on MAX (the refusal says so)
_FETCH_LIMIT = 50 * MB
_TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)


def _recipient(chat_id):
    """Whom ``POST /messages`` writes to. A person's contact holds their user id, a group's
    the group chat's id (see _event), and MAX's group chat ids are negative, its user ids
    positive: a group is written to by ``chat_id``, a person by ``user_id``."""
    return {"chat_id": chat_id} if str(chat_id).startswith("-") else {"user_id": chat_id}


class MaxError(Exception):
    """An error answer of the MAX Bot API: its HTTP status and ``{"code", "message"}``."""

    def __init__(self, status, code="", message="", retry_after=0.0):
        self.status = status
        self.code = code or ""
        self.message = message or f"HTTP {status}"
        self.retry_after = retry_after
        super().__init__(f"{status} {self.code}: {self.message}" if self.code else f"{status} {self.message}")


def _retry_after(response):
    try:
        return max(float(response.headers.get("Retry-After") or 0), 0.0)
    except ValueError:
        return 0.0


class MaxProvider(TelegramHtmlText, BlockingProvider):
    code = "max"
    label = "MAX"
    brand_color = "#7B3FE4"
    icon = "fa-comment"
    credential_fields = ("token",)
    setup_help = (
        _lt(
            "On <b>business.max.ru</b>, register your organisation and pass its verification: MAX admits legal "
            "entities and sole proprietors registered in Russia, confirmed through Gosuslugi or a partner bank."
        ),
        _lt("Under <b>Chat bots</b>, create the bot; it goes live once MAX has moderated it."),
        _lt("Open the bot's <b>⋮ › Settings</b>, copy its token and paste it below."),
    )
    webhook_help = _lt(
        "Register Webhook subscribes this address with a secret that MAX sends back with every update. MAX "
        "delivers updates only over <b>HTTPS</b>, on port 443, with a certificate of a trusted authority (or of "
        "the Russian Ministry of Digital Development): a self-signed certificate or plain HTTP receives nothing."
    )
    # "для стабильной работы сервисов MAX ... максимальное количество запросов в секунду на
    # platform-api.max.ru — 30 rps" (dev.max.ru/docs-api/methods/POST/uploads, "Обработка
    # медиафайлов"; the FAQ of green-api.com/max-bot-api says the same). An upload costs a
    # request more (POST /uploads) than the one slot its message takes.
    default_rate_limit = 30.0
    # MAX documents no limit per chat; one a second keeps one person's messages in order
    default_per_chat_interval = 1.0
    max_text_length = 4000  # NewMessageBody.text: maxLength 4000
    max_caption_length = 4000  # the text goes in the same message as its attachment
    media_limits = {"photo": 50 * MB, "video": 250 * MB, "audio": 256 * MB, "document": 4096 * MB}
    default_api_base_url = "https://platform-api2.max.ru"

    # -- the API -----------------------------------------------------------------------
    def api(self, method, path, payload=None, params=None):
        """Call the Bot API with the channel's token; return the JSON answer or raise MaxError."""
        response = self.session.request(
            method,
            f"{self.base_url}{path}",
            json=payload,
            params=params,
            headers={"Authorization": self.config.token},
            timeout=self.config.request_timeout,
        )
        return self._answer(response)

    @staticmethod
    def _answer(response):
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict):
            error = data if isinstance(data, dict) else {}
            raise MaxError(
                response.status_code,
                str(error.get("code") or ""),
                str(error.get("message") or response.text[:200]),
                retry_after=_retry_after(response),
            )
        return data

    def _upload(self, attachment):
        """Upload an OutgoingFile; return its attachment for POST /messages."""
        kind = _UPLOAD_TYPES[attachment.kind]
        endpoint = self.api("POST", "/uploads", params={"type": kind})
        response = self.session.post(
            endpoint["url"],
            files={"data": (attachment.filename, attachment.data, attachment.mimetype or "application/octet-stream")},
            headers={"Authorization": self.config.token},
            timeout=max(self.config.request_timeout, 60.0),  # a file takes longer than a message
        )
        uploaded = self._answer(response)
        # video and audio: the token came with the address; image and file: with the upload
        payload = {"token": endpoint["token"]} if endpoint.get("token") else uploaded
        return {"type": kind, "payload": payload}

    @staticmethod
    def keyboard(buttons):
        rows = []
        for row in buttons:
            keys = []
            for button in row:
                text = (button.get("text") or "")[:128]
                if button.get("url"):
                    keys.append({"type": "link", "text": text, "url": button["url"]})
                elif button.get("request_contact"):
                    keys.append({"type": "request_contact", "text": text})
                else:
                    keys.append({"type": "callback", "text": text, "payload": button.get("payload") or text})
            rows.append(keys)
        return {"type": "inline_keyboard", "payload": {"buttons": rows}} if rows else None

    def _post_message(self, chat_id, text, text_format, attachments):
        body = {"text": text, "attachments": attachments}
        if text_format == "html":
            body["format"] = "html"
        answer = self.api("POST", "/messages", body, params=_recipient(chat_id))
        return str(((answer.get("message") or {}).get("body") or {}).get("mid") or "")

    def send_blocking(self, message):
        text, text_format = self.prepare_text(message.text, message.text_format)
        try:
            attachments = []
            if message.attachment:
                attachments.append(self._upload(message.attachment))
            elif message.image_url:
                attachments.append({"type": "image", "payload": {"url": message.image_url}})
            keyboard = self.keyboard(message.buttons)
            if keyboard and attachments and attachments[0]["type"] in _ALONE:
                # the file goes alone, the text and its buttons right after it
                self._post_message(message.chat_id, "", "plain", attachments)
                attachments = []
            if keyboard:
                attachments.append(keyboard)
            mid = self._post_message(message.chat_id, text, text_format, attachments)
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        return SendResult(message.key, SENT, provider_message_id=mid)

    @classmethod
    def classify_error(cls, key, exc):
        if isinstance(exc, MaxError):
            reason = f"MAX refused the message: {exc}"
            if exc.status == 429:
                retry = exc.retry_after or 1.0
                return SendResult(
                    key, TRANSIENT, reason=f"Rate limited by MAX, retry after {retry:g} s", retry_after=retry
                )
            if exc.code == "attachment.not.ready":  # the uploaded file is still being processed
                return SendResult(key, TRANSIENT, reason=reason, retry_after=5.0)
            if exc.status == 401:
                return SendResult(key, PERMANENT, reason=f"{reason} (the bot's token is wrong or was revoked)")
            if exc.status == 403:
                # "the user has stopped the bot, or has no access to the chat" (GET /messages, 403)
                return SendResult(key, BLOCKED, reason=f"{reason} (the person stopped the bot)")
            if exc.status >= 500:
                return SendResult(key, TRANSIENT, reason=f"MAX unavailable: {exc}")
            return SendResult(key, PERMANENT, reason=reason)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return cls.timed_out(key, maybe_delivered=False)
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return cls.timed_out(key)
        if isinstance(exc, requests.exceptions.RequestException):
            return SendResult(key, TRANSIENT, reason=f"MAX unavailable: {exc.__class__.__name__}")
        return cls.unexpected(key, exc)

    # -- files a person sent -------------------------------------------------------------
    def fetch_media_blocking(self, media):
        if not media.ref:
            raise MediaError("MAX gave no address for this file", retryable=False)
        data, mimetype = self.download(media.ref, max_size=_FETCH_LIMIT)
        mimetype = mimetype or media.mimetype
        return FetchedFile(data, mimetype=mimetype, filename=media_filename(media, mimetype))

    # -- webhooks ----------------------------------------------------------------------
    def verify_webhook(self, headers, body):
        self.check_secret(headers.get(SECRET_HEADER), self.config.webhook_secret, f"missing or wrong {SECRET_HEADER}")

    def parse_webhook(self, body):
        update = self.load_json(body)
        if not isinstance(update, dict) or not isinstance(update.get("update_type"), str):
            raise WebhookRejectedError(400, "not a MAX update (no update_type)")
        try:
            return [self._event(update)]
        except MALFORMED as exc:
            raise WebhookRejectedError(400, f"malformed update: {exc.__class__.__name__}") from exc

    @staticmethod
    def _person(user, locale=None):
        name = " ".join(filter(None, [user.get("first_name"), user.get("last_name")])) or user.get("name") or ""
        return {
            "chat_id": str(int(user["user_id"])),
            "name": str(name)[:128],
            "username": str(user.get("username") or "")[:64],
            "lang": str(locale or "")[:16],
        }

    @staticmethod
    def _media(attachment):
        kind = attachment.get("type")
        payload = attachment.get("payload") or {}
        if kind == "location":
            return InboundMedia(
                "location", latitude=float(attachment["latitude"]), longitude=float(attachment["longitude"])
            )
        if kind not in _INBOUND_KINDS:
            return None
        return InboundMedia(
            _INBOUND_KINDS[kind],
            ref=str(payload.get("url") or ""),
            filename=str(attachment.get("filename") or "")[:256],
            size=int(attachment.get("size") or 0),
        )

    @staticmethod
    def _shared_phone(attachments, sender_id):
        """The number of a contact the sender shared of themselves (a request_contact button)."""
        for attachment in attachments:
            if attachment.get("type") != "contact":
                continue
            payload = attachment.get("payload") or {}
            owner = (payload.get("max_info") or {}).get("user_id")
            match = _TEL.search(str(payload.get("vcf_info") or ""))
            if match and owner is not None and int(owner) == sender_id:
                return match.group(1).strip()
        return None

    def _event(self, update):
        kind = update["update_type"]
        stamp = str(int(update.get("timestamp") or 0))
        locale = update.get("user_locale")
        if kind == "message_created":
            message = update["message"]
            body = message.get("body") or {}
            mid = str(body["mid"])
            event_id = f"max-{mid}"
            person = self._person(message["sender"], locale)
            recipient = message.get("recipient") or {}
            if recipient.get("chat_type") == "chat":  # a group: it is the chat that speaks to us
                person.update(chat_id=str(int(recipient["chat_id"])), group_chat=True)
            text = body.get("text")
            text = text if isinstance(text, str) else ""
            attachments = [a for a in body.get("attachments") or [] if isinstance(a, dict)]
            phone = self._shared_phone(attachments, int(message["sender"]["user_id"]))
            if phone:
                return InboundEvent(event_id, "contact", phone=phone, provider_message_id=mid, **person)
            payload = self.start_payload(text)
            if payload is not None:
                return InboundEvent(event_id, "start", text=text, payload=payload, provider_message_id=mid, **person)
            media = [m for m in map(self._media, attachments) if m]
            if not text and not media:
                text = "[unsupported message]"
            return InboundEvent(event_id, "message", text=text, media=media, provider_message_id=mid, **person)
        if kind == "message_callback":
            callback = update["callback"]
            return InboundEvent(
                f"max-cb-{callback['callback_id']}",
                "button",
                payload=str(callback.get("payload") or ""),
                callback_id=str(callback["callback_id"]),
                **self._person(callback["user"], locale),
            )
        if kind == "bot_started":  # also through a deep link max.ru/<bot>?start=<payload>
            person = self._person(update["user"], locale)
            return InboundEvent(
                f"max-start-{person['chat_id']}-{stamp}", "start", payload=str(update.get("payload") or ""), **person
            )
        if kind == "bot_stopped":  # the person stopped the bot, or deleted the dialog
            person = self._person(update["user"], locale)
            return InboundEvent(f"max-stop-{person['chat_id']}-{stamp}", "blocked", **person)
        if kind == "bot_removed":  # removed from a group chat
            chat = str(int(update["chat_id"]))
            return InboundEvent(f"max-removed-{chat}-{stamp}", "blocked", chat_id=chat, group_chat=True)
        digest = hashlib.sha256(repr(sorted(update.items())).encode()).hexdigest()[:32]
        return InboundEvent(f"max-{kind[:64]}-{digest}", "other")

    def webhook_reply(self, events):
        return {"ok": True}

    def answer_callbacks(self, events):
        for event in events:
            if event.callback_id:
                self._answer_callback(event)

    def _answer_callback(self, event):
        """Answer a button press (``POST /answers``): until then the person's app waits on
        it. MAX takes no answer in the webhook's body, as Telegram does: this is a call, as
        for VK. A failure costs the person the wait, never the event: it is logged."""
        try:
            self.configure(
                "POST",
                "/answers",
                "Answering a button press",
                {"notification": "✓"},
                {"callback_id": event.callback_id},
            )
        except ValueError as exc:
            _logger.warning("Messenger: MAX did not take the answer to a button press: %s", exc)

    # -- configuration -----------------------------------------------------------------
    def deep_link(self, payload):
        return f"https://max.ru/{self.config.bot_username or 'your_bot'}?start={quote(payload)}"

    def configure(self, method, path, what, payload=None, params=None):
        if not self.config.token:
            raise ValueError("Fill in the bot's access token.")

        def run():
            try:
                return self.api(method, path, payload, params)
            except MaxError as exc:
                hint = " The token is wrong or was revoked." if exc.status == 401 else ""
                raise ValueError(f"{what}: {exc}.{hint}") from exc
            except requests.exceptions.RequestException as exc:
                raise ValueError(f"{what}: MAX did not answer ({exc.__class__.__name__}).") from exc

        return self.call(run)

    def set_webhook(self, url):
        if not url.startswith("https://"):
            raise ValueError(
                "MAX delivers updates only to an HTTPS address with a trusted certificate; this Odoo's address "
                f"is {url.split('/messenger/')[0]}. Set web.base.url to its public https:// address."
            )
        answer = self.configure(
            "POST",
            "/subscriptions",
            "Subscribing the webhook",
            {"url": url, "update_types": list(UPDATE_TYPES), "secret": self.config.webhook_secret},
        )
        if answer.get("success") is False:
            raise ValueError(f"Subscribing the webhook: {answer.get('message') or 'refused'}.")

    def delete_webhook(self):
        # MAX removes a subscription by its address; a bot has ours, and any older one goes too
        subscriptions = self.configure("GET", "/subscriptions", "Reading the subscriptions").get("subscriptions") or []
        for subscription in subscriptions:
            self.configure("DELETE", "/subscriptions", "Unsubscribing", params={"url": subscription["url"]})

    def test_connection(self):
        me = self.configure("GET", "/me", "Reading the bot")
        return {"bot_username": str(me.get("username") or "")}
