"""What the Meta platforms share: the Graph API through requests, its errors, and the
webhook checks (the GET ``hub.challenge`` with our verify token, the
``X-Hub-Signature-256`` HMAC of the raw body with the app secret).

``MetaProvider`` is the base of WhatsApp, Messenger and Instagram; ``MetaMessagingProvider``
adds the Send API and the ``messaging`` webhook events that Messenger and Instagram share.
"""

import hashlib
import hmac
import json
import logging
import posixpath
import re
from urllib.parse import urlsplit

import requests

from .base import (
    BLOCKED,
    DAY,
    MALFORMED,
    PERMANENT,
    SENT,
    TRANSIENT,
    FetchedFile,
    InboundEvent,
    InboundMedia,
    MediaError,
    SendResult,
    WebhookRejectedError,
    WebhookReply,
    _lt,
    media_filename,
    tolerated,
)
from .blocking import BlockingProvider

_logger = logging.getLogger(__name__)

GRAPH_VERSION = "v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# Graph API error codes that every Meta platform uses for "too many calls": retried after
# this many seconds
_RATE_CODES = {4: 60.0, 17: 60.0, 32: 60.0, 613: 30.0, 80006: 60.0, 80007: 60.0}
_TEMPORARY_CODES = {1, 2, 1200}  # unknown / temporary failure: retried with backoff


class GraphError(Exception):
    """An error answer of the Graph API (or an answer that is not one of its JSON bodies)."""

    def __init__(self, status, error=None, text=""):
        error = error if isinstance(error, dict) else {}
        self.status = status
        self.error = error
        self.code = error.get("code")
        self.subcode = error.get("error_subcode")
        data = error.get("error_data")
        self.details = data.get("details") if isinstance(data, dict) else ""
        self.message = error.get("message") or text or f"HTTP {status}"
        super().__init__(self.describe())

    def describe(self):
        code = f"#{self.code}" + (f"/{self.subcode}" if self.subcode else "") if self.code else f"HTTP {self.status}"
        return f"{code} {self.message}" + (f" ({self.details})" if self.details else "")


# the last step of the setup of every Meta platform
APP_SECRET_STEP = _lt("The <b>App secret</b> is in the app's <b>Settings › Basic</b>.")


