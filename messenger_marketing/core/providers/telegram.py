"""Telegram Bot API through python-telegram-bot.

Sends go through ``telegram.Bot`` pointed at the channel's API base URL, so tests point
the real client at a fake server. Webhooks are authenticated with the secret token that
Telegram sends back in ``X-Telegram-Bot-Api-Secret-Token`` (set when registering).
"""

import asyncio
import contextlib
import datetime
import logging
import mimetypes
import posixpath

import httpx
import telegram
from telegram import error as tg_error
from telegram.request import HTTPXRequest

from . import keepalive
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
    Provider,
    SendResult,
    TelegramHtmlText,
    WebhookRejectedError,
    _lt,
    file_size_text,
)

_logger = logging.getLogger(__name__)
# httpx logs every request's URL at INFO, and a Bot API URL carries the bot's token.
logging.getLogger("httpx").setLevel(logging.WARNING)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Telegram answers 403 with these descriptions when the person is out of reach for good.
_BLOCKED_MARKERS = ("blocked by the user", "user is deactivated", "bot was kicked")
# The message fields that carry a file, and the kind of InboundMedia each is. An animation
# (a GIF, sent as MP4) also fills "document": it comes first.
_FILE_FIELDS = {
    "animation": "video",
    "video": "video",
    "video_note": "video",
    "voice": "voice",
    "audio": "audio",
    "document": "document",
    "sticker": "sticker",
}
# what Telegram sends these as, when the message does not say (voice notes are OGG/Opus)
_DEFAULT_TYPES = {"voice": "audio/ogg", "video_note": "video/mp4", "animation": "video/mp4"}
# the Bot API method and its file parameter for each OutgoingFile kind
_SEND_FILE = {
    "photo": ("send_photo", "photo"),
    "document": ("send_document", "document"),
    "audio": ("send_audio", "audio"),
    "video": ("send_video", "video"),
}
# Seconds an upload may take to go out: a 50 MB file needs more than a text's timeout.
_UPLOAD_WRITE_TIMEOUT = 120.0


def _paid(message):
    """A paid broadcast's parameter, only on paid messages (python-telegram-bot 21.7+)."""
    return {"allow_paid_broadcast": True} if message.paid_broadcast else {}


def _seconds(value):
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value or 0)


