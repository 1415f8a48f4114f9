"""18.0.1.3.0: conversations live in Discuss.

They used to be the chatter of the messenger.contact form: the customer's messages and the
operators' replies were comments there. Each contact with such comments gets its Discuss
channel, and the comments move into it, with their attachments: the customer's as the
channel's guest, a person of Odoo's as themselves. The outbox's rows that those replies
queued are linked to the moved posts (so they show their status); the contact's other rows
are not posted again (a channel shows earlier rows only when it starts new). Notes, tracking and
activities stay on the contact. An operator who holds a conversation becomes its member.
"""

import logging

from odoo import SUPERUSER_ID, api

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    move_conversations(api.Environment(cr, SUPERUSER_ID, {}))


def move_conversations(env):
    """Move the contacts' chatter conversations into Discuss; returns the channels made."""
    cr = env.cr
    comment = env.ref("mail.mt_comment").id
    cr.execute(
        """SELECT DISTINCT res_id FROM mail_message
           WHERE model = 'messenger.contact' AND message_type = 'comment' AND subtype_id = %s""",
        [comment],
    )
    contacts = env["messenger.contact"].browse([r[0] for r in cr.fetchall()]).exists()
    contacts = contacts.filtered(lambda c: not c.discuss_channel_id)
    channels = env["discuss.channel"]
    for contact in contacts:
        channel = contact._create_conversation()
        channels |= channel
        cr.execute(
            """WITH moved AS (
                   SELECT m.id, EXISTS (SELECT 1 FROM res_users u
                                        WHERE u.partner_id = m.author_id AND NOT u.share) AS by_user
                   FROM mail_message m
                   WHERE m.model = 'messenger.contact' AND m.res_id = %(contact)s
                     AND m.message_type = 'comment' AND m.subtype_id = %(comment)s)
               UPDATE mail_message m
               SET model = 'discuss.channel', res_id = %(channel)s, record_name = %(name)s,
                   author_guest_id = CASE WHEN moved.by_user THEN NULL ELSE %(guest)s END,
                   author_id = CASE WHEN moved.by_user THEN m.author_id END
               FROM moved WHERE m.id = moved.id
               RETURNING m.id""",
            {
                "channel": channel.id,
                "name": channel.name,
                "guest": contact.guest_id.id,
                "contact": contact.id,
                "comment": comment,
            },
        )
        moved = [r[0] for r in cr.fetchall()]
        cr.execute(
            """UPDATE ir_attachment SET res_model = 'discuss.channel', res_id = %s
               WHERE id IN (SELECT attachment_id FROM message_attachment_rel WHERE message_id = ANY(%s))""",
            [channel.id, moved],
        )
        # the replies show with their status (the other rows are not posted again: only
        # a new conversation shows the rows before it)
        cr.execute(
            """UPDATE messenger_message SET discuss_message_id = mail_message_id
               WHERE contact_id = %s AND mail_message_id = ANY(%s)""",
            [contact.id, moved],
        )
        if contact.answered_by == "operator" and contact.user_id:
            channel._messenger_join(contact.user_id)
    env.invalidate_all()
    _logger.info("Messenger: %s conversations moved from the contacts' chatter into Discuss", len(channels))
    return channels
