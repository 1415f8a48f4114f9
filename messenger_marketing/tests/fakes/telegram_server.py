"""A fake Telegram Bot API on 127.0.0.1 that behaves like the real one where it matters.

It runs in its own process (see ``server.py``) and enforces the Bot API limits (30
messages per second per bot, 1 per second per chat) by answering 429 with
``retry_after`` and counting each violation (``rate_limit=0``: no limit, for measuring
the dispatcher's own ceiling). It can be told to answer 429, 403 (blocked), 400, 500 or
slowly for chosen requests, to answer every send after ``delay`` seconds, and to answer
500 to everything for a while (an outage). Everything it receives is recorded for the
tests to inspect.

Files go as the Bot API has them: ``getFile`` gives a file's path, downloaded from
``/file/bot<token>/<path>``; it refuses files over 20 MB ("file is too big"). It holds a
person's photo (``PHOTO_ID``) and voice note (``VOICE_ID``), takes uploads to
sendPhoto, sendDocument, sendAudio, sendVoice and sendVideo, and records them.
"""

import collections
import json
import time
import urllib.parse

try:
    from .server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run
except ImportError:  # run as a script, in the fake's own process
    from server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run

TOKEN = "123456:TEST-TOKEN"
PHOTO_ID = "AgACAgIAAxkBAAIBphoto"
VOICE_ID = "AwACAgIAAxkBAAIBvoice"
BIG_ID = "BQACAgIAAxkBAAIBbig"  # a 25 MB document: over what a bot may download
FILES = {  # file_id: (path, data, size)
    PHOTO_ID: ("photos/file_0.jpg", PHOTO, len(PHOTO)),
    VOICE_ID: ("voice/file_1.oga", VOICE, len(VOICE)),
    BIG_ID: ("documents/file_2.zip", b"", 25 * 1024 * 1024),
}
DOWNLOAD_LIMIT = 20 * 1024 * 1024
# the upload methods and the parameter holding the file
UPLOADS = {
    "sendPhoto": "photo",
    "sendDocument": "document",
    "sendAudio": "audio",
    "sendVoice": "voice",
    "sendVideo": "video",
}


