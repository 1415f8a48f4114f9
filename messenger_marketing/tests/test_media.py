"""Files customers send, through the pipeline: the webhook records what to fetch, the job
fetches after commit (here: run by the test), the file becomes an attachment of the
message in the conversation; too large, or a provider that keeps failing, and the message
says why the file is not available. Through the sandbox, whose files are data: URLs or
http(s) URLs on a file server."""

import base64
import json
from datetime import timedelta

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..core.providers.sandbox import SECRET_HEADER
from ..models.messenger_media import MAX_TRIES, RETRY_BASE_SECONDS
from .fakes.file_server import FileServer

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
OGG = b"OggS" + b"\x00" * 60


def data_url(data, mimetype):
    return f"data:{mimetype};base64,{base64.b64encode(data).decode()}"


@tagged("post_install", "-at_install")
class TestMedia(HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.channel = cls.env["messenger.channel"].create({"name": "Media sandbox", "provider": "sandbox"})
        cls.files = FileServer()
        cls.addClassCleanup(cls.files.close)

    def post(self, event):
        answer = self.url_open(
            f"/messenger/webhook/{self.channel.webhook_key}",
            data=json.dumps(event),
            headers={"Content-Type": "application/json", SECRET_HEADER: self.channel.webhook_secret},
        )
        self.assertEqual(answer.status_code, 200, answer.text)

    def message(self, chat_id, media, text="", event_id=None):
        self.post(
            {
                "event_id": event_id or f"m-{chat_id}-{len(media)}",
                "kind": "message",
                "chat_id": chat_id,
                "name": "Vera",
                "text": text,
                "media": media,
            }
        )
        contact = self.env["messenger.contact"].search(
            [("channel_id", "=", self.channel.id), ("chat_id", "=", chat_id)]
        )
        return contact.message_ids_messenger.filtered(lambda m: m.direction == "in").sorted("id")[-1:]

    def fetch(self):
        self.env["messenger.media"]._cron_fetch(auto_commit=False)

    def test_photo_and_voice_note_become_attachments_after_the_webhook(self):
        message = self.message(
            "p1",
            [
                {"kind": "photo", "ref": data_url(PNG, "image/png"), "mimetype": "image/png", "size": len(PNG)},
                {"kind": "voice", "ref": data_url(OGG, "audio/ogg"), "mimetype": "audio/ogg"},
            ],
            text="my parcel arrived broken",
        )
        self.assertIn("my parcel arrived broken", message.discuss_message_id.body, "the caption is kept")
        self.assertEqual(message.media_ids.mapped("state"), ["pending", "pending"], "nothing fetched in the webhook")
        self.assertFalse(message.discuss_message_id.attachment_ids)
        cron = self.env.ref("messenger_marketing.ir_cron_messenger_fetch_media")
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]), "the job is woken")
        self.fetch()
        self.assertEqual(message.media_ids.mapped("state"), ["done", "done"])
        attachments = message.discuss_message_id.attachment_ids.sorted("id")
        self.assertEqual(attachments.mapped("mimetype"), ["image/png", "audio/ogg"])
        self.assertEqual(attachments.mapped("file_size"), [len(PNG), len(OGG)])
        self.assertEqual(attachments[0].raw, PNG)
        self.assertEqual(set(attachments.mapped("res_model")), {"discuss.channel"})
        self.assertEqual(attachments[0].res_id, message.contact_id.discuss_channel_id.id)

    def test_sticker_is_a_picture_and_location_a_map_link(self):
        message = self.message(
            "s1",
            [
                {"kind": "sticker", "ref": data_url(PNG, "image/webp"), "mimetype": "image/webp"},
                {"kind": "location", "latitude": 55.7558, "longitude": 37.6173},
            ],
        )
        self.assertIn("openstreetmap.org/?mlat=55.755800&amp;mlon=37.617300", message.discuss_message_id.body)
        self.assertEqual(message.media_ids.mapped("kind"), ["sticker"], "a place has no file to fetch")
        self.fetch()
        self.assertEqual(message.discuss_message_id.attachment_ids.mimetype, "image/webp")
        self.assertEqual(message.contact_id.last_message_preview, message.body)

    def test_a_file_over_the_channels_limit_is_refused_with_a_reason(self):
        self.channel.media_max_mb = 1
        big = b"x" * (1024 * 1024 + 1)
        self.files.files["/big.bin"] = (big, "application/octet-stream")
        announced = self.message("l1", [{"kind": "document", "ref": self.files.url("/big.bin"), "size": len(big)}])
        silent = self.message("l2", [{"kind": "video", "ref": self.files.url("/big.bin")}])
        self.fetch()
        self.assertEqual(self.files.requests.count("/big.bin"), 1, "an announced size over the limit is not fetched")
        for message in (announced, silent):
            self.assertEqual(message.media_ids.state, "failed")
            self.assertIn("over the channel's limit of 1 MB", message.media_ids.error)
            self.assertIn("file not available: 1.0 MB, over the channel", message.discuss_message_id.body)
            self.assertFalse(message.discuss_message_id.attachment_ids)

    def test_a_provider_error_is_retried_with_doubling_pauses_then_reported(self):
        self.files.files["/mends.pdf"] = (b"%PDF-1.4", "application/pdf")
        self.files.script["/mends.pdf"] = [503]
        self.files.script["/down.pdf"] = [503] * MAX_TRIES
        mends = self.message("r1", [{"kind": "document", "ref": self.files.url("/mends.pdf"), "filename": "a.pdf"}])
        down = self.message("r2", [{"kind": "document", "ref": self.files.url("/down.pdf")}])
        gone = self.message("r3", [{"kind": "document", "ref": self.files.url("/gone.pdf")}])
        self.fetch()
        self.assertEqual((gone.media_ids.state, gone.media_ids.tries), ("failed", 1), "a 404 will not mend: at once")
        self.assertIn("file not available: the file server answered 404", gone.discuss_message_id.body)
        self.assertEqual((mends.media_ids.state, mends.media_ids.tries), ("pending", 1))
        pauses = []
        for _attempt in range(MAX_TRIES - 1):
            row = down.media_ids
            pauses.append(round((row.next_try - fields.Datetime.now()).total_seconds() / RETRY_BASE_SECONDS))
            (mends.media_ids | down.media_ids).write({"next_try": fields.Datetime.now() - timedelta(seconds=1)})
            self.fetch()
        self.assertEqual(pauses, [1, 2, 4, 8])
        self.assertEqual(mends.media_ids.state, "done")
        self.assertEqual(mends.discuss_message_id.attachment_ids.name, "a.pdf")
        self.assertEqual((down.media_ids.state, down.media_ids.tries), ("failed", MAX_TRIES))
        self.assertIn("file not available: the file server answered 503", down.discuss_message_id.body)
        self.assertNotIn("file not available", mends.discuss_message_id.body)

    def test_the_simulator_sends_a_photo(self):
        simulator = self.env["messenger.simulator"].create(
            {
                "channel_id": self.channel.id,
                "media_kind": "photo",
                "media_file": base64.b64encode(PNG),
                "media_filename": "cat.png",
                "text": "look",
            }
        )
        simulator.action_send()
        message = simulator.contact_id.message_ids_messenger.filtered(lambda m: m.direction == "in")
        self.assertEqual(message.discuss_message_id.attachment_ids.mapped("name"), ["cat.png"])
        self.assertIn("cat.png", simulator.conversation)
