"""Telegram's send path over keep-alive connections (core.providers.keepalive): every
answer is classified as it is when python-telegram-bot's own httpx backend carries it."""

import asyncio
import time

import telegram
from telegram.request import HTTPXRequest

from odoo.tests import TransactionCase, tagged

from ..core.providers import BLOCKED, PERMANENT, SENT, TRANSIENT, OutgoingMessage
from ..core.providers.keepalive import KeepAliveRequest
from ..core.providers.telegram import TelegramProvider
from .common import TelegramSetupMixin

OTHER_CHAT = "4243"
MESSAGE = OutgoingMessage(key=7, chat_id="4242", text="Hello", buttons=[[{"text": "Stop", "payload": "unsub"}]])


async def _raw_server(answers):
    """A server on 127.0.0.1 that answers each request with the next of ``answers`` (bytes,
    sent as they are) and closes the connection when an answer says so."""

    async def serve(reader, writer):
        while answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            await reader.readexactly(length)
            answer = answers.pop(0)
            writer.write(answer)
            await writer.drain()
            if b"Connection: close" in answer:
                break
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


@tagged("post_install", "-at_install")
class TestTelegramTransport(TelegramSetupMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.setup_telegram(cls.env)

    def setUp(self):
        super().setUp()
        self.fake.reset()

    def send_both(self, *script, timeout=2.0):
        """The message sent once through our provider and once through python-telegram-bot
        with its httpx backend (to another chat: a chat takes a message a second), each
        after ``script``; the two results."""

        async def ours():
            provider = self.channel._provider(concurrency=4)
            await provider.open()
            self.assertIsInstance(provider._bot.request, KeepAliveRequest)
            try:
                return await provider.send(MESSAGE)
            finally:
                await provider.close()

        async def theirs():
            request = HTTPXRequest(read_timeout=timeout, write_timeout=timeout, connect_timeout=timeout)
            bot = telegram.Bot(self.fake.token, base_url=f"{self.fake.url}/bot", request=request)
            try:
                sent = await bot.send_message(
                    chat_id=OTHER_CHAT, text=MESSAGE.text, reply_markup=TelegramProvider._markup(MESSAGE.buttons)
                )
                return str(sent.message_id)
            except Exception as exc:  # noqa: BLE001 - what the provider classifies
                return TelegramProvider.classify_error(MESSAGE.key, exc)
            finally:
                await bot.shutdown()

        self.fake.script(*script)
        result = asyncio.run(ours())
        self.fake.script(*script)
        return result, asyncio.run(theirs())

    def test_refusals_and_limits_are_classified_as_by_httpx(self):
        for script, outcome in [
            (("429", 3), TRANSIENT),
            (("500",), TRANSIENT),
            (("403",), BLOCKED),
            (("400", "message text is empty"), PERMANENT),
        ]:
            with self.subTest(script=script):
                self.fake.reset()  # a chat takes a message a second, answered or not
                ours, theirs = self.send_both(script)
                self.assertEqual(ours.outcome, outcome)
                self.assertEqual(ours, theirs)

    def test_success_is_sent_with_its_buttons(self):
        ours, _theirs = self.send_both()
        self.assertEqual((ours.outcome, ours.provider_message_id), (SENT, "1"))
        first, second = self.fake.sent
        self.assertEqual(second["chat_id"], OTHER_CHAT)
        self.assertEqual(first, {**second, "at": first["at"], "chat_id": MESSAGE.chat_id})  # the same request
        self.assertEqual(first["reply_markup"], {"inline_keyboard": [[{"text": "Stop", "callback_data": "unsub"}]]})

    def test_late_answer_may_have_been_delivered(self):
        self.channel.request_timeout = 0.5
        ours, theirs = self.send_both(("slow", 1.5), timeout=0.5)
        self.assertEqual((ours.outcome, ours.maybe_delivered), (TRANSIENT, True))
        self.assertEqual(ours, theirs)

    def test_connection_refused_was_not_delivered(self):
        async def send():
            provider = self.channel._provider(concurrency=4)
            await provider.open()
            try:
                first = await provider.send(MESSAGE)
                self.fake.refuse(1.0)  # closes the connection the first send left open
                refused = await provider.send(MESSAGE)
                await asyncio.sleep(1.5)
                return first, refused, await provider.send(MESSAGE)
            finally:
                await provider.close()

        first, refused, after = asyncio.run(send())
        self.assertEqual(first.outcome, SENT)
        self.assertEqual((refused.outcome, refused.maybe_delivered), (TRANSIENT, False))
        self.assertTrue(refused.reason.startswith("Telegram unavailable: httpx.ConnectError"), refused.reason)
        # the connection the fake closed while idle is not reused
        self.assertEqual(after.outcome, SENT)

    def test_chunked_and_closing_answers(self):
        ok = b'{"ok":true,"result":{"message_id":%d,"date":1,"chat":{"id":4242,"type":"private"},"text":"Hello"}}'
        chunked = ok % 11
        answers = [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, chunked[:10], len(chunked) - 10, chunked[10:]),
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(ok % 12), ok % 12),
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(ok % 13), ok % 13),
        ]

        async def send():
            server = await _raw_server(answers)
            port = server.sockets[0].getsockname()[1]
            self.channel.api_base_url = f"http://127.0.0.1:{port}"
            provider = self.channel._provider(concurrency=4)
            provider._bot = provider._make_bot()
            try:
                return [await provider.send(MESSAGE) for _i in range(3)]
            finally:
                await provider.close()
                server.close()

        results = asyncio.run(send())
        self.assertEqual(
            [(r.outcome, r.provider_message_id) for r in results], [(SENT, "11"), (SENT, "12"), (SENT, "13")]
        )

    def test_pool_timeout_was_not_delivered(self):
        async def send():
            provider = self.channel._provider(concurrency=1)
            await provider.open()
            try:
                self.fake.script(("slow", 1.0))
                return await asyncio.gather(provider.send(MESSAGE), provider.send(MESSAGE))
            finally:
                await provider.close()

        self.channel.request_timeout = 0.4
        start = time.monotonic()
        slow, waiting = asyncio.run(send())
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual((slow.outcome, slow.maybe_delivered), (TRANSIENT, True))
        self.assertEqual((waiting.outcome, waiting.maybe_delivered), (TRANSIENT, False))
