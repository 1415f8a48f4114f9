from odoo import models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def _delete_and_notify(self, message=None):
        """A file taken off a post (Discuss's remove on a message's file): what goes to a
        messenger customer follows, as for an edit (mail.thread._message_update_content)."""
        if not message:
            return super()._delete_and_notify(message)
        parts = self.env["messenger.message"]._lock_post_parts(message)
        result = super()._delete_and_notify(message)
        if parts:
            self.env[message.model].browse(message.res_id)._messenger_repost(message, parts)
        return result
