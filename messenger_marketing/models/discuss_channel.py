"""Conversations in Discuss: one channel of our own type per messenger contact.

What the customer writes, what the bot and the features send and what operators answer
are messages of the contact's channel, in order; each outgoing one carries the status of
its messenger.message. An operator's post (a comment by an internal user) goes to the
customer through the outbox; a post that starts with ``/note`` stays between colleagues.
"""

import base64
import json

from markupsafe import Markup

from odoo import fields, models
from odoo.tools import SQL, html2plaintext

from odoo.addons.mail.tools.discuss import Store

from .messenger_access import USER, check_group

NOTE_PREFIX = "/note"
# The conversation's picture in Discuss: the messenger's colour and initial.
AVATAR_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
    '<rect width="128" height="128" rx="64" fill="{color}"/>'
    '<text x="64" y="84" font-size="60" font-family="sans-serif" font-weight="bold" fill="#fff" '
    'text-anchor="middle">{letter}</text></svg>'
)


class DiscussChannel(models.Model):
    _inherit = "discuss.channel"

    channel_type = fields.Selection(
        selection_add=[("messenger", "Messenger Conversation")], ondelete={"messenger": "cascade"}
    )
    messenger_contact_id = fields.Many2one(
        "messenger.contact", "Messenger Contact", index="btree_not_null", ondelete="cascade", readonly=True
    )

    _sql_constraints = [
        ("messenger_contact_unique", "UNIQUE(messenger_contact_id)", "A messenger contact has one conversation."),
        (
            "messenger_contact_type",
            "CHECK((channel_type = 'messenger') = (messenger_contact_id IS NOT NULL))",
            "A messenger conversation belongs to a messenger contact, and only it.",
        ),
    ]

    def _subscribe_users_automatically(self):
        # a conversation subscribes no group, and has nobody to tell that it exists
        others = self.filtered(lambda c: c.channel_type != "messenger")
        return super(DiscussChannel, others)._subscribe_users_automatically()

    def _generate_avatar(self):
        if self.channel_type != "messenger":
            return super()._generate_avatar()
        contact = self.sudo().messenger_contact_id
        provider = contact.channel_id._provider_class()
        svg = AVATAR_SVG.format(color=provider.brand_color, letter=(provider.label or "?")[:1].upper())
        return base64.b64encode(svg.encode())

    def _to_store(self, store: Store):
        super()._to_store(store)
        for channel in self.filtered(lambda c: c.channel_type == "messenger"):
            contact = channel.sudo().messenger_contact_id
            provider = contact.channel_id._provider_class()
            store.add(
                channel,
                {
                    "messenger_provider": provider.label,
                    "messenger_icon": provider.icon,
                    "messenger_contact_id": contact.id,
                },
            )

    # -- posting ---------------------------------------------------------------------------
    def _messenger_post(self, body, author=None, guest=None):
        """Show a message of the conversation that is no operator's reply (the customer's,
        the bot's, a feature's): nothing is sent. It is written directly, without a full
        post's followers, notifications, alias and reply-to, which are for nobody here (a
        conversation has no follower, and its customer gets nothing by e-mail): on the
        webhook's path a post costs twice as much. Members are notified as Discuss notifies
        them of a post."""
        self.ensure_one()
        channel = self.sudo()
        # in SQL: the ORM's write of a channel compares and broadcasts its whole header. The
        # same statement reads what the post needs, so the channel's row and its members
        # are not fetched on a webhook's path.
        self.env.cr.execute(
            """UPDATE discuss_channel SET last_interest_dt = now() at time zone 'utc' WHERE id = %s
               RETURNING name, EXISTS(SELECT 1 FROM discuss_channel_member
                                      WHERE channel_id = discuss_channel.id AND partner_id IS NOT NULL)""",
            [channel.id],
        )
        name, watched = self.env.cr.fetchone()
        channel.invalidate_recordset(["last_interest_dt"])
        Data = self.env["ir.model.data"]
        values = {
            "model": channel._name,
            "res_id": channel.id,
            "author_id": author.id if author else Data._xmlid_to_res_id("base.partner_root"),
            "reply_to": False,
            "record_name": name,
            "body": body,
            "message_type": "comment",
            "subtype_id": Data._xmlid_to_res_id("mail.mt_comment"),
        }
        if guest:  # no sender address to compute: a guest has none
            values.update(author_guest_id=guest.id, author_id=False, email_from=False)
        message = channel._messenger_insert_message(values)
        if watched:
            # Discuss's own notification of its members: live over the bus, and a web push
            # to their phones (Odoo's mobile app) when the app is closed, queued for Odoo's
            # push cron: a webhook does not wait on the push services. The values spare
            # reading the new message back.
            channel.with_context(messenger_queue_push=True)._notify_thread(message, msg_vals=values)
        return message

    def _messenger_insert_message(self, values):
        """The conversation's new message, as ``mail.message.create`` writes it for these
        values, in one INSERT: the ORM's create costs half of a webhook's work (its
        defaults, its checks of attachments that such a message has none of), and no
        stored field depends on a message's columns. Each value goes through its field's
        own conversion (the body is sanitized as the ORM would), the defaults of the
        fields it leaves out and the sender's address are mail.message's own, and the
        channel's cached messages are dropped as the ORM would (``tests/test_conversation.py``
        compares both rows)."""
        Message = self.env["mail.message"].sudo()
        values = dict(values)
        if "email_from" not in values:
            values["email_from"] = self.env["mail.thread"]._message_compute_author(
                values.get("author_id"), email_from=None, raise_on_email=False
            )[1]
        now = self.env.cr.now()
        values = {
            **{
                name: field.default(Message)
                for name, field in Message._fields.items()
                if field.store and field.default and name not in values
            },
            "date": now,
            "message_id": Message._get_message_id(values),
            "create_uid": self.env.uid,
            "create_date": now,
            "write_uid": self.env.uid,
            "write_date": now,
            **values,
        }
        self.env.cr.execute(
            SQL(
                "INSERT INTO mail_message (%s) VALUES (%s) RETURNING id",
                SQL(", ").join(SQL.identifier(name) for name in values),
                SQL(", ").join(
                    Message._fields[name].convert_to_column_insert(value, Message, values)
                    for name, value in values.items()
                ),
            )
        )
        self.invalidate_recordset(["message_ids"])
        return Message.browse(self.env.cr.fetchone()[0])

    def _notify_get_recipients(self, message, msg_vals, **kwargs):
        """The members to notify of a conversation's message that mentions nobody (the
        customer's, the bot's): Discuss's own rule for a channel that is not a public one
        (members but the author, with an active partner, not muted, whose user's settings
        are not muted), in one query instead of an ORM search over four joins, on the
        webhook's path. The rest (mentions, an operator's posts) is Discuss's."""
        if (
            self.channel_type != "messenger"
            or not msg_vals
            or msg_vals.get("partner_ids")
            or msg_vals.get("message_type") != "comment"
        ):
            return super()._notify_get_recipients(message, msg_vals, **kwargs)
        self.env["discuss.channel.member"].flush_model(["channel_id", "partner_id", "mute_until_dt"])
        self.env["res.partner"].flush_model(["active", "lang", "partner_share"])
        self.env["res.users"].flush_model(["partner_id"])
        self.env["res.users.settings"].flush_model(["user_id", "mute_until_dt"])
        self.env.cr.execute(
            """SELECT DISTINCT p.id, p.lang, p.partner_share
               FROM discuss_channel_member m JOIN res_partner p ON p.id = m.partner_id AND p.active
               WHERE m.channel_id = %s AND m.partner_id IS DISTINCT FROM %s AND m.mute_until_dt IS NULL
                 AND EXISTS (SELECT 1 FROM res_users u JOIN res_users_settings s ON s.user_id = u.id
                             WHERE u.partner_id = p.id AND s.mute_until_dt IS NULL)""",
            [self.id, msg_vals.get("author_id") or None],
        )
        return [
            {
                "active": True,
                "id": partner_id,
                "is_follower": False,
                "groups": [],
                "lang": lang,
                "notif": "web_push",
                "share": share,
                "type": "customer",
                "uid": False,
                "ushare": False,
            }
            for partner_id, lang, share in self.env.cr.fetchall()
        ]

    def _notify_thread_by_web_push(self, message, recipients_data, msg_vals=False, **kwargs):
        if not self.env.context.get("messenger_queue_push"):
            return super()._notify_thread_by_web_push(message, recipients_data, msg_vals=msg_vals, **kwargs)
        partner_ids = [r["id"] for r in recipients_data if r["notif"] == "web_push"]
        devices = self.env["mail.push.device"].sudo().search([("partner_id", "in", partner_ids)])
        if not devices:
            return None
        payload = self._truncate_payload(self._notify_by_web_push_prepare_payload(message, msg_vals=msg_vals))
        self.env["mail.push"].sudo().create(
            [{"mail_push_device_id": device.id, "payload": json.dumps(payload)} for device in devices]
        )
        self.env.ref("mail.ir_cron_web_push_notification")._trigger()
        return None

    def _message_create(self, values_list):
        guest = self.env.context.get("messenger_author_guest")
        if guest:
            # the customer writes as a guest of the conversation, never as a partner who
            # could be a portal user, or be e-mailed
            for values in values_list:
                values.update(author_guest_id=guest, author_id=False, email_from=False)
        return super()._message_create(values_list)

    def message_post(self, **kwargs):
        """An operator's post in a messenger conversation goes to the customer."""
        message = super().message_post(**kwargs)
        if self.channel_type == "messenger" and not self.env.context.get("messenger_inbound"):
            self._messenger_send_post(message)
        return message

    def _messenger_send_post(self, message):
        text = self._messenger_post_text(message)
        if text is not None:
            self.sudo().messenger_contact_id._send_reply(text, message.attachment_ids, message)

    def _messenger_post_vals(self, message, contact):
        text = self._messenger_post_text(message)
        return [] if text is None else contact._reply_vals(text, message.attachment_ids, message)

    def _messenger_post_text(self, message):
        """The text of a post that goes to the customer: an internal user's comment that is
        no ``/note``; None for any other. Refused for a user who may not write to them."""
        if (
            message.message_type != "comment"
            or message.subtype_id != self.env.ref("mail.mt_comment")
            or not self.env.user._is_internal()
        ):
            return None
        text = html2plaintext(message.body or "").strip()
        if text.startswith(NOTE_PREFIX):
            return None  # between colleagues
        # as the user: Discuss posts as superuser; a refusal undoes the post
        check_group(self.sudo().messenger_contact_id.with_user(self.env.user), USER)
        return text

    def _messenger_notify(self, partners, body):
        """Tell these members something in the conversation: a mention, in their Discuss inbox."""
        self.ensure_one()
        return (
            self.sudo()
            .with_context(messenger_inbound=True)
            .message_post(
                body=body,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
                author_id=self.env.ref("base.partner_root").id,
                partner_ids=partners.ids,
            )
        )

    def _messenger_join(self, users):
        """The users become members (an operator who holds or follows the conversation)."""
        self.ensure_one()
        partners = users.partner_id - self.sudo().channel_member_ids.partner_id
        if partners:
            self.sudo().add_members(partner_ids=partners.ids, post_joined_message=False)

    def _messenger_leave(self, users):
        self.ensure_one()
        for member in self.sudo().channel_member_ids.filtered(lambda m: m.partner_id in users.partner_id):
            self.sudo()._action_unfollow(partner=member.partner_id)

    def _messenger_note(self, text):
        """An internal line in the conversation (a hand-off, a take-over): nothing is sent."""
        self.ensure_one()
        return (
            self.sudo()
            .with_context(messenger_inbound=True)
            .message_post(
                body=Markup("<p>%s</p>") % text,
                message_type="notification",
                subtype_xmlid="mail.mt_note",
                author_id=self.env.ref("base.partner_root").id,
            )
        )


class DiscussChannelMember(models.Model):
    _inherit = "discuss.channel.member"

    def _set_last_seen_message(self, message, notify=True):
        """A person read the conversation in Discuss: the inbox counts it read."""
        result = super()._set_last_seen_message(message, notify=notify)
        read = self.filtered(
            lambda m: m.partner_id.user_ids and m.channel_id.channel_type == "messenger"
        ).channel_id.messenger_contact_id.filtered("unread_count")
        if read:
            read.sudo()._mark_read(self.partner_id.user_ids)
        return result


class MailMessage(models.Model):
    _inherit = "mail.message"

    def _to_store(self, store: Store, /, **kwargs):
        super()._to_store(store, **kwargs)
        in_channels = self.filtered(lambda m: m.model == "discuss.channel")
        if not in_channels:
            return
        Message = self.env["messenger.message"].sudo()
        rows = Message.search([("discuss_message_id", "in", in_channels.ids)])
        for message, parts in rows.grouped("discuss_message_id").items():
            store.add(message, parts._status_values())
