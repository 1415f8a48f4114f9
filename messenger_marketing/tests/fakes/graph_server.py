"""A fake Meta Graph API on 127.0.0.1 for one platform (WhatsApp Cloud API, Messenger or
Instagram), in a process of its own.

It checks the bearer token and the ``appsecret_proof``, enforces the sending limits (the
account's messages per second, and the time between two messages to one person),
answering them with the platform's own error codes (WhatsApp 130429 / 131056, Meta 613),
refuses free messages to people whose 24-hour window it was told is closed (WhatsApp
131047, Meta 10/2018278), answers "this person isn't available" (551) for people who
blocked the account, serves a WhatsApp Business Account's message templates page by
page, and can be told to answer any Graph error, an HTTP error or slowly. It records what
it receives.
"""

import hashlib
import hmac
import json
import time

try:
    from .server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run
except ImportError:  # run as a script, in the fake's own process
    from server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run

VERSION = "v21.0"
APP_SECRET = "meta-app-secret"
ACCOUNTS = {  # platform: (token, account id)
    "whatsapp": ("EAAG-whatsapp-token", "106540352242922"),
    "messenger": ("EAAG-page-token", "108000000000001"),
    "instagram": ("IGQW-instagram-token", "17841400000000001"),
}
WABA_ID = "102290129340398"
WHATSAPP_PHOTO_ID = "1037543291543636"
WHATSAPP_VOICE_ID = "1037543291543637"
WHATSAPP_MEDIA = {  # media id: (data, mime type)
    WHATSAPP_PHOTO_ID: (PHOTO, "image/jpeg"),
    WHATSAPP_VOICE_ID: (VOICE, "audio/ogg"),
}
CDN_FILES = {"photo.jpg": (PHOTO, "image/jpeg"), "voice.mp4": (VOICE, "audio/mp4")}  # Messenger, Instagram
MESSAGES = {
    100: "Invalid parameter",
    131047: "Re-engagement message",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages "
    "on WhatsApp from your business",
    130429: "Rate limit hit",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    80007: "Rate limit issues",
    131026: "Message undeliverable",
    551: "This person isn't available right now.",
    613: "Calls to this api have exceeded the rate limit.",
    4: "Application request limit reached",
    17: "User request limit reached",
    10: "This message is sent outside of allowed window.",
    190: "Invalid OAuth access token.",
    2: "An unexpected error has occurred. Please retry your request later.",
}


