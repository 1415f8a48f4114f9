"""A fake VK API on 127.0.0.1, for community tokens, in a process of its own.

It speaks VK's method protocol (``POST /method/<name>``, form-encoded, answers
``{"response": …}`` or ``{"error": {"error_code", "error_msg", "request_params"}}``),
enforces the community limits (20 requests per second: error 6; one message per
``per_chat_interval`` to a person: error 9, flood control), deduplicates
``messages.send`` by ``random_id`` per person as VK does, answers 901 for people who did
not allow the community's messages, and can be told to answer any error code, an HTTP
error or slowly, or every send after ``delay`` seconds. It records what it receives.

Files go as VK has them: a person's photo and voice message come with the direct
addresses of their files (``/media/photo.jpg``, ``/media/voice.ogg``: ``FakeVk.media_url``);
uploads go through an upload address that photos.getMessagesUploadServer or
docs.getMessagesUploadServer gives, and are saved with photos.saveMessagesPhoto or
docs.save, whose answer names the attachment for messages.send.
"""

import json
import time
import urllib.parse

try:
    from .server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run
except ImportError:  # run as a script, in the fake's own process
    from server import PHOTO, VOICE, MediaStore, RecordingApi, RecordingFake, parse_form, run

TOKEN = "vk1.a.community-token"
GROUP_ID = "210000001"
CONFIRMATION_CODE = "c0nf1rm3d"
MEDIA = {"photo.jpg": (PHOTO, "image/jpeg"), "voice.ogg": (VOICE, "audio/ogg")}  # a person's files
ERROR_MESSAGES = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    9: "Flood control",
    10: "Internal server error",
    29: "Rate limit reached",
    100: "One of the parameters specified was missing or invalid",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    914: "Message is too long",
}