class TelegramApi(MediaStore, RecordingApi):
    chat_key = "chat_id"
    content_key = "text"

    def __init__(self, token=TOKEN, rate_limit=30, per_chat_interval=1.0, delay=0.0):
        super().__init__(rate_limit, per_chat_interval, delay)
        self.token = token
        self.blocked = set()  # chat ids that blocked the bot
        self.ctl_reset()

    # -- control -------------------------------------------------------------------------
    def ctl_reset(self):
        with self.lock:
            self.sent = []  # accepted sends: dicts with chat_id, text, photo, reply_markup, at
            self.calls = []  # (method, params) of every authorised call
            self.limits.reset()
            self.blocked.clear()
            self.failing_until = 0.0  # monotonic time until which every send gets a 500
            self.scripts = collections.deque()  # forced answers for the next sends
            self._next_id = 1
            self.media_reset()

    def ctl_script(self, answers):
        with self.lock:
            self.scripts.extend(tuple(a) for a in answers)

    def ctl_block(self, chat_ids):
        with self.lock:
            self.blocked.update(str(c) for c in chat_ids)

    def ctl_unblock_all(self):
        with self.lock:
            self.blocked.clear()

    def ctl_fail(self, seconds):
        """Answer 500 to every send for the next ``seconds``."""
        with self.lock:
            self.failing_until = time.monotonic() + seconds

    def state(self):
        return {**super().state(), "blocked": sorted(self.blocked), "uploads": self.uploads}

    # -- protocol ------------------------------------------------------------------------
    @staticmethod
    def _params(headers, body):
        """The call's parameters, and the files of a multipart call by parameter name."""
        ctype = headers.get("Content-Type", "")
        if "json" in ctype:
            return json.loads(body or b"{}"), {}
        files = {}
        if ctype.startswith("multipart/form-data"):
            params, attached = parse_form(headers, body)
            for name, file in attached.items():
                files[name] = file
            # a parameter may name its file: "attach://<part>"
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://") and value[9:] in attached:
                    files[key] = attached[value[9:]]
        else:
            params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        for key in ("reply_markup", "allowed_updates"):
            if key in params:
                params[key] = json.loads(params[key])
        return params, files

    @staticmethod
    def _error(status, description, **extra):
        return status, {"ok": False, "error_code": status, "description": description, **extra}

    def handle(self, method, path, query, headers, body):
        path = urllib.parse.unquote(path)  # the client quotes the file's address (the token's colon)
        if path.startswith(f"/file/bot{self.token}/"):
            return self._download(path[len(f"/file/bot{self.token}/") :])
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return self._error(401, "Unauthorized")
        name = path[len(prefix) :]
        params, files = self._params(headers, body)
        with self.lock:
            self.calls.append((name, params))
        if name == "getMe":
            bot = {"id": 123456, "is_bot": True, "first_name": "Fake", "username": "fake_shop_bot"}
            return 200, {"ok": True, "result": bot}
        if name in ("setWebhook", "deleteWebhook", "answerCallbackQuery"):
            return 200, {"ok": True, "result": True}
        if name == "getFile":
            return self._get_file(str(params.get("file_id")))
        if name != "sendMessage" and name not in UPLOADS:
            return self._error(404, "Not Found: method not found")
        file = files.get(UPLOADS.get(name))
        if name != "sendMessage" and not file and not str(params.get(UPLOADS[name]) or "").startswith("http"):
            return self._error(400, f"Bad Request: there is no {UPLOADS[name]} in the request")
        return self._send_message(params, name, file)

    def _get_file(self, file_id):
        if file_id not in FILES:
            return self._error(400, "Bad Request: invalid file_id")
        path, _data, size = FILES[file_id]
        if size > DOWNLOAD_LIMIT:
            return self._error(400, "Bad Request: file is too big")
        result = {"file_id": file_id, "file_unique_id": f"u-{file_id[-5:]}", "file_size": size, "file_path": path}
        return 200, {"ok": True, "result": result}

    def _download(self, path):
        for file_path, data, _size in FILES.values():
            if file_path == path:
                return self.download(data, "application/octet-stream")
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _scripted(self, script):
        """The forced answer of a script entry; None to go through (after a delay)."""
        kind = script[0]
        if kind == "429":
            return self._error(
                429, f"Too Many Requests: retry after {script[1]}", parameters={"retry_after": script[1]}
            )
        if kind == "500":
            return self._error(500, "Internal Server Error")
        if kind == "403":
            return self._error(403, "Forbidden: bot was blocked by the user")
        if kind == "400":
            return self._error(400, f"Bad Request: {script[1]}")
        if kind == "slow":
            time.sleep(script[1])  # then it goes through, like a late answer of the real API
        return None

    def _send_message(self, params, method="sendMessage", file=None):
        chat_id = str(params.get("chat_id"))
        now = time.monotonic()
        with self.lock:
            over = self.limits.check(chat_id, now)  # every request counts, answered or not
            script = self.scripts.popleft() if self.scripts else None
            failing = now < self.failing_until
        if over:
            return self._error(429, "Too Many Requests: retry after 1", parameters={"retry_after": 1})
        if failing:
            return self._error(500, "Internal Server Error")
        if self.delay:
            time.sleep(self.delay)  # then it goes through, even if the client has gone
        if script:
            answer = self._scripted(script)
            if answer:
                return answer
        if chat_id in self.blocked:
            return self._error(403, "Forbidden: bot was blocked by the user")
        if not chat_id.lstrip("-").isdigit():
            return self._error(400, "Bad Request: chat not found")
        if file:
            self.record_upload(UPLOADS[method], file)
        with self.lock:
            message_id = self._next_id
            self._next_id += 1
            self.sent.append(
                {
                    "chat_id": chat_id,
                    "method": method,
                    "file": file and file["filename"],
                    "text": params.get("text") or params.get("caption"),
                    "photo": None if file else params.get("photo"),
                    "reply_markup": params.get("reply_markup"),
                    "parse_mode": params.get("parse_mode"),
                    "at": now,
                }
            )
        result = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat_id), "type": "private"},
            "text": params.get("text"),
        }
        return 200, {"ok": True, "result": result}


class _Blocked:
    """``fake.blocked.add(chat_id)`` and friends, forwarded to the fake's process."""

    def __init__(self, fake):
        self.fake = fake

    def add(self, chat_id):
        self.fake.control("block", chat_ids=[chat_id])

    def update(self, chat_ids):
        self.fake.control("block", chat_ids=list(chat_ids))

    def clear(self):
        self.fake.control("unblock_all")

    def __contains__(self, chat_id):
        return str(chat_id) in self.fake.state()["blocked"]


class FakeTelegram(RecordingFake):
    script_path = __file__

    def __init__(self, token=TOKEN, rate_limit=30, per_chat_interval=1.0, delay=0.0):
        super().__init__(token=token, rate_limit=rate_limit, per_chat_interval=per_chat_interval, delay=delay)
        self.token = token
        self.blocked = _Blocked(self)

    def script(self, *answers):
        """Force the answers of the next sends, in order: ``("429", seconds)``, ``("500",)``,
        ``("403",)``, ``("400", description)``, ``("slow", seconds)``."""
        super().script(*answers)

    def fail(self, seconds):
        """Answer 500 to every send for the next ``seconds``."""
        self.control("fail", seconds=seconds)

    @property
    def rate_limit(self):
        return self.state()["rate_limit"]

    @rate_limit.setter
    def rate_limit(self, value):
        self.control("set", rate_limit=value)

    def texts(self, chat_id=None):
        return [s["text"] for s in self.sent if chat_id is None or s["chat_id"] == str(chat_id)]


if __name__ == "__main__":
    run(TelegramApi)
