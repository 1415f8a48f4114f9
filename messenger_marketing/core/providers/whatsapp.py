"""WhatsApp Business Cloud API through requests.

Free messages (text, buttons, lists) reach a person only within 24 hours of their last
message; after that only an approved template does. The dispatcher hands the message's
template (name, language, parameter values) and the time since the person last wrote;
``precheck`` refuses, before any call, a message outside the window without a template.
Delivery and read receipts come back as status callbacks.
"""

import re
from urllib.parse import quote

from .base import (
    MB,
    OPTED_OUT,
    PERMANENT,
    SENT,
    TRANSIENT,
    FetchedFile,
    InboundEvent,
    InboundMedia,
    MediaError,
    SendResult,
    _lt,
    media_filename,
    tolerated,
)
from .meta import GraphError, MetaProvider

# Graph error codes WhatsApp gives a meaning to
_OUTSIDE_WINDOW = 131047  # "Re-engagement message": more than 24 hours since the person wrote
_MARKETING_OPT_OUT = 131050  # the person stopped marketing messages from this business
# retried after this many seconds: throughput, pair rate, spam rate, temporary failures
_TRANSIENT = {130429: 1.0, 131056: 6.0, 131048: 600.0, 131000: 0.0, 131016: 0.0, 133004: 0.0, 131057: 60.0}
_PARAM_LENGTH = 1024  # characters in one template parameter
_REPLY_BUTTONS = 3
_LIST_ROWS = 10
_PLACEHOLDER = re.compile(r"{{\s*(\w+)\s*}}")
# the message type of each OutgoingFile kind; an interactive message takes these as its
# header, and these take a caption (an audio takes neither)
_MESSAGE_TYPES = {"photo": "image", "document": "document", "audio": "audio", "video": "video"}
_HEADER_TYPES = {"image", "document", "video"}
# the InboundMedia kind of each message type with a file
_INBOUND_TYPES = {"image": "photo", "document": "document", "audio": "audio", "video": "video", "sticker": "sticker"}


def placeholders(text):
    """Placeholder names of a template text, in order: ``["1", "2"]`` or ``["name"]``."""
    seen = []
    for name in _PLACEHOLDER.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