class VkApi(MediaStore, RecordingApi):
    chat_key = "peer_id"
    content_key = "text"

    def __init__(self, token=TOKEN, group_id=GROUP_ID, rate_limit=20, per_chat_interval=1.0, delay=0.0):
        super().__init__(rate_limit, per_chat_interval, delay)
        self.token = token
        self.group_id = group_id
        self.ctl_reset()

    # -- control -------------------------------------------------------------------------
    def ctl_reset(self):
        with self.lock:
            self.sent = []  # delivered messages: peer_id, text, keyboard, random_id, id, at
            self.calls = []  # (method, params without the token) of every authorised call
            self.blocked = set()  # people who did not allow the community's messages
            self.scripts = []
            self.limits.reset()
            self._by_random_id = {}
            self._next_id = 1
            self.media_reset()
            self.posted = {}  # what an upload server handed back: its token -> (kind, upload)
            self.saved = []  # attachments saved, as messages.send takes them

    def ctl_script(self, answers):
        with self.lock:
            self.scripts.extend(answers)

    def ctl_block(self, chat_ids):
        with self.lock:
            self.blocked.update(chat_ids)

    def state(self):
        return {**super().state(), "uploads": self.uploads, "saved": self.saved}

    # -- protocol ------------------------------------------------------------------------
    @staticmethod
    def _error(code, params, text=None):
        request_params = [{"key": k, "value": str(v)} for k, v in params.items()]
        return 200, {
            "error": {
                "error_code": code,
                "error_msg": text or ERROR_MESSAGES.get(code, "Error"),
                "request_params": request_params,
            }
        }

    def _file(self, method, path, headers, body):
        """The answer to a file's download or upload, or None when the path is a method's."""
        if method == "GET" and path.startswith("/media/"):
            name = path[len("/media/") :]
            return self.download(*MEDIA[name]) if name in MEDIA else (404, "Not Found")
        if method == "POST" and path.startswith("/upload/"):
            return self._receive(path[len("/upload/") :], headers, body)
        return None

    def handle(self, method, path, query, headers, body):
        answer = self._file(method, path, headers, body)
        if answer:
            return answer
        if method != "POST" or not path.startswith("/method/"):
            return 404, "Not Found"
        name = path[len("/method/") :]
        params = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        params.update(query)
        token = params.pop("access_token", "")
        if token != self.token:
            return self._error(5, params)
        with self.lock:
            self.calls.append((name, params))
        if name == "messages.send":
            return self._send(params)
        if name in ("photos.getMessagesUploadServer", "docs.getMessagesUploadServer"):
            return self._upload_server(name, params, headers)
        if name in ("photos.saveMessagesPhoto", "docs.save"):
            return self._save(name, params)
        if name == "messages.sendMessageEventAnswer":
            return 200, {"response": 1}
        if name == "groups.getById":
            if str(params.get("group_id")) != self.group_id:
                return self._error(100, params, "One of the parameters specified was missing or invalid: group_id")
            group = {"id": int(self.group_id), "name": "Fake Shop", "screen_name": "fake_shop", "type": "group"}
            return 200, {"response": {"groups": [group], "profiles": []}}
        if name == "groups.getCallbackConfirmationCode":
            return 200, {"response": {"code": CONFIRMATION_CODE}}
        if name == "groups.addCallbackServer":
            return 200, {"response": {"server_id": 7}}
        if name in ("groups.setCallbackSettings", "groups.deleteCallbackServer"):
            return 200, {"response": 1}
        return self._error(3, params, "Unknown method passed")

    def _upload_server(self, name, params, headers):
        if name == "photos.getMessagesUploadServer":
            url = f"http://{headers['Host']}/upload/photo"
            return 200, {"response": {"upload_url": url, "album_id": -64, "group_id": int(self.group_id)}}
        doc_type = params.get("type") or "doc"
        if doc_type not in ("doc", "audio_message"):
            return self._error(100, params, "One of the parameters specified was missing or invalid: type")
        return 200, {"response": {"upload_url": f"http://{headers['Host']}/upload/{doc_type}"}}

    def _receive(self, kind, headers, body):
        """An upload server: takes the file in its field (photo: "photo", others: "file")."""
        _fields, files = parse_form(headers, body)
        file = files.get("photo" if kind == "photo" else "file")
        if kind not in ("photo", "doc", "audio_message") or not file:
            return 200, {"error": "ERR_UPLOAD_FILE_NOT_UPLOADED: no file"}
        self.record_upload(kind, file)
        with self.lock:
            token = f"upload-{len(self.posted) + 1}"
            self.posted[token] = (kind, file["filename"])
        if kind == "photo":
            return 200, {"server": 845, "photo": json.dumps([{"photo": token}]), "hash": f"hash-{token}"}
        return 200, {"file": token}

    def _save(self, name, params):
        """Save an upload: only what an upload server handed back, once."""
        if name == "photos.saveMessagesPhoto":
            token = json.loads(params.get("photo") or "[{}]")[0].get("photo")
            valid = params.get("hash") == f"hash-{token}" and params.get("server") == "845"
        else:
            token = params.get("file")
            valid = True
        with self.lock:
            kind, filename = self.posted.pop(token, (None, None)) if valid else (None, None)
            if kind is None:
                return self._error(100, params, "One of the parameters specified was missing or invalid: file")
            item_id = 456239000 + len(self.saved)
            owner = -int(self.group_id)
            if kind == "photo":
                attachment = f"photo{owner}_{item_id}_ak{item_id}"
                answer = [{"id": item_id, "owner_id": owner, "access_key": f"ak{item_id}", "sizes": []}]
            else:
                attachment = f"doc{owner}_{item_id}"
                doc = {"id": item_id, "owner_id": owner, "title": params.get("title") or filename}
                answer = {"type": kind, kind: doc}
            self.saved.append(attachment)
        return 200, {"response": answer}

    def _carousel_ok(self, template, params):
        """VK's rules for a carousel: a text with it, 1 to 10 elements shaped as the first,
        titles and descriptions of at most 80 characters, at most 3 buttons, photos saved."""
        elements = template.get("elements") or []
        if template.get("type") != "carousel" or not params.get("message") or not 1 <= len(elements) <= 10:
            return False
        shape = (set(elements[0]), len(elements[0].get("buttons", [])))
        return all(
            (set(e), len(e.get("buttons", []))) == shape
            and "buttons" in e
            and len(e["buttons"]) <= 3
            and (e.get("title") or e.get("photo_id"))
            and all(len(e.get(k) or "") <= 80 for k in ("title", "description"))
            and (not e.get("photo_id") or any(s.startswith(f"photo{e['photo_id']}") for s in self.saved))
            for e in elements
        )

    def _send(self, params):
        peer = str(params.get("peer_id"))
        now = time.monotonic()
        with self.lock:
            over = self.limits.check(peer, now)
            script = self.scripts.pop(0) if self.scripts else None
            if over == "rate":
                return self._error(6, params)
            if over == "chat":
                return self._error(9, params)
            if script:
                kind = script[0]
                if kind == "error":
                    return self._error(script[1], params)
                if kind == "http":
                    return script[1], "<html>Bad Gateway</html>"
            if peer in self.blocked:
                return self._error(901, params)
            if len(params.get("message") or "") > 4096:
                return self._error(914, params)
            template = json.loads(params["template"]) if params.get("template") else None
            if template and not self._carousel_ok(template, params):
                return self._error(100, params, "One of the parameters specified was missing or invalid: template")
            # VK delivers one message per person and random_id
            key = (peer, params.get("random_id"))
            if key in self._by_random_id:
                return 200, {"response": self._by_random_id[key]}
            message_id = self._next_id
            self._next_id += 1
            self._by_random_id[key] = message_id
            keyboard = json.loads(params["keyboard"]) if params.get("keyboard") else None
            self.sent.append(
                {
                    "peer_id": peer,
                    "text": params.get("message"),
                    "keyboard": keyboard,
                    "attachment": params.get("attachment"),
                    "template": template,
                    "random_id": params.get("random_id"),
                    "id": message_id,
                    "at": now,
                }
            )
        self.answer_late(script)
        return 200, {"response": message_id}


class FakeVk(RecordingFake):
    script_path = __file__

    def __init__(self, rate_limit=20, per_chat_interval=1.0, delay=0.0):
        super().__init__(
            token=TOKEN, group_id=GROUP_ID, rate_limit=rate_limit, per_chat_interval=per_chat_interval, delay=delay
        )
        self.token = TOKEN
        self.group_id = GROUP_ID

    def texts(self, chat_id=None):
        return [s["text"] for s in self.sent if chat_id is None or s["peer_id"] == str(chat_id)]

    def media_url(self, name):
        """The direct address of a person's file (``photo.jpg``, ``voice.ogg``), as VK gives it."""
        return f"{self.url}/media/{name}"


if __name__ == "__main__":
    run(VkApi)