class GraphApi(MediaStore, RecordingApi):
    chat_key = "chat"
    content_key = "body"

    def __init__(self, platform="whatsapp", rate_limit=80, per_chat_interval=1.0, app_secret=APP_SECRET, delay=0.0):
        super().__init__(rate_limit, per_chat_interval, delay)
        self.platform = platform
        self.token, self.account_id = ACCOUNTS[platform]
        self.app_secret = app_secret
        self.templates = []
        self.page_size = 100
        self.ctl_reset()

    # -- control -------------------------------------------------------------------------
    def ctl_reset(self):
        with self.lock:
            self.sent = []  # accepted sends: chat, body (the JSON posted), id, at
            self.calls = []  # (method, path, query, JSON body) of every authorised call
            self.blocked = set()
            self.closed = set()  # people whose 24-hour window is closed
            self.scripts = []
            self.limits.reset()
            self._next_id = 1
            self.media_reset()

    def ctl_script(self, answers):
        with self.lock:
            self.scripts.extend(answers)

    def ctl_block(self, chat_ids):
        with self.lock:
            self.blocked.update(chat_ids)

    def ctl_close_window(self, chat_ids):
        with self.lock:
            self.closed.update(chat_ids)

    def ctl_templates(self, templates):
        with self.lock:
            self.templates = templates

    # -- protocol ------------------------------------------------------------------------
    @staticmethod
    def _error(code, subcode=None, status=400, message=None, details=None):
        error = {
            "message": f"(#{code}) {message or MESSAGES.get(code, 'Error')}",
            "type": "OAuthException",
            "code": code,
        }
        if subcode:
            error["error_subcode"] = subcode
        if details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        error["fbtrace_id"] = "AbCdEfGh"
        return status, {"error": error}

    def state(self):
        return {**super().state(), "uploads": self.uploads}

    def _file(self, path, headers):
        """The answer to a file's download, or None when the path is no file's."""
        if path.startswith("/cdn/") and self.platform != "whatsapp":  # signed addresses: no token
            name = path[len("/cdn/") :]
            return self.download(*CDN_FILES[name]) if name in CDN_FILES else (404, "Not Found")
        if path.startswith("/whatsapp-media/") and self.platform == "whatsapp":
            if headers.get("Authorization") != f"Bearer {self.token}":
                return self._error(190, status=401)
            media_id = path[len("/whatsapp-media/") :]
            return self.download(*WHATSAPP_MEDIA[media_id]) if media_id in WHATSAPP_MEDIA else (404, "Not Found")
        return None

    def _refused(self, query, headers):
        """The error answer to a call without the token or with a wrong proof, or None."""
        if headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(190, status=401)
        if "appsecret_proof" in query:
            proof = hmac.new(self.app_secret.encode(), self.token.encode(), hashlib.sha256).hexdigest()
            if not hmac.compare_digest(query["appsecret_proof"], proof):
                return self._error(100, message="Invalid appsecret_proof provided in the API argument")
        return None

    def handle(self, method, path, query, headers, body):
        answer = self._file(path, headers) or self._refused(query, headers)
        if answer:
            return answer
        prefix = f"/{VERSION}/"
        if not path.startswith(prefix):
            return 404, "Not Found"
        parts = path[len(prefix) :].split("/")
        files = {}
        if headers.get("Content-Type", "").startswith("multipart/form-data"):
            payload, files = parse_form(headers, body)
        else:
            payload = json.loads(body) if body else None
        with self.lock:
            self.calls.append(
                (method, "/".join(parts), {k: v for k, v in query.items() if k != "appsecret_proof"}, payload)
            )
        object_id = parts[0]
        if self.platform == "whatsapp" and object_id in WHATSAPP_MEDIA and method == "GET" and len(parts) == 1:
            return 200, self._media_info(object_id, headers)
        if object_id not in (self.account_id, WABA_ID if self.platform == "whatsapp" else None):
            return self._error(100, 33, message=f"Unsupported request. Object with ID '{object_id}' does not exist")
        edge = parts[1] if len(parts) > 1 else ""
        if edge == "messages" and method == "POST" and object_id == self.account_id:
            return self._send(payload or {})
        if edge in ("media", "message_attachments") and method == "POST" and object_id == self.account_id:
            return self._upload(edge, payload, files)
        if edge == "subscribed_apps":
            return 200, {"success": True}
        if edge == "message_templates" and method == "GET":
            return self._templates(query)
        if not edge and method == "GET":
            return 200, self._describe(object_id)
        return self._error(100, message="Unsupported request")

    @staticmethod
    def _media_info(media_id, headers):
        data, mimetype = WHATSAPP_MEDIA[media_id]
        return {
            "messaging_product": "whatsapp",
            "url": f"http://{headers['Host']}/whatsapp-media/{media_id}",
            "mime_type": mimetype,
            "sha256": hashlib.sha256(data).hexdigest(),
            "file_size": len(data),
            "id": media_id,
        }

    def _upload(self, edge, fields, files):
        """WhatsApp's media upload or the Attachment Upload API: the kind recorded is the
        platform's (WhatsApp: the file's MIME type, which the upload names; Meta: the
        attachment type)."""
        if edge == "media":
            file = files.get("file")
            if fields.get("messaging_product") != "whatsapp" or not file:
                return self._error(100, message="The parameter messaging_product and file are required")
            self.record_upload(fields.get("type") or file["mimetype"], file)
            with self.lock:
                self._next_id += 1
                return 200, {"id": f"{900000 + self._next_id}"}
        file = files.get("filedata")
        message = json.loads(fields.get("message") or "{}")
        kind = (message.get("attachment") or {}).get("type")
        if not file or kind not in ("image", "audio", "video", "file"):
            return self._error(100, message="Invalid attachment")
        if self.platform == "instagram" and fields.get("platform") != "instagram":
            return self._error(100, message="The platform parameter must be instagram")
        self.record_upload(kind, file)
        with self.lock:
            self._next_id += 1
            return 200, {"attachment_id": f"{700000 + self._next_id}"}

    def _describe(self, object_id):
        if self.platform == "whatsapp":
            if object_id == WABA_ID:
                return {"id": WABA_ID, "name": "Fake Shop WABA"}
            return {"id": object_id, "display_phone_number": "+1 555-010-0200", "verified_name": "Fake Shop"}
        if self.platform == "messenger":
            return {"id": object_id, "name": "Fake Shop", "username": "fakeshop"}
        return {"id": object_id, "username": "fake.shop"}

    def _templates(self, query):
        limit = min(int(query.get("limit") or 25), self.page_size)
        start = int(query.get("after") or 0)
        page = self.templates[start : start + limit]
        answer = {"data": page, "paging": {"cursors": {"before": str(start), "after": str(start + len(page))}}}
        if start + limit < len(self.templates):
            answer["paging"]["next"] = f"https://graph.facebook.com/{VERSION}/{WABA_ID}/message_templates?after=x"
        return 200, answer

    def _chat(self, payload):
        if self.platform == "whatsapp":
            return str(payload.get("to"))
        return str((payload.get("recipient") or {}).get("id"))

    def _send(self, payload):
        chat = self._chat(payload)
        now = time.monotonic()
        whatsapp = self.platform == "whatsapp"
        with self.lock:
            over = self.limits.check(chat, now)
            script = self.scripts.pop(0) if self.scripts else None
        if over:
            if whatsapp:
                return self._error(130429 if over == "rate" else 131056)
            return self._error(613)
        if script:
            kind = script[0]
            if kind == "error":  # ("error", code, subcode, http status)
                return self._error(
                    script[1], script[2] if len(script) > 2 else None, script[3] if len(script) > 3 else 400
                )
            if kind == "http":
                return script[1], "<html><body>Service Unavailable</body></html>"
        if chat in self.blocked:
            return self._error(131026) if whatsapp else self._error(551, 1545041)
        if chat in self.closed:
            if whatsapp and payload.get("type") != "template":
                return self._error(131047, details="Message failed to send because more than 24 hours have passed")
            if not whatsapp and payload.get("messaging_type") != "MESSAGE_TAG":
                return self._error(10, 2018278)
        with self.lock:
            message_id = f"wamid.HBgL{self._next_id:06d}" if whatsapp else f"m_{self._next_id:06d}"
            self._next_id += 1
            self.sent.append({"chat": chat, "body": payload, "id": message_id, "at": now})
        self.answer_late(script)
        if whatsapp:
            return 200, {
                "messaging_product": "whatsapp",
                "contacts": [{"input": chat, "wa_id": chat}],
                "messages": [{"id": message_id}],
            }
        return 200, {"recipient_id": chat, "message_id": message_id}