class WhatsAppProvider(MetaProvider):
    code = "whatsapp"
    label = "WhatsApp"
    brand_color = "#25D366"
    icon = "fa-whatsapp"
    default_rate_limit = 80.0  # Cloud API throughput of a business phone number
    # WhatsApp takes about one message every 6 seconds to one person, with bursts: a
    # second between two messages keeps a conversation natural within that allowance.
    default_per_chat_interval = 1.0
    max_text_length = 4096
    max_caption_length = 1024
    max_button_text_length = 1024  # the body of an interactive message
    # https://developers.facebook.com/docs/whatsapp/cloud-api/reference/media#supported-media-types:
    # images 5 MB, documents 100 MB, audio and video 16 MB (stickers, 500 KB, are not sent)
    media_limits = {"photo": 5 * MB, "document": 100 * MB, "audio": 16 * MB, "video": 16 * MB}
    webhook_object = "whatsapp_business_account"
    credential_fields = ("whatsapp_phone_number_id", "whatsapp_account_id", "token", "app_secret")
    optional_credentials = ("whatsapp_account_id", "app_secret")  # Test Connection warns without them
    account_field = "whatsapp_phone_number_id"
    config_fields = {**MetaProvider.config_fields, "business_account_id": "whatsapp_account_id"}
    has_templates = True
    setup_help = (
        _lt("In Meta for Developers, create a <b>Business</b> app and add <b>WhatsApp</b>."),
        _lt(
            "<b>WhatsApp › API Setup</b> shows the <b>Phone number ID</b> and the <b>WhatsApp Business Account ID</b>."
        ),
        _lt(
            "In Business Settings, give a <b>system user</b> a permanent token with "
            "<code>whatsapp_business_messaging</code> and <code>whatsapp_business_management</code>."
        ),
        _lt("The <b>App secret</b> is in the app's <b>Settings › Basic</b>: it proves webhooks come from Meta."),
    )

    # -- sending -------------------------------------------------------------------------
    def precheck(self, message):
        if message.template and not self.window_open(message):
            return self._check_template(message)  # the text is not sent: its length does not matter
        return super().precheck(message)

    def outside_window(self, message):
        return self.refuse(
            message,
            "Outside the 24-hour window: WhatsApp delivers only an approved template to a person who has not "
            "written in the last 24 hours, and this message has none. Choose a WhatsApp template for it.",
            outside_window=True,
        )

    def _check_template(self, message):
        """Template parameters cannot be split or shortened: refuse what WhatsApp would."""
        for name, given in message.template["parameters"]:
            value = given or ""
            if not value.strip():
                return self.refuse(message, f"The WhatsApp template parameter {{{{{name}}}}} has no value.")
            if len(value) > _PARAM_LENGTH:
                return self.refuse(
                    message, f"The WhatsApp template parameter {{{{{name}}}}} takes at most {_PARAM_LENGTH} characters."
                )
        return None

    def _template(self, template):
        parameters = [
            {"type": "text", "text": re.sub(r"\s+", " ", value).strip()}
            | ({} if name.isdigit() else {"parameter_name": name})
            for name, value in template["parameters"]
        ]
        components = [{"type": "body", "parameters": parameters}] if parameters else []
        return {"name": template["name"], "language": {"code": template["language"]}, "components": components}

    def _content(self, text, buttons, media=None):
        """The message object: plain text, a picture or file (``media``: its message type
        and object) with the text as caption, or an interactive message (reply buttons, a
        list, or one link button) with the picture or file as header. Link buttons that do
        not fit go under the text."""
        replies = [b for row in buttons for b in row if b.get("payload")]
        links = [b for row in buttons for b in row if b.get("url")]
        if links and (replies or len(links) > 1):
            text = f"{text}\n\n" + "\n".join(f"{b['text']}: {b['url']}" for b in links)
            links = []
        header = {}
        if media and media[0] in _HEADER_TYPES:
            header = {"header": {"type": media[0], media[0]: media[1]}}
        if links:
            action = {"name": "cta_url", "parameters": {"display_text": links[0]["text"][:20], "url": links[0]["url"]}}
            return "interactive", {"type": "cta_url", **header, "body": {"text": text}, "action": action}
        if replies and len(replies) <= _REPLY_BUTTONS:
            action = {
                "buttons": [{"type": "reply", "reply": {"id": b["payload"], "title": b["text"][:20]}} for b in replies]
            }
            return "interactive", {"type": "button", **header, "body": {"text": text}, "action": action}
        if replies:
            rows = [{"id": b["payload"], "title": b["text"][:24]} for b in replies[:_LIST_ROWS]]
            action = {"button": "☰", "sections": [{"rows": rows}]}
            return "interactive", {"type": "list", "body": {"text": text}, "action": action}
        if media and media[0] in _HEADER_TYPES:
            return media[0], {**media[1], **({"caption": text} if text else {})}
        if media and not text:
            return media
        return "text", {"body": text, "preview_url": True}

    def send_blocking(self, message):
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": message.chat_id}
        path = f"{self.config.account_id}/messages"
        try:
            if message.template and not self.window_open(message):
                payload.update(type="template", template=self._template(message.template))
            else:
                text, _format = self.prepare_text(message.text, message.text_format)
                media = ("image", {"link": message.image_url}) if message.image_url else None
                if message.attachment:
                    media = self._upload(message.attachment)
                kind, content = self._content(text, message.buttons, media)
                if media and kind != media[0] and "header" not in content:
                    # no room for it in this message (an audio with a text, a list): it goes first
                    self.graph("POST", path, {**payload, "type": media[0], media[0]: media[1]})
                payload.update({"type": kind, kind: content})
            answer = self.graph("POST", path, payload)
        except Exception as exc:  # noqa: BLE001 - every error becomes a classified result
            return self.classify_error(message.key, exc)
        messages = answer.get("messages") or [{}]
        return SendResult(message.key, SENT, provider_message_id=str(messages[0].get("id") or ""))

    def _upload(self, file):
        """Upload a file to the phone number's media; return its message type and object."""
        answer = self.graph(
            "POST",
            f"{self.config.account_id}/media",
            form={"messaging_product": "whatsapp", "type": file.mimetype},
            files={"file": (file.filename or "file", file.data, file.mimetype or "application/octet-stream")},
        )
        kind = _MESSAGE_TYPES[file.kind]
        media = {"id": str(answer["id"])}
        if kind == "document" and file.filename:
            media["filename"] = file.filename
        return kind, media

    # -- files of a person's message ------------------------------------------------------
    def fetch_media_blocking(self, media):
        """``GET /<media id>`` gives the file's address (valid a few minutes), which takes
        the same token."""
        try:
            info = self.graph("GET", media.ref)
        except Exception as exc:  # every error becomes a MediaError
            raise self.media_failure(exc) from exc
        if not info.get("url"):
            raise MediaError(f"WhatsApp gave no address for the media {media.ref}", retryable=False)
        data, _type = self.download(
            info["url"], headers={"Authorization": f"Bearer {self.config.token}"}, max_size=100 * MB
        )
        mimetype = str(info.get("mime_type") or media.mimetype or _type).split(";")[0].strip()
        return FetchedFile(data, mimetype=mimetype, filename=media_filename(media, mimetype))

    def classify_code(self, key, exc, reason):
        code = exc.code
        if code == _OUTSIDE_WINDOW:
            return SendResult(
                key,
                PERMANENT,
                reason=f"{reason}. More than 24 hours passed since the person's last message: only an approved "
                "template reaches them.",
                outside_window=True,
            )
        if code == _MARKETING_OPT_OUT:
            return SendResult(key, OPTED_OUT, reason=f"{reason}. The person stopped marketing messages on WhatsApp.")
        if code in _TRANSIENT:
            return SendResult(key, TRANSIENT, reason=reason, retry_after=_TRANSIENT[code])
        return super().classify_code(key, exc, reason)

    def classify_status_error(self, key, error):
        error = error or {}
        if "error_data" not in error and error.get("message"):
            error = {**error, "error_data": {"details": error.get("message")}}
        error = {**error, "message": error.get("title") or error.get("message") or "failed"}
        return self.classify_error(key, GraphError(200, error))

    # -- webhooks ------------------------------------------------------------------------
    def _entry_events(self, entry):
        events = []
        for change in entry.get("changes") or []:
            if change.get("field") != "messages":
                continue
            value = change["value"]
            number = (value.get("metadata") or {}).get("phone_number_id")
            if str(number) != str(self.config.account_id):
                continue  # another number of the same app
            names = {
                str(c.get("wa_id")): (c.get("profile") or {}).get("name") or "" for c in value.get("contacts") or []
            }
            events += [self._message_event(m, names) for m in value.get("messages") or []]
            events += [self._status_event(s) for s in value.get("statuses") or []]
        return events

    def _message_event(self, message, names):
        sender = str(message["from"])
        mid = str(message["id"])
        # the sender's number is their chat id, vouched for by WhatsApp
        person = {"chat_id": sender, "name": names.get(sender, "")[:128], "phone": f"+{sender}"}
        kind = message.get("type")
        if kind == "text":
            text = str(message["text"]["body"])
            payload = self.start_payload(text)
            if payload is not None:  # the text a wa.me/<number>?text=/start%20<payload> link wrote
                return InboundEvent(mid, "start", text=text, payload=payload, provider_message_id=mid, **person)
            return InboundEvent(mid, "message", text=text, provider_message_id=mid, **person)
        if kind == "interactive":
            reply = message["interactive"].get("button_reply") or message["interactive"].get("list_reply") or {}
            return InboundEvent(mid, "button", payload=str(reply.get("id") or ""), provider_message_id=mid, **person)
        if kind == "button":  # a quick-reply button of a template
            button = message["button"]
            payload = str(button.get("payload") or button.get("text") or "")
            return InboundEvent(mid, "button", payload=payload, provider_message_id=mid, **person)
        content = message.get(kind) if isinstance(message.get(kind), dict) else {}
        media = tolerated(self._media, kind, content) or []
        # a file's text is its caption; a message of another kind (contacts, a reaction) is named
        text = content.get("caption") or ("" if media else f"[{kind}]")
        return InboundEvent(mid, "message", text=str(text), provider_message_id=mid, media=media, **person)

    @staticmethod
    def _media(kind, content):
        if kind == "location":
            return [
                InboundMedia("location", latitude=float(content["latitude"]), longitude=float(content["longitude"]))
            ]
        if kind not in _INBOUND_TYPES or not content.get("id"):
            return []
        media_kind = "voice" if kind == "audio" and content.get("voice") else _INBOUND_TYPES[kind]
        mimetype = str(content.get("mime_type") or "").split(";")[0].strip()
        return [
            InboundMedia(
                media_kind, ref=str(content["id"]), mimetype=mimetype, filename=str(content.get("filename") or "")[:256]
            )
        ]

    @staticmethod
    def _status_event(status):
        mid = str(status["id"])
        state = str(status["status"])
        errors = status.get("errors") or []
        error = errors[0] if errors and isinstance(errors[0], dict) else None
        return InboundEvent(
            f"{mid}-{state}",
            "status",
            chat_id=str(status.get("recipient_id") or ""),
            status=state,
            provider_message_id=mid,
            error=error,
            text=str((error or {}).get("title") or ""),
        )

    # -- configuration -------------------------------------------------------------------
    def deep_link(self, payload):
        number = re.sub(r"\D", "", self.config.bot_username or "")
        return f"https://wa.me/{number}?text={quote(f'/start {payload}')}"

    def test_connection(self):
        self.check_config((self.config.token, "access token"), (self.config.account_id, "phone number ID"))
        number = self.configure(
            "GET",
            self.config.account_id,
            "Reading the phone number",
            params={"fields": "display_phone_number,verified_name,quality_rating"},
        )
        if self.config.business_account_id:
            self.configure(
                "GET",
                self.config.business_account_id,
                "Reading the WhatsApp Business Account",
                params={"fields": "id,name"},
            )
        info = {"bot_username": re.sub(r"\D", "", number.get("display_phone_number") or "")}
        self.app_secret_warning(info)
        if not self.config.business_account_id:
            info["warning"] = "Fill in the WhatsApp Business Account ID: templates and webhooks need it."
        return info

    def _check_account(self):
        self.check_config(
            (self.config.token, "access token"), (self.config.business_account_id, "WhatsApp Business Account ID")
        )

    def set_webhook(self, url):
        self._check_account()
        path = f"{self.config.business_account_id}/subscribed_apps"
        self.configure("POST", path, "Subscribing the app to the account")

    def delete_webhook(self):
        self._check_account()
        self.configure("DELETE", f"{self.config.business_account_id}/subscribed_apps", "Unsubscribing the app")

    def fetch_templates(self):
        """Every message template of the WhatsApp Business Account, page after page."""
        self._check_account()
        templates = []
        params = {"fields": "id,name,language,status,category,components", "limit": 100}
        while True:
            answer = self.configure(
                "GET", f"{self.config.business_account_id}/message_templates", "Reading the templates", params=params
            )
            templates += answer.get("data") or []
            after = ((answer.get("paging") or {}).get("cursors") or {}).get("after")
            if not after or not (answer.get("paging") or {}).get("next"):
                return templates
            params = {**params, "after": after}
