"""python-telegram-bot's networking for the send path: HTTP/1.1 keep-alive connections on
asyncio streams.

``HTTPXRequest`` spends most of a send's CPU in httpx and httpcore (its connection pool
checks every idle connection on each request through anyio; see bench/README.md, "The
dispatcher's ceiling"). This backend sends the same form-encoded POST over a plain pool of
connections and raises the errors ``HTTPXRequest`` raises, with the same httpx exception
as their cause, so that an answer is classified the same whichever backend carried it.
Calls with files, downloads and anything through a proxy go through ``HTTPXRequest``.
"""

import asyncio
import select
import ssl
import urllib.parse
import urllib.request

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest

# HTTPXRequest's text for a full pool: classify_error tells an unsent request by it
POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. "
    "Request was *not* sent to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


def usable(base_url):
    """Whether requests to ``base_url`` can go through this backend (no proxy set for it)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return not urllib.request.getproxies().get(parts.scheme) or urllib.request.proxy_bypass(parts.hostname)


def _network_error(cause):
    # as HTTPXRequest words it, with the httpx error it would have raised
    return NetworkError(f"httpx.{cause.__class__.__name__}: {cause}")


class KeepAliveRequest(BaseRequest):
    """POSTs without files to ``base_url``'s host over at most ``pool_size`` connections;
    everything else through ``fallback`` (an HTTPXRequest)."""

    def __init__(self, base_url, pool_size, timeout, fallback):
        parts = urllib.parse.urlsplit(base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self._head = (
            f"Host: {parts.netloc}\r\nUser-Agent: {self.USER_AGENT}\r\nAccept: */*\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
        )
        self._timeout = timeout
        self._slots = asyncio.Semaphore(pool_size)
        self._idle = []  # (reader, writer) of open connections, none carrying a request
        self._fallback = fallback

    @property
    def read_timeout(self):
        return self._timeout

    async def initialize(self):
        await self._fallback.initialize()

    async def shutdown(self):
        while self._idle:
            _reader, writer = self._idle.pop()
            writer.close()
        await self._fallback.shutdown()

    async def do_request(  # noqa: PLR0917 - BaseRequest's signature
        self,
        url,
        method,
        request_data=None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ):
        if method != "POST" or (request_data and request_data.contains_files) or not url.startswith(self._origin):
            return await self._fallback.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
            )
        body = request_data.url_encoded_parameters().encode() if request_data else b""
        request = (
            f"POST {url[len(self._origin) :] or '/'} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            async with asyncio.timeout(self._seconds(pool_timeout)):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise TimedOut(POOL_TIMEOUT_MESSAGE) from httpx.PoolTimeout(str(exc))
        try:
            return await self._exchange(request, read_timeout, write_timeout, connect_timeout)
        finally:
            self._slots.release()

    def _seconds(self, value):
        return self._timeout if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value

    async def _connection(self, connect_timeout):
        while self._idle:
            reader, writer = self._idle.pop()
            # an idle connection with something to read was closed by the server (what
            # arrived may not be handled by the loop yet): as httpcore, ask the socket
            sock = writer.get_extra_info("socket")
            if not writer.is_closing() and not select.select([sock], [], [], 0)[0]:
                return reader, writer
            writer.close()
        try:
            async with asyncio.timeout(self._seconds(connect_timeout)):
                return await asyncio.open_connection(self._host, self._port, ssl=self._ssl)
        except TimeoutError as exc:
            raise TimedOut() from httpx.ConnectTimeout(str(exc))
        except OSError as exc:
            cause = httpx.ConnectError(str(exc))
            raise _network_error(cause) from cause

    async def _exchange(self, request, read_timeout, write_timeout, connect_timeout):
        reader, writer = await self._connection(connect_timeout)
        stage = httpx.WriteError
        try:
            writer.write(request)
            if writer.transport.get_write_buffer_size():
                async with asyncio.timeout(self._seconds(write_timeout)):
                    await writer.drain()
            stage = httpx.ReadError
            async with asyncio.timeout(self._seconds(read_timeout)):
                status, keep_alive, payload = await self._response(reader)
        except TimeoutError as exc:
            writer.close()
            cause = httpx.WriteTimeout(str(exc)) if stage is httpx.WriteError else httpx.ReadTimeout(str(exc))
            raise TimedOut() from cause
        except asyncio.IncompleteReadError as exc:
            writer.close()
            cause = httpx.RemoteProtocolError("Server disconnected without sending a response.")
            raise _network_error(cause) from exc
        except (OSError, ValueError, asyncio.LimitOverrunError) as exc:
            writer.close()
            cause = stage(str(exc)) if isinstance(exc, OSError) else httpx.RemoteProtocolError(str(exc))
            raise _network_error(cause) from exc
        except BaseException:  # cancelled mid-request: the connection's state is unknown
            writer.close()
            raise
        if keep_alive:
            self._idle.append((reader, writer))
        else:
            writer.close()
        return status, payload

    @staticmethod
    async def _response(reader):
        """(status, whether the connection may carry another request, body) of one answer."""
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        version, status = head[0].split(" ", 2)[:2]
        headers = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip().lower()  # only framing headers are read
        keep_alive = version == "HTTP/1.1" and headers.get("connection") != "close"
        if "chunked" in headers.get("transfer-encoding", ""):
            chunks = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                chunks.append((await reader.readexactly(size + 2))[:-2])
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, keep_alive = await reader.read(), False
        return int(status), keep_alive, body