class FakeGraph(RecordingFake):
    """One platform of the fake Graph API: ``FakeGraph("whatsapp")`` and so on."""

    script_path = __file__

    def __init__(self, platform, rate_limit=80, per_chat_interval=1.0, delay=0.0):
        super().__init__(platform=platform, rate_limit=rate_limit, per_chat_interval=per_chat_interval, delay=delay)
        self.platform = platform
        self.token, self.account_id = ACCOUNTS[platform]
        self.app_secret = APP_SECRET
        self.waba_id = WABA_ID

    def cdn_url(self, name):
        """The address of a person's attachment on the fake CDN (Messenger, Instagram)."""
        return f"{self.url}/cdn/{name}"

    def close_window(self, *chat_ids):
        self.control("close_window", chat_ids=[str(c) for c in chat_ids])

    def set_templates(self, templates):
        self.control("templates", templates=templates)

    def bodies(self, chat_id=None):
        return [s["body"] for s in self.sent if chat_id is None or s["chat"] == str(chat_id)]

    def texts(self, chat_id=None):
        """The text of each accepted message, whatever its shape."""
        return [_text_of(body) for body in self.bodies(chat_id)]


def _text_of(body):
    if "message" in body:  # Messenger / Instagram
        message = body["message"]
        if "text" in message:
            return message["text"]
        payload = (message.get("attachment") or {}).get("payload") or {}
        return payload.get("text") or payload.get("url")
    kind = body.get("type")  # WhatsApp
    content = body.get(kind) or {}
    if kind == "text":
        return content["body"]
    if kind == "interactive":
        return content["body"]["text"]
    if kind == "template":
        return f"[template {content['name']}]"
    return content.get("caption")


if __name__ == "__main__":
    run(GraphApi)