class MetaProvider(BlockingProvider):
    """Graph API calls, error classification and webhook checks for Meta platforms."""

    default_api_base_url = "https://graph.facebook.com"
    messaging_window = DAY
    optional_credentials = ("app_secret",)  # without it every webhook call is refused, and the test says so
    config_fields = {"app_secret": "app_secret"}
    webhook_object = ""  # the "object" of the platform's webhook bodies
    webhook_fields = ("webhook_secret",)  # pasted into the app's webhook settings
    field_labels = {**BlockingProvider.field_labels, "webhook_secret": _lt("Verify Token")}
    webhook_help = _lt(
        "In the Meta app's <b>Webhooks</b> settings, paste the webhook address as the callback URL and the verify "
        "token, and subscribe to the <i>messages</i> field. Register Webhook then subscribes the app to this "
        "account's events."
    )

    # -- Graph API -----------------------------------------------------------------------
    def graph(self, method, path, payload=None, params=None, *, form=None, files=None):
        """Call the Graph API with the channel's token; return the JSON answer or raise
        GraphError. The token goes in a header, never in the address (addresses are logged).
        An upload posts ``form`` fields and ``files`` as multipart instead of a JSON payload."""
        params = dict(params or {})
        if self.config.app_secret:
            # Proves the call comes from the app: with "Require App Secret" on, Meta refuses calls without it.
            params["appsecret_proof"] = hmac.new(
                self.config.app_secret.encode(), self.config.token.encode(), hashlib.sha256
            ).hexdigest()
        response = self.session.request(
            method,
            f"{self.base_url}/{GRAPH_VERSION}/{path}",
            json=payload,
            data=form,
            files=files,
            params=params,
            headers={"Authorization": f"Bearer {self.config.token}"},
            timeout=self.config.request_timeout,
        )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400 or not isinstance(data, dict) or "error" in data:
            error = data.get("error") if isinstance(data, dict) else None
            raise GraphError(response.status_code, error, text=response.text[:200])
        return data

    def classify_code(self, key, exc, reason):
        """The SendResult of a Graph error; platforms add the codes they give a meaning to."""
        if exc.code in _RATE_CODES:
            return SendResult(key, TRANSIENT, reason=reason, retry_after=_RATE_CODES[exc.code])
        if exc.code in _TEMPORARY_CODES or (exc.status >= 500 and exc.code is None) or exc.status == 429:
            return SendResult(key, TRANSIENT, reason=f"{self.label} unavailable: {exc.describe()}")
        if exc.code == 190:
            reason += " (the access token expired or was revoked)"
        return SendResult(key, PERMANENT, reason=reason)

    def classify_error(self, key, exc):
        if isinstance(exc, GraphError):
            return self.classify_code(key, exc, f"{self.label} refused the message: {exc.describe()}")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return self.timed_out(key)
        if isinstance(exc, requests.exceptions.RequestException):
            return SendResult(key, TRANSIENT, reason=f"{self.label} unavailable: {exc.__class__.__name__}")
        return self.unexpected(key, exc)

    def media_failure(self, exc):
        """The MediaError of a failed Graph call while fetching a file."""
        if isinstance(exc, GraphError):
            retryable = self.classify_code(0, exc, "").outcome == TRANSIENT
            return MediaError(f"{self.label} did not hand over the file: {exc.describe()}", retryable=retryable)
        if isinstance(exc, requests.exceptions.RequestException):
            return MediaError(f"{self.label} did not hand over the file: {exc.__class__.__name__}")
        return MediaError(f"{self.label} did not hand over the file: {exc!r}", retryable=False)

    def check_config(self, *required):
        """Raise a ValueError naming the first setting that is missing."""
        for value, label in required:
            if not value:
                raise ValueError(f"Fill in the {label}.")

    def configure(self, method, path, what, params=None):
        """A configuration call; a failure becomes a ValueError that says what went wrong."""

        def run():
            try:
                return self.graph(method, path, params=params)
            except GraphError as exc:
                hint = {
                    190: " The access token expired or was revoked.",
                    100: " Check the ID: it does not exist or this token cannot see it.",
                }.get(exc.code, "")
                if "appsecret_proof" in exc.message:
                    hint = " The app secret does not belong to the app of this token."
                raise ValueError(f"{what}: {exc.describe()}.{hint}") from exc
            except requests.exceptions.RequestException as exc:
                raise ValueError(f"{what}: {self.label} did not answer ({exc.__class__.__name__}).") from exc

        return self.call(run)

    def app_secret_warning(self, info):
        if not self.config.app_secret:
            info["warning"] = "Fill in the app secret: without it, every webhook call is refused."
        return info

    # -- webhooks ------------------------------------------------------------------------
    def challenge(self, method, query, headers, body):
        """Meta checks a webhook address with a GET that must echo ``hub.challenge`` when
        ``hub.verify_token`` is the token we gave it."""
        if method != "GET":
            return None
        if query.get("hub.mode") != "subscribe" or "hub.challenge" not in query:
            raise WebhookRejectedError(400, "not a subscription check")
        self.check_secret(query.get("hub.verify_token"), self.config.webhook_secret, "wrong verify token")
        return WebhookReply(200, str(query["hub.challenge"]))

    def verify_webhook(self, headers, body):
        secret = self.config.app_secret or ""
        given = headers.get(SIGNATURE_HEADER) or ""
        if not secret:
            raise WebhookRejectedError(403, "no app secret on the channel to check the signature with")
        if not given:
            raise WebhookRejectedError(403, f"missing {SIGNATURE_HEADER}")
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        self.check_secret(given, expected, f"wrong {SIGNATURE_HEADER}")

    def _body(self, body):
        data = self.load_json(body)
        if not isinstance(data, dict) or data.get("object") != self.webhook_object:
            raise WebhookRejectedError(400, f"not a {self.label} webhook (object is not {self.webhook_object!r})")
        if not isinstance(data.get("entry"), list):
            raise WebhookRejectedError(400, "no entry list")
        return data

    def parse_webhook(self, body):
        data = self._body(body)
        try:
            return [event for entry in data["entry"] for event in self._entry_events(entry)]
        except MALFORMED as exc:
            raise WebhookRejectedError(400, f"malformed event: {exc.__class__.__name__}") from exc

    def _entry_events(self, entry):
        raise NotImplementedError


_PHONE = re.compile(r"\+?\d[\d ()-]{5,}\d")


