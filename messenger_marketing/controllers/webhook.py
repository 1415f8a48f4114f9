import json
import logging

from odoo import http
from odoo.http import request

from ..core.providers import WebhookRejectedError, WebhookReply
from ..models.messenger_inbound import prefetched_columns

_logger = logging.getLogger(__name__)

MAX_BYTES_PARAM = "messenger_marketing.webhook_max_bytes"
DEFAULT_MAX_BYTES = 1024 * 1024  # the largest update of any provider is a few kilobytes


class MessengerWebhook(http.Controller):
    @http.route(
        "/messenger/webhook/<string:key>",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
    )
    def webhook(self, key, **_kwargs):
        """Provider webhooks. The key in the URL finds the channel; the provider's own
        check (secret header, signature) authenticates the call. A provider may first
        check the address itself (Meta's GET challenge, VK's confirmation request), which
        the provider answers. Refusals are logged without any secret, and store nothing."""
        Channel = request.env["messenger.channel"].sudo()
        # found and read in one query: the provider reads its credentials, and every
        # request, a refused one too, needs it
        channel = Channel.search_fetch([("webhook_key", "=", key)], prefetched_columns(Channel), limit=1)
        if not key or not channel:
            _logger.warning("Messenger webhook: unknown channel key from %s", request.httprequest.remote_addr)
            return self._answer(WebhookReply(404, {"ok": False, "error": "unknown channel"}))
        provider = channel._provider()
        httprequest = request.httprequest
        limit = self._max_bytes()
        body = self._body(limit)
        if body is None:
            _logger.warning(
                "Messenger webhook refused for channel %s from %s: body over %s bytes",
                channel.id,
                httprequest.remote_addr,
                limit,
            )
            return self._answer(WebhookReply(413, {"ok": False, "error": f"body over {limit} bytes"}))
        try:
            reply = provider.challenge(httprequest.method, httprequest.args.to_dict(), httprequest.headers, body)
            if reply is not None:
                _logger.info("Messenger webhook: %s checked the address of channel %s", channel.provider, channel.id)
                return self._answer(reply)
            if httprequest.method != "POST":
                raise WebhookRejectedError(405, "only POST brings events")
            provider.verify_webhook(httprequest.headers, body)
            events = provider.check_events(provider.parse_webhook(body))
        except WebhookRejectedError as exc:
            _logger.warning(
                "Messenger webhook refused for channel %s from %s: %s",
                channel.id,
                httprequest.remote_addr,
                exc.reason,
            )
            return self._answer(WebhookReply(exc.status, {"ok": False, "error": exc.reason}))
        request.env["messenger.inbound"].sudo()._process(channel, events)
        if any(event.callback_id for event in events):
            # VK and MAX acknowledge a button press by a call, which waits on the network:
            # not while this transaction holds the rows it wrote (a dispatcher's, an operator's)
            request.env.cr.commit()
            try:
                provider.answer_callbacks(events)
            except Exception:  # the events are stored: the provider must get its 200
                _logger.exception("Messenger webhook: answering a button press failed on channel %s", channel.id)
        return self._answer(WebhookReply(200, provider.webhook_reply(events)))

    @staticmethod
    def _max_bytes():
        value = request.env["ir.config_parameter"].sudo().get_param(MAX_BYTES_PARAM)
        try:
            return int(value) if value else DEFAULT_MAX_BYTES
        except ValueError:  # a typo in the setting must not stop every webhook
            _logger.warning("Messenger webhook: %s=%r is not a number of bytes", MAX_BYTES_PARAM, value)
            return DEFAULT_MAX_BYTES

    @staticmethod
    def _body(limit):
        """The request body, or None when it is longer than ``limit`` bytes: never read
        more than one byte past the limit, whatever the request says of its length."""
        httprequest = request.httprequest
        if (httprequest.content_length or 0) > limit:
            return None
        # Werkzeug reads a chunked body to its end, and trusts a chunked body over its
        # Content-Length: read its stream ourselves, which Odoo's request does not expose.
        wrapped = httprequest._HTTPRequest__wrapped
        if getattr(wrapped, "_cached_data", None) is None:
            chunks, size = [], 0
            while size <= limit:
                chunk = wrapped.stream.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            # kept where get_data() keeps it: Odoo runs the request again after a
            # serialization failure, and the second run must read the same body
            wrapped._cached_data = b"".join(chunks)
        body = wrapped._cached_data
        return body if len(body) <= limit else None

    @staticmethod
    def _answer(reply):
        if isinstance(reply.body, str):
            data, ctype = reply.body, "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(reply.body), "application/json"
        return request.make_response(data, headers=[("Content-Type", ctype)], status=reply.status)
