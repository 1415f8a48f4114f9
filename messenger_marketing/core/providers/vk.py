"""VK community messages through vk_api, and VK's Callback API for webhooks.

vk_api posts to its fixed address; its requests session sends those requests to the
channel's API base URL instead, so tests point the real client at a fake server. Every
send carries a ``random_id`` derived from the message's uuid: VK does not deliver a
second message with the same ``random_id``, so a resend after a crash cannot duplicate.
"""

import hashlib
import json
import logging
import mimetypes
import posixpath
import threading
from urllib.parse import quote, urlsplit

import jconfig
import requests
import vk_api
from vk_api.exceptions import TOO_MANY_RPS_CODE, ApiError, ApiHttpError, Captcha
from vk_api.keyboard import VkKeyboard

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
    OutgoingFile,
    SendResult,
    WebhookRejectedError,
    WebhookReply,
    _lt,
    media_filename,
    tolerated,
)
from .blocking import BlockingProvider

_logger = logging.getLogger(__name__)

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
_CARD_TEXT_LENGTH = 80  # a carousel element's title and description
_CHAT_PEERS = 2000000000  # peer ids from here on are group chats, not people
# What goes wrong while a picture is fetched and uploaded: then it goes as a link instead
_PICTURE_ERRORS = (
    MediaError,
    ApiError,
    ApiHttpError,
    Captcha,
    requests.exceptions.RequestException,
    ValueError,
    KeyError,
)


def _largest(images):
    """The address of the largest of VK's sizes of one picture."""
    sized = [i for i in images or () if isinstance(i, dict) and i.get("url")]
    if not sized:
        return ""
    return str(max(sized, key=lambda i: int(i.get("width") or 0) * int(i.get("height") or 0))["url"])


def _photo(obj):
    url = _largest(obj.get("sizes"))
    return InboundMedia("photo", ref=url, mimetype="image/jpeg") if url else None


def _doc(obj):
    if not obj.get("url"):
        return None
    title, ext = str(obj.get("title") or "file"), str(obj.get("ext") or "")
    filename = title if not ext or title.lower().endswith(f".{ext.lower()}") else f"{title}.{ext}"
    return InboundMedia(
        "document",
        ref=str(obj["url"]),
        mimetype=mimetypes.guess_type(filename)[0] or "",
        filename=filename[:256],
        size=int(obj.get("size") or 0),
    )


def _voice(obj):
    ogg = obj.get("link_ogg")
    url = ogg or obj.get("link_mp3")
    return InboundMedia("voice", ref=str(url), mimetype="audio/ogg" if ogg else "audio/mpeg") if url else None


def _audio(obj):
    if not obj.get("url"):  # VK often withholds a song's file
        return None
    name = " - ".join(str(obj[k]) for k in ("artist", "title") if obj.get(k)) or "audio"
    return InboundMedia("audio", ref=str(obj["url"]), mimetype="audio/mpeg", filename=f"{name[:250]}.mp3")


def _video(obj):
    key = f"_{obj['access_key']}" if obj.get("access_key") else ""
    return InboundMedia("video", ref=f"video{obj['owner_id']}_{obj['id']}{key}", filename=str(obj.get("title") or ""))


def _sticker(obj):
    url = _largest(obj.get("images"))
    return InboundMedia("sticker", ref=url, mimetype="image/png") if url else None


def _under(url, base):
    """``url`` is an address under ``base``: same scheme and host, a path below its own."""
    if not base:
        return False
    parts, root = urlsplit(url), urlsplit(base)
    return (parts.scheme, parts.netloc.lower()) == (root.scheme, root.netloc.lower()) and f"{parts.path}/".startswith(
        f"{root.path.rstrip('/')}/"
    )


def _place(geo):
    point = geo["coordinates"]
    return InboundMedia("location", latitude=float(point["latitude"]), longitude=float(point["longitude"]))


