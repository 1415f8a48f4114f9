from functools import partial

from odoo import models


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    def _message_update_content(self, message, body, attachment_ids=None, partner_ids=None, strict=True, **kwargs):
        """Discuss's Edit and Delete: a post that goes to a messenger customer (in a
        conversation, on a chat lead) is followed, or the change refused
        (messenger.message._follow_post_change)."""
        change = partial(super()._message_update_content, message, body, attachment_ids, partner_ids, strict, **kwargs)
        return self.env["messenger.message"]._follow_post_change(message, change)

    def _messenger_post_vals(self, message, contact):
        """The messages to ``contact`` that a post on this record makes: none, but where the
        model sends its posts to the customer (a conversation, a chat lead)."""
        return []
