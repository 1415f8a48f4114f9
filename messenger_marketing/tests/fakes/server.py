"""Fake provider APIs that run in a process of their own, as the real ones do.

A fake runs outside the Odoo process so that its clock and its rate-limit accounting are
not held up by Odoo's work on the GIL: it sees requests when they arrive, as the provider
would. The test talks to it through a small control API on the same port
(``/__fake__/…``) via ``FakeProcess``. This module imports nothing from Odoo.

A fake is a subclass of ``FakeApi`` in a standalone file that ends with
``if __name__ == "__main__": run(TheApi)``; the test side subclasses ``FakeProcess``
and names that file.

Every fake can also go down for a while (``FakeProcess.refuse``): it closes its listening
socket and every open connection, so clients get "connection refused" as from a provider
that is down, then listens again on the same port.
"""

import collections
import contextlib
import email.parser
import email.policy
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_PREFIX = "/__fake__/"

# The files every fake hands over as a person's photo and voice note (the first bytes
# are each format's signature, the rest stands for the picture and the sound)
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"
VOICE = b"OggS\x00\x02" + bytes(range(255, -1, -1)) * 12


def parse_form(headers, body):
    """A multipart/form-data body as {name: text} and {name: file}, a file being a dict
    with filename, mimetype, size and data, as the platform sees an upload."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + headers.get("Content-Type", "").encode() + b"\r\n\r\n" + body
    )
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode()
        else:
            files[name] = {"filename": filename, "mimetype": part.get_content_type(), "size": len(data), "data": data}
    return fields, files


class MediaStore:
    """What a fake keeps of files: the uploads it accepted (kind, filename, mimetype and
    size, in order) and the download failures it was told to answer (``ctl_fail_downloads``).
    Call ``media_reset`` from the fake's reset, under its lock."""

    def media_reset(self):
        self.uploads = []
        self.download_failures = collections.deque()  # HTTP statuses for the next downloads

    def ctl_fail_downloads(self, statuses):
        with self.lock:
            self.download_failures.extend(statuses)

    def record_upload(self, kind, file):
        with self.lock:
            self.uploads.append({k: file[k] for k in ("filename", "mimetype", "size")} | {"kind": kind})

    def download(self, data, mimetype):
        """The answer to a file download: the file, or the next failure it was told."""
        with self.lock:
            failure = self.download_failures.popleft() if self.download_failures else None
        if failure:
            return failure, {"error": {"code": failure, "message": "download failed"}}
        return 200, (data, mimetype)


class FakeApi:
    """The fake provider's state and behaviour, inside its own process.

    ``handle`` answers API requests; methods named ``ctl_<name>`` are the control
    commands; ``state`` is what the test reads."""

    def __init__(self, **options):
        self.lock = threading.Lock()
        self.options = options

    def handle(self, method, path, query, headers, body):
        """Return (status, payload) or (status, payload, headers); a dict payload is sent as JSON,
        bytes or str as is."""
        raise NotImplementedError

    def state(self):
        raise NotImplementedError


