"""Files in what customers send, fetched after the webhook.

The webhook records what to fetch (the provider's reference) and nothing more: a
provider's file can take seconds to download, and the webhook answers in milliseconds.
The cron, woken after the webhook's commit, fetches each file with the channel provider's
``fetch_media`` and attaches it to the message in the conversation. A provider error that
a later try may mend is retried with doubling pauses; after the last try, or at once for
one that will not mend (gone, too large), the message says "file not available" and why.
"""

import asyncio
import logging
import threading
from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models

from ..core.providers.base import InboundMedia, MediaError

_logger = logging.getLogger(__name__)

MAX_TRIES = 5
RETRY_BASE_SECONDS = 30
BATCH = 20
KINDS = [
    ("photo", "Photo"),
    ("document", "Document"),
    ("voice", "Voice message"),
    ("audio", "Audio"),
    ("video", "Video"),
    ("sticker", "Sticker"),
    ("location", "Location"),
]


def file_attachment(record, field="file", name_field="file_name"):
    """The attachment that holds ``record``'s file field, named as the file: a template's
    or a flow step's file is sent as this attachment (the provider shows its name)."""
    if not record[field]:
        return record.env["ir.attachment"]
    attachment = (
        record.env["ir.attachment"]
        .sudo()
        .search([("res_model", "=", record._name), ("res_id", "=", record.id), ("res_field", "=", field)], limit=1)
    )
    name = record[name_field] or attachment.name
    if attachment and attachment.name != name:
        attachment.name = name
    return attachment


