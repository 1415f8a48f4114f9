"""A fake MAX Bot API on 127.0.0.1, in a process of its own (see ``server.py``).

It speaks the Bot API as dev.max.ru documents it: the token in the ``Authorization``
header (401 ``verify.token`` otherwise), ``GET /me``, subscriptions, ``POST /messages``
with inline keyboards and attachments, ``POST /answers`` for button presses, and uploads in
two steps (``POST /uploads?type=…`` gives an address on the fake, the file goes there as
``multipart/form-data`` field ``data``, the answer's token is what a message attaches; a
message naming a token that was never uploaded is refused). It enforces 30 requests a
second on the API (429 with ``Retry-After``), counting each violation (MAX documents no
limit per person: ``per_chat_interval`` is 0 unless a test sets one); answers 403 for
people who stopped the bot, 400 to a text over 4000 characters, and any scripted error;
and serves files that a person "sent" (``put_file``) for ``fetch_media``. It records what
it receives.
"""

import collections
import email.parser
import email.policy
import json
import time

try:
    from .server import RecordingApi, RecordingFake, run
except ImportError:  # run as a script, in the fake's own process
    from server import RecordingApi, RecordingFake, run

TOKEN = "max-bot-token-FAKE"
BOT = {"user_id": 5550001, "first_name": "Fake Shop", "username": "fake_shop_bot", "is_bot": True}
UPLOAD_TYPES = {"image", "video", "audio", "file"}


def _form_file(headers, body):
    """The ``data`` part of a multipart/form-data body: (filename, content type, bytes)."""
    head = f"Content-Type: {headers.get('Content-Type', '')}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "data":
            return part.get_filename() or "", part.get_content_type(), part.get_payload(decode=True)
    return None