class RecordingApi(FakeApi):
    """A fake that records each accepted send in ``sent`` (a dict with the person under
    ``chat_key``, what was sent under ``content_key`` and the monotonic time ``at``), each
    authorised call in ``calls``, and enforces the provider's limits (``self.limits``)."""

    chat_key = "chat"
    content_key = "body"

    def __init__(self, rate_limit, per_chat_interval, delay=0.0):
        super().__init__()
        self.limits = RateLimits(rate_limit, per_chat_interval)
        self.delay = delay  # seconds before every accepted send is answered

    def answer_late(self, script):
        """Before answering an accepted send: a scripted ``("slow", seconds)`` or the fake's
        ``delay``. The send went through already, even if the client gives up waiting."""
        if script and script[0] == "slow":
            time.sleep(script[1])
        elif self.delay:
            time.sleep(self.delay)

    def ctl_set(self, **values):
        with self.lock:
            for key, value in values.items():
                setattr(self.limits if key in ("rate_limit", "per_chat_interval") else self, key, value)

    def state(self):
        return {"sent": self.sent, "calls": self.calls, **self.limits.state()}

    def ctl_stats(self):
        """Counts and times only: cheap to fetch after thousands of sends."""
        with self.lock:
            times = sorted(s["at"] for s in self.sent)
            pairs = collections.Counter(
                (s[self.chat_key], json.dumps(s[self.content_key], sort_keys=True)) for s in self.sent
            )
            return {
                "sent": len(self.sent),
                "requests": len(self.limits.requests),
                "violations": self.limits.violations,
                "violations_by_limit": dict(collections.Counter(kind for kind, _c, _t in self.limits.violation_log)),
                "first_at": min(times, default=None),
                "last_at": max(times, default=None),
                # the middle 90 % of the sends, without a run's start and its tail
                "p05_at": times[len(times) // 20] if times else None,
                "p95_at": times[len(times) * 19 // 20] if times else None,
                "duplicates": sum(n - 1 for n in pairs.values()),
            }


class RateLimits:
    """A provider's sending limits as a fake enforces them: at most ``rate_limit`` requests
    in any second (0: no limit), and ``per_chat_interval`` seconds between two requests to one chat.
    Every request counts, answered or not; each one over a limit is a violation the test
    can assert on. Call ``check`` under the fake's lock."""

    def __init__(self, rate_limit, per_chat_interval):
        self.rate_limit = rate_limit
        self.per_chat_interval = per_chat_interval
        self.reset()

    def reset(self):
        self.requests = []  # (chat id, monotonic time) of every send request
        self.violations = 0
        self.violation_log = []  # (which limit, chat id, time)
        self._recent = collections.deque()
        self._chat_last = {}

    def check(self, chat_id, now):
        """Record a send request; return "rate" or "chat" when it breaks that limit."""
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        over = None
        if self.rate_limit and len(self._recent) >= self.rate_limit:
            over = "rate"
        else:
            last = self._chat_last.get(chat_id)
            if last is not None and now - last < self.per_chat_interval:
                over = "chat"
        self._recent.append(now)
        self._chat_last[chat_id] = now
        self.requests.append((chat_id, now))
        if over:
            self.violations += 1
            self.violation_log.append((over, chat_id, now))
        return over

    def state(self):
        return {
            "requests": self.requests,
            "violations": self.violations,
            "violation_log": self.violation_log,
            "rate_limit": self.rate_limit,
        }


def run(api_class):
    """Entry point of a fake's process: serve on a free port of 127.0.0.1, print the port,
    and stop when the parent closes our stdin (also when the parent dies)."""
    options = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    # On a busy machine the fake's clock must not stall: a request timestamped 50 ms late
    # bunches with the next ones and counts as a burst the client never sent. A higher
    # priority keeps the accounting true (the fake needs little CPU); without the right
    # to raise it, the fake runs as it is.
    with contextlib.suppress(OSError):
        os.nice(-10)
    api = api_class(**options)
    connections = set()  # open client sockets, closed when the fake goes down
    servers = []  # the listening server; replaced after an outage

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
        # headers and body go out in two writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK, 40 ms later, on every answer
        disable_nagle_algorithm = True

        def setup(self):
            super().setup()
            with api.lock:
                connections.add(self.connection)

        def finish(self):
            with contextlib.suppress(OSError):
                super().finish()
            with api.lock:
                connections.discard(self.connection)

        def _serve(self):
            # the client may have given up waiting (a timeout test)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                if url.path.startswith(CONTROL_PREFIX):
                    status, payload = self._control(url.path[len(CONTROL_PREFIX) :], body)
                    headers = {}
                else:
                    query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
                    # (status, payload) or (status, payload, headers): a Retry-After, say
                    status, payload, *more = api.handle(self.command, url.path, query, self.headers, body)
                    headers = more[0] if more else {}
                self._reply(status, payload, headers)

        def _control(self, command, body):
            if command == "state":
                with api.lock:
                    return 200, api.state()
            if command == "refuse":
                seconds = float(json.loads(body or b"{}").get("seconds", 1.0))
                threading.Thread(target=go_down, args=(seconds,), daemon=True).start()
                return 200, {"result": True}
            handler = getattr(api, f"ctl_{command}", None)
            if handler is None:
                return 404, {"error": f"no control command {command}"}
            return 200, {"result": handler(**json.loads(body or b"{}"))}

        def _reply(self, status, payload, headers=None):
            if isinstance(payload, tuple):  # (bytes, content type): a file
                data, ctype = payload
            elif isinstance(payload, (dict, list)):
                data, ctype = json.dumps(payload).encode(), "application/json"
            else:
                data = payload.encode() if isinstance(payload, str) else payload
                ctype = "text/plain; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, str(value))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_DELETE = _serve  # noqa: N815

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        # a provider's API takes many connections at once (the default backlog of 5
        # resets some of a client's concurrent connects)
        request_queue_size = 128

    def listen(port=0):
        httpd = Server(("127.0.0.1", port), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers[:] = [httpd]
        return httpd

    def go_down(seconds):
        """Refuse connections for ``seconds``: nothing listens on the port meanwhile."""
        time.sleep(0.05)  # let the control answer go out first
        httpd = servers[0]
        port = httpd.server_address[1]
        httpd.shutdown()
        httpd.server_close()
        with api.lock:
            live = list(connections)
        for conn in live:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        time.sleep(seconds)
        listen(port)

    httpd = listen()
    sys.stdout.write(f"{httpd.server_address[1]}\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns when the parent closes the pipe or exits
    servers[0].shutdown()


class FakeProcess:
    """The test's handle on a fake running in its own process."""

    script_path = ""  # the fake's file, run with the current interpreter

    def __init__(self, **options):
        self.options = options
        self.process = None
        self.port = None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, self.script_path, json.dumps(self.options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError(f"the fake server {self.script_path} did not start")
        self.port = int(line)
        return self

    def stop(self):
        if self.process:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process.stdout.close()
            self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def control(self, command, **kwargs):
        data = json.dumps(kwargs).encode()
        request = urllib.request.Request(
            f"{self.url}{CONTROL_PREFIX}{command}", data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["result"]

    def state(self):
        with urllib.request.urlopen(f"{self.url}{CONTROL_PREFIX}state", timeout=10) as response:
            return json.loads(response.read())

    def refuse(self, seconds):
        """Go down for ``seconds``: connections are refused, open ones are closed."""
        self.control("refuse", seconds=seconds)
        # the fake closes its socket a moment after answering; wait until it has
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                return
            time.sleep(0.01)
        raise RuntimeError("the fake server did not go down")


class RecordingFake(FakeProcess):
    """Test-side handle of a fake whose state has ``sent``, ``requests``, ``calls`` and
    ``violations``, and whose control API has ``reset``, ``script``, ``block`` and ``set``."""

    def reset(self):
        self.control("reset")

    def script(self, *answers):
        """Force the answers of the next sends, in order (see the fake's ``_scripted``)."""
        self.control("script", answers=[list(a) for a in answers])

    def block(self, *chat_ids):
        self.control("block", chat_ids=[str(c) for c in chat_ids])

    def set(self, **values):
        self.control("set", **values)

    @property
    def sent(self):
        return self.state()["sent"]

    @property
    def requests(self):
        return self.state()["requests"]

    @property
    def calls(self):
        return self.state()["calls"]

    @property
    def violations(self):
        return self.state()["violations"]

    @property
    def violation_log(self):
        return self.state()["violation_log"]

    def stats(self):
        return self.control("stats")

    @property
    def uploads(self):
        """The files it received, in order: dicts with kind, filename, mimetype, size."""
        return self.state()["uploads"]

    def fail_downloads(self, *statuses):
        """Answer the next downloads of a file with these HTTP statuses (500, 404…)."""
        self.control("fail_downloads", statuses=list(statuses))

    def wait_for(self, count, timeout=5.0):
        """Wait until ``count`` messages were accepted (answers may come after a timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.sent) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return len(self.sent)
