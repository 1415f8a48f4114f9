"""Files at the level of the providers, against the fakes: a person's photo, voice note
and other media as each webhook brings them, fetched with the platform's own method; a
photo and a document sent by the platform's upload; the limits refused before any call."""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from odoo.tests import TransactionCase, tagged

from ..core.providers import PERMANENT, SENT
from ..core.providers.base import MB, InboundMedia, MediaError, OutgoingFile, OutgoingMessage
from .common import ProvidersSetupMixin, TelegramSetupMixin
from .fakes.graph_server import WHATSAPP_PHOTO_ID, WHATSAPP_VOICE_ID
from .fakes.server import PHOTO, VOICE
from .fakes.telegram_server import BIG_ID, PHOTO_ID, VOICE_ID

CHATS = {"telegram": "9001", "vk": "9002", "whatsapp": "79123456780", "messenger": "2900000009", "instagram": "1780009"}
PDF = b"%PDF-1.4\n" + b"0" * 3000 + b"\n%%EOF\n"
# what each platform names the kinds of the uploads it took: a photo, then a PDF
UPLOAD_KINDS = {
    "telegram": ["photo", "document"],
    "vk": ["photo", "doc"],
    "whatsapp": ["image/jpeg", "application/pdf"],  # the upload names the MIME type only
    "messenger": ["image", "file"],
    "instagram": ["image", "file"],
}