class MaxApi(RecordingApi):
    chat_key = "user_id"
    content_key = "text"

    def __init__(self, token=TOKEN, rate_limit=30, per_chat_interval=0.0, delay=0.0):
        super().__init__(rate_limit, per_chat_interval, delay)
        self.token = token
        self.ctl_reset()

    # -- control -------------------------------------------------------------------------
    def ctl_reset(self):
        with self.lock:
            self.sent = []  # accepted messages: user_id, text, format, attachments, mid, at
            self.calls = []  # (method, path, query, body) of every authorised call
            self.answers = []  # button presses answered: callback_id, body
            self.answer_delay = 0.0  # seconds before a button press's answer is taken
            self.uploads = {}  # upload number -> {type, token, filename, mimetype, size, head}
            self.subscriptions = []
            self.files = {}  # path -> (content type, bytes): what people "sent"
            self.blocked = set()
            self.scripts = collections.deque()
            self.limits.reset()
            self._next = 1

    def ctl_script(self, answers):
        with self.lock:
            self.scripts.extend(tuple(a) for a in answers)

    def ctl_block(self, chat_ids):
        with self.lock:
            self.blocked.update(str(c) for c in chat_ids)

    def ctl_put_file(self, path, content_type, text):
        with self.lock:
            self.files[path] = (content_type, text.encode())

    def state(self):
        return {
            **super().state(),
            "answers": self.answers,
            "uploads": list(self.uploads.values()),
            "subscriptions": self.subscriptions,
            "blocked": sorted(self.blocked),
        }

    # -- protocol ------------------------------------------------------------------------
    @staticmethod
    def _error(status, code, message, headers=None):
        return status, {"code": code, "message": message}, headers or {}

    def _id(self):
        self._next += 1
        return self._next

    def handle(self, method, path, query, headers, body):
        if path.startswith("/files/"):  # a CDN: no token
            with self.lock:
                found = self.files.get(path)
            return (200, (found[1], found[0])) if found else (404, "Not Found")
        if headers.get("Authorization") != self.token:
            return self._error(401, "verify.token", "Invalid access_token")
        if path.startswith("/upload/"):  # the upload host
            return self._receive_upload(path, headers, body)
        payload = json.loads(body) if body and "json" in headers.get("Content-Type", "") else None
        now = time.monotonic()
        with self.lock:
            self.calls.append((method, path, query, payload))
            # every API request counts against the platform's 30 per second; the interval
            # per person, only between messages to them
            person = query.get("user_id") or query.get("chat_id")
            chat = person if path == "/messages" and person else f"call-{self._id()}"
            over = self.limits.check(chat, now)
            if over:
                return self._error(429, "too.many.requests", "Too many requests", {"Retry-After": "1"})
            script = self.scripts.popleft() if self.scripts and path == "/messages" else None
        if method == "GET" and path == "/me":
            return 200, BOT
        if path == "/subscriptions":
            return self._subscriptions(method, query, payload)
        if method == "POST" and path == "/uploads":
            kind = query.get("type")
            if kind not in UPLOAD_TYPES:
                return self._error(400, "proto.payload", f"Unknown upload type {kind}")
            with self.lock:
                number = self._id()
                token = f"{kind}-token-{number}"
                self.uploads[number] = {"type": kind, "token": token, "uploaded": False}
            host = headers.get("Host", "127.0.0.1")
            endpoint = {"url": f"http://{host}/upload/{number}?type={kind}"}
            if kind in ("video", "audio"):  # their token comes now, the others' with the upload
                endpoint["token"] = token
            return 200, endpoint
        if method == "POST" and path == "/answers":
            if not query.get("callback_id"):
                return self._error(400, "proto.payload", "callback_id is required")
            time.sleep(self.answer_delay)  # the call is in self.calls already
            with self.lock:
                self.answers.append({"callback_id": query["callback_id"], "body": payload})
            return 200, {"success": True}
        if method == "POST" and path == "/messages":
            return self._send(query, payload, script, now)
        return self._error(404, "not.found", f"{method} {path}")

    def _subscriptions(self, method, query, payload):
        with self.lock:
            if method == "GET":
                return 200, {"subscriptions": list(self.subscriptions)}
            if method == "POST":
                url = (payload or {}).get("url", "")
                if not url.startswith("https://"):
                    return 200, {"success": False, "message": "url must be https"}
                self.subscriptions = [s for s in self.subscriptions if s["url"] != url]
                self.subscriptions.append({**payload, "time": int(time.time() * 1000)})
                return 200, {"success": True}
            if method == "DELETE":
                self.subscriptions = [s for s in self.subscriptions if s["url"] != query.get("url")]
                return 200, {"success": True}
        return self._error(405, "method.not.allowed", method)

    def _receive_upload(self, path, headers, body):
        number = int(path.rsplit("/", 1)[1])
        part = _form_file(headers, body)
        with self.lock:
            upload = self.uploads.get(number)
            if not upload or upload["uploaded"] or not part:
                return 400, {"error": "one file per upload address, as field data"}
            filename, mimetype, data = part
            upload.update(uploaded=True, filename=filename, mimetype=mimetype, size=len(data), head=data[:8].hex())
            if upload["type"] == "image":
                return 200, {"photos": {f"hash{number}": {"token": upload["token"]}}}
            if upload["type"] == "file":
                return 200, {"token": upload["token"], "fileId": number}
            return 200, {"retval": "ok"}

    def _known(self, attachment):
        payload = attachment.get("payload") or {}
        tokens = [p["token"] for p in (payload.get("photos") or {}).values()] or [payload.get("token")]
        if attachment.get("type") == "image" and payload.get("url"):
            return True
        uploaded = {u["token"] for u in self.uploads.values() if u["uploaded"] or u["type"] in ("video", "audio")}
        return all(t in uploaded for t in tokens)

    def _send(self, query, payload, script, now):
        # a person by user_id (positive), a group chat by chat_id (negative, as MAX's)
        user, chat = str(query.get("user_id") or ""), str(query.get("chat_id") or "")
        payload = payload or {}
        text = payload.get("text") or ""
        attachments = payload.get("attachments") or []
        if script:
            kind = script[0]
            if kind == "error":
                return self._error(script[1], script[2] if len(script) > 2 else "internal.error", "scripted")
            if kind == "http":
                return script[1], "<html>Bad Gateway</html>"
        with self.lock:
            if not (user or chat):
                return self._error(400, "proto.payload", "user_id or chat_id is required")
            if user.startswith("-"):  # a group chat's id is no user's
                return self._error(404, "not.found", f"User {user} not found")
            if user in self.blocked:
                return self._error(403, "chat.denied", "error.dialog.suspended")
            if len(text) > 4000:
                return self._error(400, "proto.payload", "text: size must be between 0 and 4000")
            media = [a for a in attachments if a.get("type") != "inline_keyboard"]
            if not all(self._known(a) for a in media):
                return self._error(400, "attachment.not.ready", "errors.process.attachment.file.not.processed")
            if len(media) > 1 and any(a["type"] in ("file", "audio") for a in media):
                return self._error(400, "proto.payload", "a file or an audio must be the only attachment")
            mid = f"mid.{self._id():016x}"
            self.sent.append(
                {
                    "user_id": user,
                    "chat_id": chat,
                    "text": text,
                    "format": payload.get("format"),
                    "attachments": attachments,
                    "mid": mid,
                    "at": now,
                }
            )
        self.answer_late(script)
        message = {
            "sender": BOT,
            "recipient": (
                {"chat_id": int(user) + 1, "chat_type": "dialog", "user_id": int(user)}
                if user
                else {"chat_id": int(chat), "chat_type": "chat"}
            ),
            "timestamp": int(time.time() * 1000),
            "body": {"mid": mid, "seq": 1, "text": text, "attachments": attachments},
        }
        return 200, {"message": message}


class FakeMax(RecordingFake):
    script_path = __file__

    def __init__(self, rate_limit=30, per_chat_interval=0.0, delay=0.0):
        super().__init__(token=TOKEN, rate_limit=rate_limit, per_chat_interval=per_chat_interval, delay=delay)
        self.token = TOKEN

    def texts(self, chat_id=None):
        return [s["text"] for s in self.sent if chat_id is None or str(chat_id) in (s["user_id"], s["chat_id"])]

    def put_file(self, path, content_type, text):
        self.control("put_file", path=path, content_type=content_type, text=text)


if __name__ == "__main__":
    run(MaxApi)
