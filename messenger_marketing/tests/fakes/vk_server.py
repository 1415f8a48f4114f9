"""A fake VK API on 127.0.0.1, for community tokens, in a process of its own.

It speaks VK's method protocol (``POST /method/<name>``, form-encoded, answers
``{"response": …}`` or ``{"error": {"error_code", "error_msg", "request_params"}}``),
enforces the community limits (20 requests per second: error 6; one message per
``per_chat_interval`` to a person: error 9, flood control), deduplicates
``messages.send`` by ``random_id`` per person as VK does, answers 901 for people who did
not allow the community's messages, and can be told to answer any error code, an HTTP
error or slowly, or every send after ``delay`` seconds. It records what it receives.
"""

import json
import time
import urllib.parse

try:
    from .server import RecordingApi, RecordingFake, run
except ImportError:  # run as a script, in the fake's own process
    from server import RecordingApi, RecordingFake, run

TOKEN = "vk1.a.community-token"
GROUP_ID = "210000001"
CONFIRMATION_CODE = "c0nf1rm3d"
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


class VkApi(RecordingApi):
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

    def ctl_script(self, answers):
        with self.lock:
            self.scripts.extend(answers)

    def ctl_block(self, chat_ids):
        with self.lock:
            self.blocked.update(chat_ids)

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

    def handle(self, method, path, query, headers, body):
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


if __name__ == "__main__":
    run(VkApi)
