from odoo import models


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    def _message_update_content(self, message, body, attachment_ids=None, partner_ids=None, strict=True, **kwargs):
        """A post that goes to a messenger customer (in a conversation, on a chat lead) is
        changed or deleted, Discuss's Edit and Delete: while its parts wait in the queue,
        what the customer gets follows; once one left, it is refused."""
        parts = self.env["messenger.message"]._lock_post_parts(message)
        result = super()._message_update_content(message, body, attachment_ids, partner_ids, strict, **kwargs)
        self._messenger_repost(message, parts)
        return result

    def _messenger_repost(self, message, parts):
        """``message`` changed while its ``parts`` waited in the queue: they become what it makes now."""
        if parts:
            vals_list = [] if message._filter_empty() else self._messenger_post_vals(message, parts.contact_id)
            parts._replace_with(vals_list)

    def _messenger_post_vals(self, message, contact):
        """The messages to ``contact`` that a post on this record makes: none, but where the
        model sends its posts to the customer (a conversation, a chat lead)."""
        return []