class MessengerMedia(models.Model):
    _name = "messenger.media"
    _description = "Messenger File to Fetch"
    _order = "id"

    message_id = fields.Many2one("messenger.message", required=True, ondelete="cascade", index=True)
    contact_id = fields.Many2one(related="message_id.contact_id")
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade")
    company_id = fields.Many2one(related="channel_id.company_id")
    kind = fields.Selection(KINDS, required=True)
    ref = fields.Char("Provider Reference", required=True, help="What the provider needs to hand the file over.")
    mimetype = fields.Char()
    filename = fields.Char()
    size = fields.Integer(help="Bytes, as the provider announced them (0: unknown).")
    state = fields.Selection(
        [("pending", "To Fetch"), ("done", "Fetched"), ("failed", "Not Available")],
        default="pending",
        required=True,
    )
    tries = fields.Integer(default=0)
    next_try = fields.Datetime(default=fields.Datetime.now)
    error = fields.Char()
    attachment_id = fields.Many2one("ir.attachment", ondelete="set null")

    def init(self):
        self.env.cr.execute(
            """CREATE INDEX IF NOT EXISTS messenger_media_due_idx
               ON messenger_media (next_try) WHERE state = 'pending'"""
        )

    @api.model
    def _plan(self, message, media):
        """What the webhook does with a message's files: rows to fetch after commit."""
        files = [m for m in media if m.kind != "location" and m.ref]
        if not files:
            return self.browse()
        rows = self.sudo().create(
            [
                {
                    "message_id": message.id,
                    "channel_id": message.channel_id.id,
                    "kind": m.kind if m.kind in dict(KINDS) else "document",
                    "ref": m.ref,
                    "mimetype": m.mimetype or False,
                    "filename": m.filename or False,
                    "size": m.size or 0,
                }
                for m in files
            ]
        )
        self.env.ref("messenger_marketing.ir_cron_messenger_fetch_media")._trigger()
        return rows

    # -- the job ---------------------------------------------------------------------------
    @api.model
    def _cron_fetch(self, auto_commit=None):
        """Fetch the files that are due, a batch per channel, each batch committed."""
        if auto_commit is None:
            auto_commit = not getattr(threading.current_thread(), "testing", False)
        Media = self.sudo()
        while True:
            self.flush_model()
            self.env.cr.execute(
                """SELECT id FROM messenger_media WHERE state = 'pending' AND next_try <= %s
                   ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED""",
                [fields.Datetime.now(), BATCH],
            )
            rows = Media.browse([r[0] for r in self.env.cr.fetchall()])
            if not rows:
                break
            for channel, group in rows.grouped("channel_id").items():
                group._fetch(channel)
            if auto_commit:
                self.env.cr.commit()
            else:
                self.env.flush_all()
        self._schedule_next()

    def _schedule_next(self):
        self.flush_model()
        self.env.cr.execute("SELECT min(next_try) FROM messenger_media WHERE state = 'pending'")
        when = self.env.cr.fetchone()[0]
        if when:
            self.env.ref("messenger_marketing.ir_cron_messenger_fetch_media")._trigger(at=when)

    def _fetch(self, channel):
        limit = (channel.media_max_mb or 0) * 1024 * 1024
        fetchable = self.browse()
        for row in self:
            if limit and row.size > limit:
                row._give_up(row._too_large(row.size, limit))
            else:
                fetchable |= row
        if not fetchable:
            return
        provider = channel._provider()
        results = asyncio.run(self._fetch_all(provider, [row._inbound() for row in fetchable]))
        for row, result in zip(fetchable, results, strict=True):
            if isinstance(result, MediaError):
                if result.retryable and row.tries + 1 < MAX_TRIES:
                    delay = RETRY_BASE_SECONDS * 2**row.tries
                    row.write(
                        {
                            "tries": row.tries + 1,
                            "error": result.reason,
                            "next_try": fields.Datetime.now() + timedelta(seconds=delay),
                        }
                    )
                else:
                    row._give_up(result.reason)
            elif limit and len(result.data) > limit:
                row._give_up(row._too_large(len(result.data), limit))
            else:
                row._attach(result)

    @staticmethod
    async def _fetch_all(provider, media):
        """The files (or the MediaError of each), in one event loop with the provider open."""

        async def one(item):
            try:
                return await provider.fetch_media(item)
            except MediaError as exc:
                return exc
            except Exception as exc:
                _logger.exception("Messenger: fetching a file failed")
                return MediaError(f"Unexpected error while fetching: {exc!r}")

        await provider.open()
        try:
            return await asyncio.gather(*(one(item) for item in media))
        finally:
            await provider.close()

    def _inbound(self):
        self.ensure_one()
        return InboundMedia(
            kind=self.kind, ref=self.ref, mimetype=self.mimetype or "", filename=self.filename or "", size=self.size
        )

    def _too_large(self, size, limit):
        return _(
            "%(size).1f MB, over the channel's limit of %(limit)d MB",
            size=size / 1024 / 1024,
            limit=limit // 1024 // 1024,
        )

    def _default_filename(self, mimetype):
        extension = (mimetype or "").split("/")[-1].split(";")[0].replace("jpeg", "jpg") or "bin"
        return f"{self.kind}-{self.id}.{extension}"

    def _attach(self, fetched):
        """The file becomes an attachment of the message in the conversation, live."""
        self.ensure_one()
        discuss_message = self.message_id.discuss_message_id
        mimetype = fetched.mimetype or self.mimetype or False
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": fetched.filename or self.filename or self._default_filename(mimetype),
                    "raw": fetched.data,
                    "mimetype": mimetype,
                    "res_model": discuss_message.model or "messenger.message",
                    "res_id": discuss_message.res_id or self.message_id.id,
                }
            )
        )
        self.write({"state": "done", "attachment_id": attachment.id, "error": False, "tries": self.tries + 1})
        if discuss_message:
            discuss_message.sudo().attachment_ids = [(4, attachment.id)]
            self._show(discuss_message)

    def _give_up(self, reason):
        """The file will not come: the message in the conversation says so, and why."""
        self.ensure_one()
        self.write({"state": "failed", "error": reason, "tries": self.tries + 1})
        discuss_message = self.message_id.discuss_message_id.sudo()
        if discuss_message:
            note = Markup("<p><i>%s</i></p>") % _("file not available: %s", reason)
            discuss_message.body = (discuss_message.body or Markup()) + note
            self._show(discuss_message)

    def _show(self, discuss_message):
        if discuss_message.model == "discuss.channel":
            self.env["discuss.channel"].sudo().browse(discuss_message.res_id)._bus_send_store(discuss_message)