class TelegramProvider(TelegramHtmlText, Provider):
    code = "telegram"
    label = "Telegram"
    brand_color = "#2AABEE"
    icon = "fa-telegram"
    credential_fields = ("token",)
    field_labels = {}  # BotFather gives a bot token: the field's own label
    setup_help = (
        _lt("In Telegram, open <b>@BotFather</b> and send <code>/newbot</code>."),
        _lt('Choose the bot\'s name and its username (it ends in "bot").'),
        _lt("BotFather answers with a token such as <code>123456:ABC-DEF…</code>: paste it below."),
    )
    webhook_help = _lt(
        "Register Webhook tells Telegram this address and a secret that Telegram sends back with every update."
    )
    default_rate_limit = 30.0
    default_per_chat_interval = 1.0
    default_api_base_url = "https://api.telegram.org"
    # https://core.telegram.org/bots/api#sending-files: a bot uploads photos of at most
    # 10 MB and other files of at most 50 MB; it downloads files of at most 20 MB (getFile).
    media_limits = {"photo": 10 * MB, "document": 50 * MB, "audio": 50 * MB, "video": 50 * MB}
    max_download_size = 20 * MB

    def __init__(self, config):
        super().__init__(config)
        self._bot = None

    def _make_bot(self):
        timeout = self.config.request_timeout
        request = HTTPXRequest(
            connection_pool_size=self.config.concurrency,
            read_timeout=timeout,
            write_timeout=timeout,
            connect_timeout=timeout,
            pool_timeout=timeout,
        )
        base = (self.config.api_base_url or self.default_api_base_url).rstrip("/")
        if keepalive.usable(base):
            request = keepalive.KeepAliveRequest(base, self.config.concurrency, timeout, fallback=request)
        return telegram.Bot(
            self.config.token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=request,
            get_updates_request=request,
        )

    # -- sending ---------------------------------------------------------------------
    async def open(self):
        self._bot = self._make_bot()
        # Connect before the first slot (TCP and TLS handshakes, the client's first-call
        # set-up): otherwise the first message arrives late, bunched with the next ones.
        with contextlib.suppress(tg_error.TelegramError):
            await self._bot.get_me()

    async def close(self):
        if self._bot is not None:
            await self._bot.shutdown()
            self._bot = None

    @staticmethod
    def _markup(buttons):
        if not buttons:
            return None
        if any(b.get("request_contact") for row in buttons for b in row):
            rows = [
                [telegram.KeyboardButton(b["text"], request_contact=bool(b.get("request_contact"))) for b in row]
                for row in buttons
            ]
            return telegram.ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)
        rows = [
            [
                telegram.InlineKeyboardButton(b["text"], url=b["url"])
                if b.get("url")
                else telegram.InlineKeyboardButton(b["text"], callback_data=b.get("payload") or b["text"])
                for b in row
            ]
            for row in buttons
        ]
        return telegram.InlineKeyboardMarkup(rows)

    async def send(self, message):
        text, text_format = self.prepare_text(message.text, message.text_format)
        parse_mode = "HTML" if text_format == "html" else None
        try:
            if message.attachment:
                sent = await self._send_file(message, text or None, parse_mode)
            elif message.image_url:
                sent = await self._bot.send_photo(
                    chat_id=message.chat_id,
                    photo=message.image_url,
                    caption=text or None,
                    parse_mode=parse_mode,
                    reply_markup=self._markup(message.buttons),
                    **_paid(message),
                )
            else:
                sent = await self._bot.send_message(
                    chat_id=message.chat_id,
                    text=text,
                    parse_mode=parse_mode,
                    reply_markup=self._markup(message.buttons),
                    **_paid(message),
                )
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        return SendResult(message.key, SENT, provider_message_id=str(sent.message_id))

    async def _send_file(self, message, caption, parse_mode):
        file = message.attachment
        method, parameter = _SEND_FILE[file.kind]
        if file.kind == "audio" and file.mimetype == "audio/ogg":
            method, parameter = "send_voice", "voice"  # Telegram shows an OGG/Opus audio as a voice note
        return await getattr(self._bot, method)(
            chat_id=message.chat_id,
            caption=caption,
            parse_mode=parse_mode,
            reply_markup=self._markup(message.buttons),
            filename=file.filename or None,
            write_timeout=max(self.config.request_timeout, _UPLOAD_WRITE_TIMEOUT),
            **_paid(message),
            **{parameter: file.data},
        )

    @classmethod
    def classify_error(cls, key, exc):
        if isinstance(exc, tg_error.RetryAfter):
            retry = _seconds(exc.retry_after)
            reason = f"Rate limited by Telegram, retry after {retry:g} s"
            return SendResult(key, TRANSIENT, reason=reason, retry_after=retry)
        if isinstance(exc, tg_error.Forbidden):
            text = str(exc)
            outcome = BLOCKED if any(m in text.lower() for m in _BLOCKED_MARKERS) else PERMANENT
            return SendResult(key, outcome, reason=f"Telegram refused: {text}")
        if isinstance(exc, tg_error.ChatMigrated):
            return SendResult(key, PERMANENT, reason=f"The chat moved to {exc.new_chat_id}")
        if isinstance(exc, tg_error.InvalidToken):
            return SendResult(key, PERMANENT, reason="Telegram rejected the bot token")
        if isinstance(exc, tg_error.BadRequest):
            return SendResult(key, PERMANENT, reason=f"Telegram refused the message: {exc}")
        if isinstance(exc, tg_error.TimedOut):
            unsent = isinstance(exc.__cause__, (httpx.ConnectTimeout, httpx.PoolTimeout)) or "Pool timeout" in str(exc)
            return cls.timed_out(key, maybe_delivered=not unsent)
        if isinstance(exc, tg_error.NetworkError):  # 5xx, 502, connection errors
            return SendResult(key, TRANSIENT, reason=f"Telegram unavailable: {exc}")
        if isinstance(exc, tg_error.TelegramError):
            return SendResult(key, PERMANENT, reason=f"Telegram error: {exc}")
        return cls.unexpected(key, exc)

    # -- webhooks --------------------------------------------------------------------
    def verify_webhook(self, headers, body):
        self.check_secret(headers.get(SECRET_HEADER), self.config.webhook_secret, "missing or wrong secret token")

    def parse_webhook(self, body):
        update = self.load_json(body)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            raise WebhookRejectedError(400, "not a Telegram update (no integer update_id)")
        try:
            return [self._event(update)]
        except MALFORMED as exc:
            raise WebhookRejectedError(400, f"malformed update: {exc.__class__.__name__}") from exc

    @staticmethod
    def _person(user, chat):
        user = user or {}
        name = " ".join(filter(None, [user.get("first_name"), user.get("last_name")])) or chat.get("title") or ""
        return {
            "chat_id": str(chat["id"]),
            "name": str(name)[:128],
            "username": str(user.get("username") or "")[:64],
            "lang": str(user.get("language_code") or "")[:16],
            "group_chat": chat.get("type", "private") != "private",
        }

    def _event(self, update):
        event_id = str(update["update_id"])
        if "message" in update:
            msg = update["message"]
            person = self._person(msg.get("from"), msg["chat"])
            mid = str(msg.get("message_id", ""))
            shared = msg.get("contact")
            if isinstance(shared, dict):
                sender = (msg.get("from") or {}).get("id")
                if shared.get("user_id") and shared.get("user_id") == sender:
                    return InboundEvent(
                        event_id,
                        "contact",
                        phone=str(shared.get("phone_number") or ""),
                        provider_message_id=mid,
                        **person,
                    )
                return InboundEvent(event_id, "message", text="[shared a contact]", provider_message_id=mid, **person)
            text = msg.get("text")
            payload = self.start_payload(text)
            if payload is not None:
                return InboundEvent(event_id, "start", text=text, payload=payload, provider_message_id=mid, **person)
            media = self._media(msg)
            if not isinstance(text, str):
                # a file's text is its caption; a message with neither is shown as such
                text = msg.get("caption") or ("" if media else "[unsupported message]")
            return InboundEvent(event_id, "message", text=str(text), provider_message_id=mid, media=media, **person)
        if "callback_query" in update:
            query = update["callback_query"]
            chat = (query.get("message") or {}).get("chat") or {"id": query["from"]["id"]}
            person = self._person(query.get("from"), chat)
            return InboundEvent(
                event_id, "button", payload=str(query.get("data") or ""), callback_id=str(query["id"]), **person
            )
        if "my_chat_member" in update:
            member = update["my_chat_member"]
            status = (member.get("new_chat_member") or {}).get("status")
            person = self._person(member.get("from"), member["chat"])
            return InboundEvent(event_id, "blocked" if status == "kicked" else "other", **person)
        return InboundEvent(event_id, "other")

    @staticmethod
    def _media(msg):
        """The file (or place) of a message, as InboundMedia: its file_id is what getFile takes."""
        location = msg.get("location")
        if isinstance(location, dict):  # also inside a venue
            return [
                InboundMedia("location", latitude=float(location["latitude"]), longitude=float(location["longitude"]))
            ]
        photos = msg.get("photo")
        if isinstance(photos, list) and photos:  # the sizes of one photo: the largest
            largest = max(photos, key=lambda p: int(p.get("width") or 0) * int(p.get("height") or 0))
            size = int(largest.get("file_size") or 0)
            return [InboundMedia("photo", ref=str(largest["file_id"]), mimetype="image/jpeg", size=size)]
        for key, kind in _FILE_FIELDS.items():
            file = msg.get(key)
            if not isinstance(file, dict):
                continue
            mimetype = file.get("mime_type") or _DEFAULT_TYPES.get(key, "")
            if key == "sticker":
                animated, video = file.get("is_animated"), file.get("is_video")
                mimetype = "application/x-tgsticker" if animated else "video/webm" if video else "image/webp"
            return [
                InboundMedia(
                    kind,
                    ref=str(file["file_id"]),
                    mimetype=str(mimetype),
                    filename=str(file.get("file_name") or "")[:256],
                    size=int(file.get("file_size") or 0),
                )
            ]
        return []

    async def fetch_media(self, media):
        if media.size > self.max_download_size:  # getFile would refuse it: "file is too big"
            raise MediaError(
                f"Telegram hands a bot files of at most {file_size_text(self.max_download_size)}; "
                f"this one has {file_size_text(media.size)}.",
                retryable=False,
            )
        bot = self._bot or self._make_bot()
        try:
            file = await bot.get_file(media.ref)
            data = bytes(await file.download_as_bytearray())
        except tg_error.TelegramError as exc:
            raise self._media_error(exc) from exc
        finally:
            if bot is not self._bot:
                await bot.shutdown()
        filename = media.filename or posixpath.basename(file.file_path or "")
        mimetype = media.mimetype or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return FetchedFile(data, mimetype=mimetype, filename=filename)

    @staticmethod
    def _media_error(exc):
        # BadRequest is a NetworkError in python-telegram-bot: it goes first (a wrong or
        # too large file stays so); 404 on the file's address comes as InvalidToken
        if isinstance(exc, tg_error.BadRequest | tg_error.InvalidToken | tg_error.Forbidden):
            return MediaError(f"Telegram did not hand over the file: {exc}", retryable=False)
        if isinstance(exc, tg_error.RetryAfter | tg_error.NetworkError):  # 429, 5xx, timeouts
            return MediaError(f"Telegram did not hand over the file: {exc}", retryable=True)
        return MediaError(f"Telegram did not hand over the file: {exc}", retryable=False)

    def webhook_reply(self, events):
        # Telegram lets a webhook answer with one method call: acknowledging a button press
        # there costs no request and keeps provider calls out of the webhook transaction.
        for event in events:
            if event.callback_id:
                return {"method": "answerCallbackQuery", "callback_query_id": event.callback_id}
        return {"ok": True}

    # -- configuration ---------------------------------------------------------------
    def deep_link(self, payload):
        return f"https://t.me/{self.config.bot_username or 'your_bot'}?start={payload}"

    def _call(self, method, **kwargs):
        async def run():
            bot = self._make_bot()
            try:
                return await getattr(bot, method)(**kwargs)
            finally:
                await bot.shutdown()

        try:
            return asyncio.run(run())
        except tg_error.TelegramError as exc:
            raise ValueError(str(exc)) from exc

    def set_webhook(self, url):
        self._call(
            "set_webhook",
            url=url,
            secret_token=self.config.webhook_secret,
            allowed_updates=["message", "callback_query", "my_chat_member"],
        )

    def delete_webhook(self):
        self._call("delete_webhook")

    def test_connection(self):
        me = self._call("get_me")
        return {"bot_username": me.username or ""}