# the InboundMedia of each attachment type (a wall post, a link, a gift have none)
_ATTACHMENT_MEDIA = {
    "photo": _photo,
    "doc": _doc,
    "audio_message": _voice,
    "audio": _audio,
    "video": _video,
    "sticker": _sticker,
}


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
    brand_color = "#0077FF"
    icon = "fa-vk"
    default_rate_limit = 20.0  # requests per second with a community token
    default_per_chat_interval = 1.0  # VK answers "flood control" (9) to bursts at one person
    has_idempotency_key = True
    max_text_length = 4096
    max_caption_length = 4096  # the text of a message with a photo or a file
    # https://dev.vk.com/ru/api/upload/photo-in-message: photos of at most 50 MB;
    # https://dev.vk.com/ru/api/upload/document-in-message: documents of at most 200 MB.
    # A community cannot upload a video for a message (video.save takes a user's token):
    # audio and video go as documents (an OGG audio as a voice message).
    media_limits = {"photo": 50 * MB, "document": 200 * MB, "audio": 200 * MB, "video": 200 * MB}
    # https://dev.vk.com/ru/api/bots/development/messages (templates): a carousel has at most
    # 10 elements, each with a title and a description of at most 80 characters, at most 3
    # buttons, and the fields of the first element (VK refuses elements that differ)
    max_cards = 10
    default_api_base_url = "https://api.vk.ru"
    credential_fields = ("vk_group_id", "token")
    account_field = "vk_group_id"
    config_fields = {"confirmation_code": "vk_confirmation_code", "registration_id": "vk_server_id"}
    webhook_fields = ("webhook_secret", "vk_confirmation_code")
    field_labels = {**BlockingProvider.field_labels, "webhook_secret": _lt("Secret Key")}
    setup_help = (
        _lt("In your VK community: <b>Manage › Messages</b>, turn community messages on."),
        _lt(
            "<b>Manage › API usage › Access tokens</b>: create a token that may manage the community, send messages, "
            "and upload photos and documents (files and pictures in messages)."
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
        # image_url: its photo attachment, uploaded once per run (a campaign's picture
        # goes to every person as one photo of the community)
        self._pictures = {}
        # the sends of one picture wait for its one upload, those of others do not
        self._pictures_lock = threading.Lock()
        self._picture_locks = {}  # url -> its lock

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
    def precheck(self, message):
        if message.cards and not (message.text or "").strip():
            return self.refuse(message, "VK shows a carousel only under a text: the message needs one.")
        return super().precheck(message)

    @staticmethod
    def keyboard(buttons):
        """VK keyboard JSON: an inline keyboard under the message, or a regular one-time
        keyboard when the rows do not fit inline or a button asks for the phone number
        (VK cannot share it: the press sends the label). Payload buttons of an inline
        keyboard are callback buttons: the press comes back as a ``message_event``, with no
        message in the chat, and is acknowledged (``answer_callbacks``); in a regular keyboard
        they are text buttons, whose press comes back as a message with the payload."""
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
                elif button.get("payload") and not regular:
                    keyboard.add_callback_button(label, payload={"b": button["payload"]})
                else:
                    payload = {"b": button["payload"]} if button.get("payload") else None
                    keyboard.add_button(label, payload=payload)
        return keyboard.get_keyboard()

    def send_blocking(self, message):
        text, _format = self.prepare_text(message.text, message.text_format)
        values = {"peer_id": message.chat_id, "random_id": random_id(message.idempotency_key)}
        keyboard = self.keyboard(message.buttons)
        if keyboard:
            values["keyboard"] = keyboard
        try:
            if message.attachment:
                values["attachment"] = self._upload(message.attachment, message.chat_id)
            elif message.image_url:
                picture = self._picture(message.image_url, message.chat_id)
                if picture:
                    values["attachment"] = picture
                else:
                    text = f"{text}\n\n{message.image_url}".strip()
            if message.cards:
                values["template"] = json.dumps(self._carousel(message.cards, message.chat_id))
            values["message"] = text
            message_id = self._api().method("messages.send", values)
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        return SendResult(message.key, SENT, provider_message_id=str(message_id))

    def _carousel(self, cards, peer_id):
        """VK's carousel template for product cards. Every element has the same fields, as
        VK asks: a picture only if every card's uploaded, a description only if every card
        has one, as many buttons as the card with the fewest."""
        photos = [self._picture(card["image_url"], peer_id) if card.get("image_url") else None for card in cards]
        with_photos = all(photos)
        with_descriptions = all(card.get("description") for card in cards)
        button_count = min(*(len(card.get("buttons") or ()) for card in cards), 3)
        elements = []
        for card, photo in zip(cards, photos, strict=True):
            element = {"title": (card.get("title") or "")[:_CARD_TEXT_LENGTH], "buttons": []}
            if with_descriptions:
                element["description"] = card["description"][:_CARD_TEXT_LENGTH]
            if with_photos:
                # the photo's "<owner>_<id>", without the attachment's access key
                element["photo_id"] = "_".join(photo.removeprefix("photo").split("_")[:2])
            if card.get("url"):
                element["action"] = {"type": "open_link", "link": card["url"]}
            elif with_photos:
                element["action"] = {"type": "open_photo"}
            for button in (card.get("buttons") or [])[:button_count]:
                label = (button.get("text") or "")[:_LABEL_LENGTH]
                if button.get("url"):
                    action = {"type": "open_link", "link": button["url"], "label": label}
                else:
                    payload = json.dumps({"b": button.get("payload") or label})
                    action = {"type": "callback", "label": label, "payload": payload}
                element["buttons"].append({"action": action})
            elements.append(element)
        return {"type": "carousel", "elements": elements}

    def _upload(self, file, peer_id):
        """Upload a file for a message to the person (get an upload address, post the file
        there, save it); return the ``attachment`` of messages.send."""
        api = self._api()
        if file.kind == "photo":
            server = api.method("photos.getMessagesUploadServer", {"peer_id": peer_id})
            posted = self._post_file(server["upload_url"], "photo", file)
            saved = api.method("photos.saveMessagesPhoto", {k: posted[k] for k in ("photo", "server", "hash")})[0]
            key = f"_{saved['access_key']}" if saved.get("access_key") else ""
            return f"photo{saved['owner_id']}_{saved['id']}{key}"
        doc_type = "audio_message" if file.kind == "audio" and file.mimetype == "audio/ogg" else "doc"
        server = api.method("docs.getMessagesUploadServer", {"type": doc_type, "peer_id": peer_id})
        posted = self._post_file(server["upload_url"], "file", file)
        saved = api.method("docs.save", {"file": posted["file"], "title": file.filename or "file"})
        doc = saved[saved["type"]]
        return f"doc{doc['owner_id']}_{doc['id']}"  # a voice message is attached as a doc too

    def _post_file(self, url, field, file):
        answer = self.session.post(
            url, files={field: (file.filename or "file", file.data, file.mimetype or "application/octet-stream")}
        )
        answer.raise_for_status()
        data = answer.json()
        if not isinstance(data, dict) or data.get("error"):
            # VK's upload servers answer their refusals this way: retried, as VK advises
            raise ValueError(f"the VK upload server refused the file: {data}")
        return data

    def _picture(self, url, peer_id):
        """The picture at ``url`` as a photo attachment, fetched and uploaded once per run;
        None when either fails: the picture then goes as a link under the text, as it went
        before VK took uploads from us, rather than the message waiting for it. Only our
        own public pictures are fetched: a manager's address elsewhere could be one of the
        server's network (a metadata service, an admin page), whose answer VK would show."""
        if not _under(url, self.config.public_base_url):
            return None
        with self._pictures_lock:
            lock = self._picture_locks.setdefault(url, threading.Lock())
        with lock:
            if url in self._pictures:
                return self._pictures[url]
            try:
                data, mimetype = self.download(url, max_size=self.media_limits["photo"], redirects=False)
                name = posixpath.basename(urlsplit(url).path) or "picture"
                picture = OutgoingFile("photo", name, mimetype or "image/jpeg", data)
                self._pictures[url] = self._upload(picture, peer_id)
            except _PICTURE_ERRORS as exc:
                _logger.info("Messenger: VK picture %s goes as a link: %s", url, exc)
                self._pictures[url] = None  # the run's other messages do not wait for it again
            return self._pictures[url]

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
            media = self._media(message)
            if not text and not media:
                text = "[attachment]"  # a wall post, a gift, a product: nothing to fetch
            return InboundEvent(event_id, "message", text=text, media=media, **person)
        if kind == "message_event":  # a callback button
            if int(obj["peer_id"]) >= _CHAT_PEERS:
                return InboundEvent(event_id, "other")
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

    @staticmethod
    def _media(message):
        """InboundMedia of a message's attachments and place: photos, documents and voice
        messages come with the address of their file; a video has none a community may
        fetch (its ref is its VK id)."""
        geo = message.get("geo")
        media = [tolerated(_place, geo)] if isinstance(geo, dict) else []
        for item in message.get("attachments") or []:
            kind = item.get("type") if isinstance(item, dict) else None
            obj = item.get(kind) if isinstance(item, dict) and isinstance(item.get(kind), dict) else {}
            media.append(tolerated(_ATTACHMENT_MEDIA.get(kind, lambda _obj: None), obj))
        return [m for m in media if m]

    def fetch_media_blocking(self, media):
        if not media.ref.startswith(("https://", "http://")):
            raise MediaError("VK hands a community no file of a video: it plays on VK only.", retryable=False)
        data, mimetype = self.download(media.ref, max_size=self.media_limits["document"])
        mimetype = media.mimetype or mimetype
        return FetchedFile(data, mimetype=mimetype, filename=media_filename(media, mimetype))

    def webhook_reply(self, events):
        return "ok"  # VK resends an event until the answer is exactly this

    def answer_callbacks(self, events):
        for event in events:
            if event.callback_id:
                self._answer_callback(event)

    def _answer_callback(self, event):
        """Acknowledge a callback button: until then the button spins in the person's app.
        VK takes no answer in the webhook's body, as Telegram does: this is a call. A
        failure costs the person the spinner for a while, never the event: it is logged."""

        def run():
            values = {"event_id": event.callback_id, "user_id": event.chat_id, "peer_id": event.chat_id}
            return self._api().method("messages.sendMessageEventAnswer", values)

        try:
            self.call(run)
        except (ApiError, ApiHttpError, Captcha, requests.exceptions.RequestException, ValueError) as exc:
            _logger.warning("Messenger: VK did not take the answer to a button press: %s", exc)

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
