import logging

from werkzeug.exceptions import NotFound

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)


class MessengerLanding(http.Controller):
    @http.route(
        "/messenger/image/<string:ref>", type="http", auth="public", methods=["GET"], readonly=True, save_session=False
    )
    def image(self, ref, **_kwargs):
        """A picture the bot sends (product card, content block, step), fetched by the
        messenger's servers: only signed references are served."""
        found = request.env["messenger.image"]._record_for(ref)
        if not found:
            _logger.info("Messenger image: refused reference from %s", request.httprequest.remote_addr)
            raise NotFound()
        record, field = found
        stream = request.env["ir.binary"]._get_image_stream_from(record, field)
        return stream.get_response(max_age=86400)
