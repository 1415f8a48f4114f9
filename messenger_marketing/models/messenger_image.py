from odoo import api, models

from ..core import signing
from ..core.public import parse_id

# prefix of a signed image reference -> (model, image field served)
IMAGE_SOURCES = {
    "t": ("product.template", "image_1024"),
    "s": ("messenger.flow.step", "image"),
    "b": ("messenger.content.block", "image"),
    "w": ("messenger.warming.step", "image"),
}


class MessengerImage(models.AbstractModel):
    """Public addresses for the pictures the bot sends. Messengers fetch a picture from a
    URL without logging in, so each one gets a signed reference rather than an open door
    to ``/web/image``: only pictures the bot chose to send can be fetched."""

    _name = "messenger.image"
    _description = "Messenger Public Image"

    def _secret(self):
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        return f"{secret}:messenger-image"

    @api.model
    def _url(self, record):
        """Public URL of the record's picture, or "" when it has none."""
        prefix = next((p for p, (model, _field) in IMAGE_SOURCES.items() if model == record._name), None)
        field = IMAGE_SOURCES[prefix][1]
        if not record or not record.sudo()[field]:
            return ""
        ref = signing.sign(self._secret(), f"{prefix}{record.id}")
        unique = (record.sudo().write_date or record.sudo().create_date).strftime("%Y%m%d%H%M%S")
        return f"{record.get_base_url()}/messenger/image/{ref}?unique={unique}"

    @api.model
    def _record_for(self, ref):
        """(record, field) a signed reference names, or None."""
        value = signing.verify(self._secret(), ref)
        record_id = parse_id(value[1:]) if value else None
        if not record_id or value[0] not in IMAGE_SOURCES:
            return None
        model, field = IMAGE_SOURCES[value[0]]
        record = self.env[model].sudo().browse(record_id).exists()
        return (record, field) if record and record[field] else None
