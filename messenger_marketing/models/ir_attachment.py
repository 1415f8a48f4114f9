from functools import partial

from odoo import models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    def _delete_and_notify(self, message=None):
        """A file taken off a post (Discuss's remove on a message's file): as for an edit,
        a post that goes to a messenger customer is followed, or the change refused."""
        if not message:
            return super()._delete_and_notify(message)
        change = partial(super()._delete_and_notify, message)
        return self.env["messenger.message"]._follow_post_change(message, change)