@tagged("post_install", "-at_install")
class TestProviderMedia(ProvidersSetupMixin, TelegramSetupMixin, TransactionCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channels = {"telegram": cls.setup_telegram(cls.env)}
        cls.fakes = {"telegram": cls.fake}
        cls.channels["vk"], cls.fakes["vk"] = cls.setup_vk(cls.env)
        for platform in ("whatsapp", "messenger", "instagram"):
            cls.channels[platform], cls.fakes[platform] = cls.setup_graph(cls.env, platform)
        cls.update_id = 0

    def setUp(self):
        super().setUp()
        for fake in self.fakes.values():
            fake.reset()
            fake.set(per_chat_interval=0)  # a photo and then a document go to one person at once

    # -- helpers ---------------------------------------------------------------------------
    def provider(self, code):
        return self.channels[code]._provider()

    def parse(self, code, content, caption=""):
        """The one event of a webhook body in which the person sent ``content`` (the
        platform's own shape of a file), with ``caption``."""
        self.update_id += 1
        body = getattr(self, f"_{code}_body")(content, caption)
        events = self.provider(code).parse_webhook(json.dumps(body).encode())
        self.assertEqual(len(events), 1)
        self.assertEqual((events[0].kind, events[0].chat_id), ("message", CHATS[code]))
        return events[0]

    def _telegram_body(self, content, caption):
        person = {"id": int(CHATS["telegram"]), "first_name": "Anna"}
        message = {"message_id": self.update_id, "from": person, "chat": {**person, "type": "private"}, "date": 1}
        return {
            "update_id": self.update_id,
            "message": {**message, **content, **({"caption": caption} if caption else {})},
        }

    def _vk_body(self, content, caption):
        peer = int(CHATS["vk"])
        message = {"id": self.update_id, "peer_id": peer, "from_id": peer, "text": caption, "attachments": []}
        return {
            "type": "message_new",
            "group_id": int(self.fakes["vk"].group_id),
            "event_id": f"e{self.update_id}",
            "object": {"message": {**message, **content}},
        }

    def _whatsapp_body(self, content, caption):
        kind, obj = next(iter(content.items()))
        if caption:
            obj = {**obj, "caption": caption}
        message = {"from": CHATS["whatsapp"], "id": f"wamid.in{self.update_id}", "type": kind, kind: obj}
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"phone_number_id": self.fakes["whatsapp"].account_id},
            "contacts": [{"wa_id": CHATS["whatsapp"], "profile": {"name": "Anna"}}],
            "messages": [message],
        }
        entry = {"id": self.fakes["whatsapp"].waba_id, "changes": [{"field": "messages", "value": value}]}
        return {"object": "whatsapp_business_account", "entry": [entry]}

    def _meta_body(self, code, content, caption):
        fake = self.fakes[code]
        message = {"mid": f"m_in{self.update_id}", "attachments": content}
        if caption:
            message["text"] = caption
        item = {"sender": {"id": CHATS[code]}, "recipient": {"id": fake.account_id}, "timestamp": 1, "message": message}
        return {
            "object": "page" if code == "messenger" else "instagram",
            "entry": [{"id": fake.account_id, "messaging": [item]}],
        }

    def _messenger_body(self, content, caption):
        return self._meta_body("messenger", content, caption)

    def _instagram_body(self, content, caption):
        return self._meta_body("instagram", content, caption)

    def photo_and_voice(self, code):
        """The platform's shape of a person's photo and of their voice note, as its fake serves them."""
        fake = self.fakes[code]
        if code == "telegram":
            sizes = [
                {"file_id": "AgAC-small", "file_unique_id": "s", "width": 90, "height": 60, "file_size": 900},
                {"file_id": PHOTO_ID, "file_unique_id": "p", "width": 1280, "height": 853, "file_size": len(PHOTO)},
            ]
            voice = {"file_id": VOICE_ID, "file_unique_id": "v", "duration": 3, "mime_type": "audio/ogg"}
            return {"photo": sizes}, {"voice": {**voice, "file_size": len(VOICE)}}
        if code == "vk":
            sizes = [
                {"type": "s", "url": "https://sun.userapi.com/s.jpg", "width": 75, "height": 50},
                {"type": "w", "url": fake.media_url("photo.jpg"), "width": 1280, "height": 853},
            ]
            photo = {"id": 1, "owner_id": 9002, "sizes": sizes}
            voice = {"id": 2, "owner_id": 9002, "duration": 3, "link_ogg": fake.media_url("voice.ogg"), "link_mp3": ""}
            return (
                {"attachments": [{"type": "photo", "photo": photo}]},
                {"attachments": [{"type": "audio_message", "audio_message": voice}]},
            )
        if code == "whatsapp":
            return (
                {"image": {"id": WHATSAPP_PHOTO_ID, "mime_type": "image/jpeg", "sha256": "x"}},
                {"audio": {"id": WHATSAPP_VOICE_ID, "mime_type": "audio/ogg; codecs=opus", "voice": True}},
            )
        return (
            [{"type": "image", "payload": {"url": fake.cdn_url("photo.jpg")}}],
            [{"type": "audio", "payload": {"url": fake.cdn_url("voice.mp4")}}],
        )

    def fetch(self, code, media):
        """Fetch as a background job does: outside a dispatcher run."""
        return asyncio.run(self.provider(code).fetch_media(media))

    def send(self, code, *messages):
        provider = self.provider(code)

        async def run():
            await provider.open()
            try:
                return [await provider.send(message) for message in messages]
            finally:
                await provider.close()

        return asyncio.run(run())

    def message(self, code, key, text="", attachment=None, **values):
        return OutgoingMessage(
            key, CHATS[code], text, attachment=attachment, idempotency_key=f"media-{key}", inbound_age=60.0, **values
        )

    # -- a person's files --------------------------------------------------------------------
    def test_photo_and_voice_note_are_fetched_on_every_provider(self):
        expected_types = {"telegram": "audio/ogg", "vk": "audio/ogg", "whatsapp": "audio/ogg", "messenger": "audio/mp4"}
        for code in self.channels:
            with self.subTest(code):
                photo_content, voice_content = self.photo_and_voice(code)
                photo = self.parse(code, photo_content, caption="This one in oak?")
                voice = self.parse(code, voice_content)
                self.assertEqual(photo.text, "This one in oak?")  # the caption, no placeholder
                self.assertEqual(voice.text, "")
                self.assertEqual([m.kind for m in photo.media + voice.media], ["photo", "voice"])
                fetched = self.fetch(code, photo.media[0])
                self.assertEqual((fetched.data, fetched.mimetype, len(fetched.data)), (PHOTO, "image/jpeg", len(PHOTO)))
                fetched = self.fetch(code, voice.media[0])
                self.assertEqual(fetched.data, VOICE)
                self.assertEqual(len(fetched.data), len(VOICE))
                self.assertEqual(fetched.mimetype, expected_types.get(code, "audio/mp4"))
                self.assertTrue(fetched.filename)

    def test_every_providers_photo_and_voice_note_end_as_attachments_in_the_conversation(self):
        """The whole way: the webhook's events record what to fetch, the background job
        fetches it with the platform's method, the files join the customer's message in
        the conversation with their type and size."""
        expected_voice = {"telegram": "audio/ogg", "vk": "audio/ogg", "whatsapp": "audio/ogg"}
        for code, channel in self.channels.items():
            with self.subTest(code):
                photo_content, voice_content = self.photo_and_voice(code)
                events = [self.parse(code, photo_content, caption="This one in oak?"), self.parse(code, voice_content)]
                self.env["messenger.inbound"]._process(channel, events)
                contact = self.env["messenger.contact"].search(
                    [("channel_id", "=", channel.id), ("chat_id", "=", CHATS[code])]
                )
                incoming = contact.message_ids_messenger.filtered(lambda m: m.direction == "in").sorted("id")
                self.assertEqual(len(incoming), 2)
                self.assertEqual(incoming.media_ids.mapped("state"), ["pending", "pending"])
                self.env["messenger.media"]._cron_fetch(auto_commit=False)
                self.assertEqual(incoming.media_ids.mapped("state"), ["done", "done"])
                photo, voice = (m.discuss_message_id for m in incoming)
                self.assertIn("This one in oak?", photo.body, "the caption is kept")
                self.assertEqual(photo.model, "discuss.channel")
                self.assertEqual(photo.res_id, contact.discuss_channel_id.id)
                self.assertEqual(
                    (photo.attachment_ids.raw, photo.attachment_ids.mimetype, photo.attachment_ids.file_size),
                    (PHOTO, "image/jpeg", len(PHOTO)),
                )
                self.assertEqual(voice.attachment_ids.raw, VOICE)
                self.assertEqual(voice.attachment_ids.file_size, len(VOICE))
                self.assertEqual(voice.attachment_ids.mimetype, expected_voice.get(code, "audio/mp4"))

    def test_telegram_fetches_the_largest_photo_size_by_its_file_id(self):
        photo_content, _voice = self.photo_and_voice("telegram")
        media = self.parse("telegram", photo_content).media[0]
        self.assertEqual((media.ref, media.size), (PHOTO_ID, len(PHOTO)))
        self.fetch("telegram", media)
        self.assertEqual(
            [c for c in self.fakes["telegram"].calls if c[0] == "getFile"], [["getFile", {"file_id": PHOTO_ID}]]
        )

    def test_each_kind_of_media_is_parsed(self):
        cases = {
            "telegram": [
                (
                    {
                        "document": {
                            "file_id": "D1",
                            "file_name": "plan.pdf",
                            "mime_type": "application/pdf",
                            "file_size": 5,
                        }
                    },
                    ("document", "D1", "application/pdf", "plan.pdf", 5),
                ),
                (
                    {"audio": {"file_id": "A1", "file_name": "song.mp3", "mime_type": "audio/mpeg"}},
                    ("audio", "A1", "audio/mpeg", "song.mp3", 0),
                ),
                (
                    {"video": {"file_id": "V1", "mime_type": "video/mp4", "file_size": 7}},
                    ("video", "V1", "video/mp4", "", 7),
                ),
                ({"video_note": {"file_id": "N1"}}, ("video", "N1", "video/mp4", "", 0)),
                (
                    {"sticker": {"file_id": "S1", "is_animated": False, "is_video": False}},
                    ("sticker", "S1", "image/webp", "", 0),
                ),
                (
                    {"animation": {"file_id": "G1", "mime_type": "video/mp4"}, "document": {"file_id": "G1"}},
                    ("video", "G1", "video/mp4", "", 0),
                ),
            ],
            "vk": [
                (
                    {
                        "attachments": [
                            {
                                "type": "doc",
                                "doc": {
                                    "id": 3,
                                    "owner_id": 9002,
                                    "title": "plan",
                                    "ext": "pdf",
                                    "size": 5,
                                    "url": "https://vk.com/doc9002_3",
                                },
                            }
                        ]
                    },
                    ("document", "https://vk.com/doc9002_3", "application/pdf", "plan.pdf", 5),
                ),
                (
                    {
                        "attachments": [
                            {
                                "type": "video",
                                "video": {"id": 4, "owner_id": 9002, "access_key": "k", "title": "Unboxing"},
                            }
                        ]
                    },
                    ("video", "video9002_4_k", "", "Unboxing", 0),
                ),
                (
                    {
                        "attachments": [
                            {
                                "type": "sticker",
                                "sticker": {
                                    "sticker_id": 9,
                                    "images": [
                                        {"url": "https://vk.com/st/64.png", "width": 64, "height": 64},
                                        {"url": "https://vk.com/st/256.png", "width": 256, "height": 256},
                                    ],
                                },
                            }
                        ]
                    },
                    ("sticker", "https://vk.com/st/256.png", "image/png", "", 0),
                ),
            ],
            "whatsapp": [
                (
                    {"document": {"id": "77", "mime_type": "application/pdf", "filename": "plan.pdf"}},
                    ("document", "77", "application/pdf", "plan.pdf", 0),
                ),
                ({"audio": {"id": "78", "mime_type": "audio/mpeg"}}, ("audio", "78", "audio/mpeg", "", 0)),
                ({"video": {"id": "79", "mime_type": "video/mp4"}}, ("video", "79", "video/mp4", "", 0)),
                (
                    {"sticker": {"id": "80", "mime_type": "image/webp", "animated": False}},
                    ("sticker", "80", "image/webp", "", 0),
                ),
            ],
            "messenger": [
                (
                    [{"type": "file", "payload": {"url": "https://cdn.fbsbx.com/v/plan.pdf?sig=1"}}],
                    ("document", "https://cdn.fbsbx.com/v/plan.pdf?sig=1", "", "plan.pdf", 0),
                ),
                (
                    [{"type": "video", "payload": {"url": "https://video.xx.fbcdn.net/v/clip.mp4"}}],
                    ("video", "https://video.xx.fbcdn.net/v/clip.mp4", "", "clip.mp4", 0),
                ),
                (
                    [
                        {
                            "type": "image",
                            "payload": {
                                "url": "https://scontent.xx.fbcdn.net/t39.1997-6/st.png",
                                "sticker_id": 369239263222822,
                            },
                        }
                    ],
                    ("sticker", "https://scontent.xx.fbcdn.net/t39.1997-6/st.png", "", "", 0),
                ),
            ],
            "instagram": [
                (
                    [{"type": "video", "payload": {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=5"}}],
                    ("video", "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=5", "", "", 0),
                ),
            ],
        }
        for code, kinds in cases.items():
            for content, expected in kinds:
                with self.subTest(code, kind=expected[0]):
                    event = self.parse(code, content)
                    self.assertEqual(event.text, "")
                    media = event.media[0]
                    self.assertEqual((media.kind, media.ref, media.mimetype, media.filename, media.size), expected)

    def test_places_are_parsed_with_latitude_and_longitude(self):
        places = {
            "telegram": {"location": {"latitude": 55.7558, "longitude": 37.6173}},
            "vk": {"geo": {"type": "point", "coordinates": {"latitude": 55.7558, "longitude": 37.6173}}},
            "whatsapp": {"location": {"latitude": 55.7558, "longitude": 37.6173, "name": "Shop"}},
            "messenger": [{"type": "location", "payload": {"coordinates": {"lat": 55.7558, "long": 37.6173}}}],
        }
        for code, content in places.items():
            with self.subTest(code):
                event = self.parse(code, content)
                self.assertEqual(
                    [(m.kind, m.latitude, m.longitude, m.ref) for m in event.media],
                    [("location", 55.7558, 37.6173, "")],
                )
                self.assertEqual(event.text, "")

    def test_messages_without_a_file_keep_their_placeholders(self):
        # a poll, a wall post, a shared post carry no file: the conversation still shows something
        self.assertEqual(self.parse("telegram", {"poll": {"id": "1", "question": "?"}}).text, "[unsupported message]")
        wall = {"attachments": [{"type": "wall", "wall": {"id": 1, "owner_id": -1}}]}
        self.assertEqual(self.parse("vk", wall).text, "[attachment]")
        self.assertEqual(self.parse("whatsapp", {"contacts": {"id": "x"}}).text, "[contacts]")
        share = [{"type": "share", "payload": {"url": "https://instagram.com/p/x"}}]
        event = self.parse("instagram", share)
        self.assertEqual((event.text, event.media), ("[attachment]", []))

    # -- failures while fetching ---------------------------------------------------------------
    def test_5xx_while_fetching_is_retryable_and_404_is_not(self):
        for code in self.channels:
            with self.subTest(code):
                _photo, voice_content = self.photo_and_voice(code)
                media = self.parse(code, voice_content).media[0]
                self.fakes[code].fail_downloads(503, 404)
                with self.assertRaises(MediaError) as unavailable:
                    self.fetch(code, media)
                self.assertTrue(unavailable.exception.retryable, unavailable.exception.reason)
                self.assertIn("503", unavailable.exception.reason)
                with self.assertRaises(MediaError) as gone:
                    self.fetch(code, media)
                self.assertFalse(gone.exception.retryable, gone.exception.reason)
                self.assertEqual(self.fetch(code, media).data, VOICE)  # the failures were the fake's, once each

    def test_an_error_body_is_not_read(self):
        """A 404 whose page never ends: refused at once, its body left unread."""
        written = []

        class Endless(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(404)
                self.send_header("Content-Length", str(1024 * MB))
                self.end_headers()
                try:
                    for _ in range(1024):
                        self.wfile.write(b"x" * MB)
                        written.append(MB)
                except OSError:  # the client went away
                    pass

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        provider = self.provider("vk")
        url = f"http://127.0.0.1:{server.server_address[1]}/gone.jpg"
        with self.assertRaises(MediaError) as gone:
            provider.call(lambda: provider.download(url))
        self.assertIn("404", gone.exception.reason)
        time.sleep(0.5)  # the server notices the closed connection
        self.assertLess(sum(written), 64 * MB, "the error page was read")

    def test_files_the_platform_no_longer_has_or_will_not_hand_over(self):
        with self.assertRaises(MediaError) as too_big:  # getFile refuses files over 20 MB
            self.fetch("telegram", InboundMedia("document", ref=BIG_ID))
        self.assertFalse(too_big.exception.retryable)
        self.assertIn("File is too big", too_big.exception.reason)
        # ... and a size over it is refused before any call
        self.fakes["telegram"].reset()
        with self.assertRaises(MediaError) as known_big:
            self.fetch("telegram", InboundMedia("document", ref="BQAC-other", size=20 * MB + 300 * 1024))
        self.assertFalse(known_big.exception.retryable)
        # a file just over the limit does not read as the limit
        self.assertIn("at most 20 MB; this one has 20.3 MB.", known_big.exception.reason)
        self.assertEqual(self.fakes["telegram"].calls, [])
        with self.assertRaises(MediaError) as unknown:  # a media id WhatsApp deleted
            self.fetch("whatsapp", InboundMedia("photo", ref="1234567890"))
        self.assertFalse(unknown.exception.retryable)
        with self.assertRaises(MediaError) as video:  # VK gives a community no video file
            self.fetch("vk", InboundMedia("video", ref="video9002_4"))
        self.assertFalse(video.exception.retryable)

    # -- sending files ---------------------------------------------------------------------------
    def test_a_photo_then_a_pdf_go_by_each_platform_upload(self):
        buttons = [[{"text": "Order", "payload": "order"}]]
        for code in self.channels:
            with self.subTest(code):
                photo = OutgoingFile("photo", "oak-desk.jpg", "image/jpeg", PHOTO)
                pdf = OutgoingFile("document", "price-list.pdf", "application/pdf", PDF)
                first = self.message(code, 1, "The oak desk", photo, buttons=buttons)
                second = self.message(code, 2, "", pdf)
                self.assertEqual([self.provider(code).precheck(m) for m in (first, second)], [None, None])
                results = self.send(code, first, second)
                self.assertEqual([r.outcome for r in results], [SENT, SENT], [r.reason for r in results])
                uploads = self.fakes[code].uploads
                self.assertEqual([u["kind"] for u in uploads], UPLOAD_KINDS[code])
                self.assertEqual(
                    [(u["filename"], u["mimetype"], u["size"]) for u in uploads],
                    [("oak-desk.jpg", "image/jpeg", len(PHOTO)), ("price-list.pdf", "application/pdf", len(PDF))],
                )
                self.assertIn("The oak desk", json.dumps(self.fakes[code].sent))  # as the caption, or after the photo

    def test_telegram_sends_the_file_with_its_caption_and_buttons(self):
        message = self.message(
            "telegram",
            1,
            "The oak desk",
            OutgoingFile("photo", "oak.jpg", "image/jpeg", PHOTO),
            buttons=[[{"text": "Order", "payload": "order"}]],
        )
        voice = self.message("telegram", 2, "", OutgoingFile("audio", "note.ogg", "audio/ogg", VOICE))
        self.send("telegram", message, voice)
        photo, note = self.fakes["telegram"].sent
        self.assertEqual((photo["method"], photo["text"]), ("sendPhoto", "The oak desk"))
        self.assertEqual(photo["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "order")
        self.assertEqual(note["method"], "sendVoice")  # an OGG audio shows as a voice note

    def test_telegram_paid_broadcast_with_a_file_is_paid(self):
        paid = self.message(
            "telegram", 1, "The oak desk", OutgoingFile("photo", "oak.jpg", "image/jpeg", PHOTO), paid_broadcast=True
        )
        free = self.message("telegram", 2, "", OutgoingFile("document", "offer.pdf", "application/pdf", b"%PDF-1.4"))
        self.send("telegram", paid, free)
        self.assertEqual(
            [(s["method"], s["paid"]) for s in self.fakes["telegram"].sent],
            [("sendPhoto", True), ("sendDocument", False)],
        )

    def test_vk_attaches_the_saved_uploads_to_the_message(self):
        fake = self.fakes["vk"]
        message = self.message(
            "vk",
            1,
            "The oak desk",
            OutgoingFile("photo", "oak.jpg", "image/jpeg", PHOTO),
            buttons=[[{"text": "Order", "payload": "order"}]],
        )
        voice = self.message("vk", 2, "", OutgoingFile("audio", "note.ogg", "audio/ogg", VOICE))
        self.send("vk", message, voice)
        self.assertEqual([u["kind"] for u in fake.uploads], ["photo", "audio_message"])
        saved = fake.state()["saved"]
        self.assertEqual([s["attachment"] for s in fake.sent], saved)
        self.assertTrue(saved[0].startswith(f"photo-{fake.group_id}_") and saved[1].startswith(f"doc-{fake.group_id}_"))
        self.assertEqual(fake.sent[0]["text"], "The oak desk")
        self.assertEqual(fake.sent[0]["keyboard"]["buttons"][0][0]["action"]["type"], "callback")

    def test_whatsapp_sends_a_file_by_its_media_id(self):
        fake = self.fakes["whatsapp"]
        photo = self.message("whatsapp", 1, "The oak desk", OutgoingFile("photo", "oak.jpg", "image/jpeg", PHOTO))
        pdf = self.message("whatsapp", 2, "Prices", OutgoingFile("document", "prices.pdf", "application/pdf", PDF))
        voice = self.message("whatsapp", 3, "Listen", OutgoingFile("audio", "note.ogg", "audio/ogg", VOICE))
        asked = self.message(
            "whatsapp",
            4,
            "Which one?",
            OutgoingFile("photo", "two.jpg", "image/jpeg", PHOTO),
            buttons=[[{"text": "Left", "payload": "left"}, {"text": "Right", "payload": "right"}]],
        )
        self.send("whatsapp", photo, pdf, voice, asked)
        bodies = fake.bodies()
        self.assertEqual(bodies[0]["image"], {"id": bodies[0]["image"]["id"], "caption": "The oak desk"})
        self.assertEqual(
            (bodies[1]["document"]["filename"], bodies[1]["document"]["caption"]), ("prices.pdf", "Prices")
        )
        # an audio takes no caption: the audio, then the text
        self.assertEqual((bodies[2]["type"], bodies[3]["type"], bodies[3]["text"]["body"]), ("audio", "text", "Listen"))
        # buttons: the photo is the header of the interactive message
        interactive = bodies[4]["interactive"]
        self.assertEqual(interactive["header"]["type"], "image")
        self.assertEqual(interactive["body"]["text"], "Which one?")
        media_ids = [b[b["type"]]["id"] for b in bodies[:3]] + [interactive["header"]["image"]["id"]]
        self.assertEqual(len(set(media_ids)), 4)  # each upload's own id

    def test_messenger_and_instagram_send_the_file_then_the_text(self):
        for code in ("messenger", "instagram"):
            with self.subTest(code):
                message = self.message(
                    code,
                    1,
                    "The oak desk",
                    OutgoingFile("video", "desk.mp4", "video/mp4", PHOTO),
                    buttons=[[{"text": "Order", "payload": "order"}]],
                )
                self.send(code, message)
                file, text = (body["message"] for body in self.fakes[code].bodies())
                self.assertEqual(file["attachment"]["type"], "video")
                self.assertTrue(file["attachment"]["payload"]["attachment_id"])
                self.assertEqual((text["text"], text["quick_replies"][0]["payload"]), ("The oak desk", "order"))

    # -- limits ------------------------------------------------------------------------------------
    def test_a_file_over_its_limit_is_refused_before_any_request(self):
        limits = {
            "telegram": ("photo", "10 MB"),
            "vk": ("photo", "50 MB"),
            "whatsapp": ("photo", "5 MB"),
            "messenger": ("video", "25 MB"),
            "instagram": ("photo", "8 MB"),
        }
        for code, (kind, limit) in limits.items():
            with self.subTest(code):
                provider = self.provider(code)
                size = provider.media_limits[kind] + 1
                big = self.message(code, 1, "Too big", OutgoingFile(kind, "big.bin", "image/jpeg", b"\0" * size))
                refusal = provider.precheck(big)
                self.assertEqual(refusal.outcome, PERMANENT)
                self.assertIn(f"at most {limit}", refusal.reason)
                self.assertIn("big.bin", refusal.reason)
                self.assertEqual(self.fakes[code].calls, [])
                # at the limit it goes
                fits = self.message(code, 2, "", OutgoingFile(kind, "ok.bin", "image/jpeg", b"\0" * (size - 1)))
                self.assertIsNone(provider.precheck(fits))

    def test_a_kind_the_platform_does_not_take_and_a_long_caption_are_refused(self):
        provider = self.provider("whatsapp")
        sticker = self.message("whatsapp", 1, "", OutgoingFile("sticker", "s.webp", "image/webp", b"RIFF"))
        self.assertIn("does not take a file of the kind 'sticker'", provider.precheck(sticker).reason)
        long_caption = self.message("telegram", 2, "x" * 1025, OutgoingFile("photo", "p.jpg", "image/jpeg", PHOTO))
        refusal = self.provider("telegram").precheck(long_caption)
        self.assertIn("A text sent with a file takes at most 1024 characters on Telegram", refusal.reason)
