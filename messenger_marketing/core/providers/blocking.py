"""Providers whose client library blocks (requests, vk_api).

Each send runs in a thread of a pool as large as the channel's concurrency, so the
dispatcher's pacing starts every send on its slot without waiting for earlier answers,
as it does with the asynchronous Telegram client. The threads share one requests
session (a connection pool of the same size) and never touch the database.
"""

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter

from .base import MediaError, Provider, file_size_text

_logger = logging.getLogger(__name__)


class BlockingProvider(Provider):
    def __init__(self, config):
        super().__init__(config)
        self._pool = None
        self.session = None
        self._call_lock = threading.Lock()  # fetches outside a run take turns: call() holds self.session

    def _new_session(self):
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(self.config.concurrency, 10))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def base_url(self):
        return (self.config.api_base_url or self.default_api_base_url).rstrip("/")

    async def open(self):
        self.session = self._new_session()
        self._pool = ThreadPoolExecutor(max(self.config.concurrency, 1), thread_name_prefix=f"messenger-{self.code}")

    async def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.session is not None:
            self.session.close()
            self.session = None

    async def send(self, message):
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, self.send_blocking, message)
        except Exception as exc:  # send() never raises: a bug becomes a retried result
            _logger.exception("Messenger: unexpected error while sending message %s", message.key)
            return self.unexpected(message.key, exc)

    def send_blocking(self, message):
        """Send one message from a pool thread; return a SendResult, never raise."""
        raise NotImplementedError

    async def fetch_media(self, media):
        if self._pool is None:  # outside a dispatcher run: a session of its own, in a thread
            return await asyncio.to_thread(self._fetch_alone, media)
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.fetch_media_blocking, media)

    def _fetch_alone(self, media):
        with self._call_lock:
            return self.call(lambda: self.fetch_media_blocking(media))

    def fetch_media_blocking(self, media):
        """The FetchedFile of an InboundMedia, from a pool thread; raises MediaError."""
        raise MediaError(f"{self.label} does not hand over files", retryable=False)

    def download(self, url, headers=None, max_size=0, redirects=True):
        """The bytes and content type at ``url``; MediaError as the answer says (see
        ``media_error``), retryable on a timeout or a lost connection. ``max_size``: a
        larger file is refused, not read to its end. ``redirects=False``: a redirect is
        refused, not followed (to where the caller did not check)."""
        try:
            with self.session.get(
                url, headers=headers, timeout=self.config.request_timeout, stream=True, allow_redirects=redirects
            ) as answer:
                if answer.is_redirect and not redirects:
                    raise MediaError(f"{url} redirects elsewhere", retryable=False)
                if answer.status_code >= 400:
                    # an error page is left unread: the response's close drops the
                    # connection rather than read a body of any size
                    raise self.media_error(answer.status_code)
                data = bytearray()
                for chunk in answer.iter_content(64 * 1024):
                    data += chunk
                    if max_size and len(data) > max_size:
                        raise MediaError(
                            f"{self.label} hands over a file larger than {file_size_text(max_size)}", retryable=False
                        )
                return bytes(data), answer.headers.get("Content-Type", "").split(";")[0].strip()
        except requests.exceptions.RequestException as exc:
            raise MediaError(f"{self.label} did not hand over the file: {exc.__class__.__name__}") from exc

    def call(self, action):
        """Run a configuration call (webhook, test) with a session of its own."""
        self.session = self._new_session()
        try:
            return action()
        finally:
            self.session.close()
            self.session = None