# the Send API's attachment type of each OutgoingFile kind, and the InboundMedia kind of
# each attachment type a person sends (their only audio is a voice clip)
_ATTACHMENT_TYPES = {"photo": "image", "document": "file", "audio": "audio", "video": "video"}
_INBOUND_TYPES = {"image": "photo", "file": "document", "audio": "voice", "video": "video"}


class MetaMessagingProvider(MetaProvider):
    """The Send API and the ``messaging`` webhook events of Messenger and Instagram."""

    upload_platform = ""  # the Attachment Upload API's "platform" for an account that is no Page
    max_quick_replies = 13
    supports_button_template = False
    supports_phone_quick_reply = False
    # message tags allowed outside the 24-hour window, by message kind
    message_tags = {}

    def outside_window(self, message):
        if self.message_tags.get(message.kind):
            return None  # sent with its message tag
        kinds = ", ".join(sorted(self.message_tags)) or "no"
        return self.refuse(
            message,
            f"Outside the 24-hour window: {self.label} delivers a message only within 24 hours of the "
            f"person's last message ({kinds} messages excepted, with a message tag).",
            outside_window=True,
        )

    def classify_code(self, key, exc, reason):
        # Meta's "this person isn't available right now": blocked, deactivated or unreachable
        if exc.code == 551 or exc.subcode in (1545041, 2018108):
            return SendResult(key, BLOCKED, reason=reason)
        if exc.code == 10 and exc.subcode in (2018065, 2018278, 2534022):
            return SendResult(key, PERMANENT, reason=reason, outside_window=True)
        return super().classify_code(key, exc, reason)

    def _message_body(self, text, buttons):
        payloads = [b for row in buttons for b in row if b.get("payload")]
        links = [b for row in buttons for b in row if b.get("url")]
        phone = self.supports_phone_quick_reply and any(b.get("request_contact") for row in buttons for b in row)
        if self.supports_button_template and links and len(payloads) + len(links) <= 3 and len(text) <= 640:
            template_buttons = [
                {"type": "web_url", "url": b["url"], "title": b["text"][:20]}
                if b.get("url")
                else {"type": "postback", "payload": b["payload"], "title": b["text"][:20]}
                for row in buttons
                for b in row
                if b.get("url") or b.get("payload")
            ]
            payload = {"template_type": "button", "text": text, "buttons": template_buttons}
            return {"attachment": {"type": "template", "payload": payload}}
        if links:  # no room for link buttons: the addresses go under the text
            text = f"{text}\n\n" + "\n".join(f"{b['text']}: {b['url']}" for b in links)
        body = {"text": text}
        quick = [{"content_type": "text", "title": b["text"][:20], "payload": b["payload"]} for b in payloads]
        if phone:
            quick.insert(0, {"content_type": "user_phone_number"})
        if quick:
            body["quick_replies"] = quick[: self.max_quick_replies]
        return body

    def send_blocking(self, message):
        text, _format = self.prepare_text(message.text, message.text_format)
        tag = None if self.window_open(message) else self.message_tags.get(message.kind)
        envelope = {"recipient": {"id": message.chat_id}}
        if tag:
            envelope.update(messaging_type="MESSAGE_TAG", tag=tag)
        else:
            envelope["messaging_type"] = "RESPONSE" if message.kind == "service" else "UPDATE"
        path = f"{self.config.account_id}/messages"
        try:
            # a picture or a file goes first, in a message of its own; the text (with its
            # buttons) follows it
            if message.attachment:
                attachment = self._upload(message.attachment)
                answer = self.graph("POST", path, {**envelope, "message": {"attachment": attachment}})
            elif message.image_url:
                picture = {"type": "image", "payload": {"url": message.image_url, "is_reusable": True}}
                answer = self.graph("POST", path, {**envelope, "message": {"attachment": picture}})
            if text or message.buttons or not (message.attachment or message.image_url):
                answer = self.graph("POST", path, {**envelope, "message": self._message_body(text, message.buttons)})
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        return SendResult(message.key, SENT, provider_message_id=str(answer.get("message_id") or ""))

    def _upload(self, file):
        """Upload a file with the Attachment Upload API; return the attachment that sends it."""
        kind = _ATTACHMENT_TYPES[file.kind]
        message = {"attachment": {"type": kind, "payload": {"is_reusable": True}}}
        form = {"message": json.dumps(message)}
        if self.upload_platform:
            form["platform"] = self.upload_platform
        answer = self.graph(
            "POST",
            f"{self.config.account_id}/message_attachments",
            form=form,
            files={"filedata": (file.filename or "file", file.data, file.mimetype or "application/octet-stream")},
        )
        return {"type": kind, "payload": {"attachment_id": str(answer["attachment_id"])}}

    # -- webhooks ------------------------------------------------------------------------
    def _entry_events(self, entry):
        if str(entry.get("id")) != str(self.config.account_id):
            # one Meta app sends every account's events to one address: not ours
            _logger.info("Messenger: %s event for account %s ignored", self.label, entry.get("id"))
            return []
        return [self._messaging_event(item) for item in entry.get("messaging") or []]

    def _messaging_event(self, item):
        sender = str(item["sender"]["id"])
        stamp = item.get("timestamp") or ""
        if "message" in item:
            message = item["message"]
            mid = str(message["mid"])
            if message.get("is_echo"):  # what we sent, echoed back
                return InboundEvent(mid, "other")
            text = str(message.get("text") or "")
            quick = (message.get("quick_reply") or {}).get("payload")
            if quick and self.supports_phone_quick_reply and quick == text and _PHONE.fullmatch(quick):
                # the person tapped "share my phone number": Meta sends the number of their account
                return InboundEvent(mid, "contact", chat_id=sender, phone=quick, provider_message_id=mid)
            if quick:
                return InboundEvent(mid, "button", chat_id=sender, payload=str(quick), provider_message_id=mid)
            ref = (message.get("referral") or {}).get("ref")
            payload = self.start_payload(text)
            if ref or payload is not None:
                return InboundEvent(
                    mid, "start", chat_id=sender, text=text, payload=ref or payload, provider_message_id=mid
                )
            attachments = message.get("attachments") or []
            media = [m for m in (tolerated(self._media, a) for a in attachments) if m]
            if attachments and not media and not text:
                text = "[attachment]"  # a share, a story mention: nothing to fetch
            return InboundEvent(mid, "message", chat_id=sender, text=text, provider_message_id=mid, media=media)
        if "postback" in item:
            postback = item["postback"]
            event_id = str(postback.get("mid") or f"postback-{sender}-{stamp}")
            ref = (postback.get("referral") or {}).get("ref")
            if ref:  # "Get started" pressed in a conversation opened by an m.me link
                return InboundEvent(event_id, "start", chat_id=sender, payload=str(ref))
            return InboundEvent(event_id, "button", chat_id=sender, payload=str(postback.get("payload") or ""))
        if "referral" in item:  # an m.me / ig.me link opened in an existing conversation
            return InboundEvent(
                f"referral-{sender}-{stamp}", "start", chat_id=sender, payload=str(item["referral"].get("ref") or "")
            )
        return self._receipt_event(item, sender, stamp)

    def _receipt_event(self, item, sender, stamp):
        return InboundEvent(f"other-{sender}-{stamp}", "other")

    @staticmethod
    def _media(attachment):
        """InboundMedia of an attachment, or None for one without a file (a share, a story)."""
        kind, payload = attachment.get("type"), attachment.get("payload") or {}
        if kind == "location":
            point = payload["coordinates"]
            return InboundMedia("location", latitude=float(point["lat"]), longitude=float(point["long"]))
        url = payload.get("url")
        if kind not in _INBOUND_TYPES or not isinstance(url, str) or not url:
            return None
        if kind == "image" and payload.get("sticker_id"):  # a Messenger sticker comes as an image
            return InboundMedia("sticker", ref=url)
        filename = posixpath.basename(urlsplit(url).path)[:256]
        return InboundMedia(_INBOUND_TYPES[kind], ref=url, filename=filename)

    def fetch_media_blocking(self, media):
        # The attachment's address is signed by Meta's CDN: no token goes with it
        data, mimetype = self.download(media.ref, max_size=max(self.media_limits.values()))
        mimetype = media.mimetype or mimetype
        return FetchedFile(data, mimetype=mimetype, filename=media_filename(media, mimetype))

    # -- configuration -------------------------------------------------------------------
    def delete_webhook(self):
        self.configure("DELETE", f"{self.config.account_id}/subscribed_apps", "Unsubscribing the app")
