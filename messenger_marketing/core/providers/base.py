"""The interface every messenger provider implements, and the normalized data it speaks."""

import hmac
import json
import logging
import math
import mimetypes
from dataclasses import dataclass, field

from ..text import html_to_plain, split_html, split_text, telegram_html

# Outcomes of one send, as the dispatcher acts on them.
SENT = "sent"
TRANSIENT = "transient"  # retried with backoff (429, 5xx, timeouts, connection errors)
PERMANENT = "permanent"  # failed with a reason a person can read (bad request, unknown chat)
BLOCKED = "blocked"  # the person blocked the bot: the contact is opted out
OPTED_OUT = "opted_out"  # the person refused marketing at the provider: the contact is unsubscribed

DAY = 24 * 3600.0

# No provider nests its webhook JSON anywhere near this deep; much deeper, the parser
# would exhaust Python's stack.
MAX_JSON_DEPTH = 64
# What reading a parsed body of an unexpected shape raises (a list for an object, a
# number too large): each provider turns it into a 400.
MALFORMED = (KeyError, TypeError, AttributeError, ValueError, OverflowError)
# Longer ids are no provider's: PostgreSQL would refuse them in a unique index anyway.
MAX_ID_LENGTH = 256

_logger = logging.getLogger(__name__)


def tolerated(parse, *args):
    """``parse(*args)`` of one attachment, or None when it is malformed: a bad attachment
    costs that attachment, not its message nor the other updates of the webhook's batch."""
    try:
        return parse(*args)
    except MALFORMED as exc:
        _logger.info("Messenger: a malformed attachment was left out (%s)", exc.__class__.__name__)
        return None


def _lt(text):
    """Mark a text of a provider for translation: Odoo's .pot export collects the calls
    named ``_lt``, and the Odoo side translates the text where it shows it
    (``env._(text)``). Nothing here imports Odoo, so the text stays as it is."""
    return text


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):  # 1e999: no JSON column stores it
        raise ValueError("number out of range")
    return value


def _check_tree(data, max_depth):
    """Walk the parsed value without recursion: too deep is refused, and so is a string
    that no UTF-8 text holds (a lone surrogate, written as an escape: PostgreSQL takes
    no such text)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            value.encode()  # UnicodeEncodeError for a lone surrogate
        elif isinstance(value, dict | list):
            if depth > max_depth:
                raise WebhookRejectedError(400, f"body is nested deeper than {max_depth} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    key.encode()
                stack.append((item, depth + 1))


# What a customer may send us, and what we may send them, as files
INBOUND_MEDIA_KINDS = ("photo", "document", "voice", "audio", "video", "sticker", "location")
OUTGOING_FILE_KINDS = ("photo", "document", "audio", "video")
MB = 1024 * 1024


def file_size_text(size):
    """A size as a person reads it in a refusal: "5 MB", "500 KB", "12.3 MB"; rounded up,
    so that a file just over a limit does not read as the limit."""
    if size >= MB:
        return f"{math.ceil(size * 10 / MB) / 10:g} MB"
    return f"{max(math.ceil(size / 1024), 1)} KB"


def media_filename(media, mimetype):
    """A file's name for a person's file the platform names not: its kind and extension."""
    return media.filename or f"{media.kind}{mimetypes.guess_extension(mimetype or '') or ''}"


@dataclass
class OutgoingFile:
    """A file sent as the platform's own photo, document, audio or video message; the
    message's text is its caption."""

    kind: str  # one of OUTGOING_FILE_KINDS
    filename: str
    mimetype: str
    data: bytes


@dataclass
class InboundMedia:
    """A file (or a place) in a person's message. ``ref`` is what the provider needs to
    hand the file over later (a file id, a media id or a URL): the webhook keeps only this,
    and a background job fetches the file with ``Provider.fetch_media`` after the webhook's
    transaction commits. A location has no file: ``latitude`` and ``longitude``."""

    kind: str  # one of INBOUND_MEDIA_KINDS
    ref: str = ""
    mimetype: str = ""
    filename: str = ""
    size: int = 0  # bytes, when the provider says (0: unknown until fetched)
    latitude: float = 0.0
    longitude: float = 0.0


@dataclass
class FetchedFile:
    data: bytes
    mimetype: str = ""
    filename: str = ""


class MediaError(Exception):
    """A file could not be fetched; ``retryable`` when a later try may succeed (5xx,
    timeout, rate limit) and False when it never will (gone, too large, refused)."""

    def __init__(self, reason, retryable=True):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass
class OutgoingMessage:
    """One message to send. ``buttons`` is a list of rows, each a list of dicts with
    ``text`` and one of ``payload`` (a callback), ``url`` or ``request_contact``."""

    key: int
    chat_id: str
    text: str
    buttons: list = field(default_factory=list)
    idempotency_key: str = ""
    image_url: str = ""  # a picture sent with the text as its caption
    text_format: str = "plain"  # "plain" or "html"
    kind: str = "service"  # "service", "transactional" or "marketing"
    # seconds since the person last wrote to us (None: never), for the platforms that
    # only deliver free messages within a window after it
    inbound_age: float | None = None
    # an approved message template (WhatsApp), used outside that window:
    # {"name", "language", "parameters": [(placeholder, value)]}
    template: dict | None = None
    attachment: OutgoingFile | None = None  # sent with the text as its caption
    # product cards shown side by side (VK's carousel), under the text: dicts with
    # ``title``, ``description``, ``image_url``, ``url`` (opened by a tap on the card) and
    # ``buttons`` (one list of button dicts); only providers with ``max_cards`` take them
    cards: list = field(default_factory=list)
    # a Telegram paid broadcast (allow_paid_broadcast, see core.costs); other providers ignore it
    paid_broadcast: bool = False


@dataclass
class SendResult:
    key: int
    outcome: str
    provider_message_id: str = ""
    reason: str = ""
    retry_after: float = 0.0
    # True when the request reached the provider but no answer came back (read timeout):
    # the person may have the message already.
    maybe_delivered: bool = False
    # True when the platform refuses because its customer-service window is closed
    outside_window: bool = False


@dataclass
class InboundEvent:
    """A webhook event, normalized. ``kind`` is one of:

    - ``start``: the person opened the bot, maybe through a deep link (``payload``);
    - ``message``: free text (``text``);
    - ``button``: a button press (``payload``; ``callback_id`` when the provider wants an ack);
    - ``contact``: the person shared their own phone number (``phone``);
    - ``blocked``: the person blocked the bot;
    - ``status``: what became of a message we sent: ``status`` is ``sent``, ``delivered``,
      ``read`` or ``failed`` (with ``text``, the reason, and ``error``, the provider's
      error object); it names the message by ``provider_message_id``, with ``up_to`` for
      "this one and every earlier one to this chat", or by ``watermark``, a Unix time:
      "every message sent to this chat until then";
    - ``other``: anything else; acknowledged and recorded, nothing more.

    ``phone`` on a message event is a number the provider vouches for (WhatsApp's sender).
    ``group_chat``: the chat is a group, not one person (a binding link binds no group).
    """

    event_id: str
    kind: str
    chat_id: str = ""
    text: str = ""
    payload: str = ""
    phone: str = ""
    name: str = ""
    username: str = ""
    lang: str = ""
    callback_id: str = ""
    provider_message_id: str = ""
    status: str = ""
    watermark: float = 0.0
    up_to: bool = False
    error: dict | None = None
    group_chat: bool = False
    media: list = field(default_factory=list)  # InboundMedia; ``text`` is then the caption


class WebhookRejectedError(Exception):
    """The request is not from the provider (HTTP 403) or not readable (HTTP 400)."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class WebhookReply:
    """An answer to a webhook request: a dict goes as JSON, a str as plain text."""

    status: int = 200
    body: object = field(default_factory=lambda: {"ok": True})


@dataclass
class ChannelConfig:
    """What a provider needs from a channel; filled by the channel model."""

    token: str = ""
    api_base_url: str = ""
    webhook_secret: str = ""  # Telegram's secret token, VK's secret key, Meta's verify token
    bot_username: str = ""  # the public name deep links use
    request_timeout: float = 10.0
    concurrency: int = 64
    app_secret: str = ""  # Meta: signs webhooks (X-Hub-Signature-256) and API calls
    account_id: str = ""  # VK group, WhatsApp phone number, Facebook page, Instagram account
    business_account_id: str = ""  # WhatsApp Business Account (its templates)
    confirmation_code: str = ""  # VK: the answer to the Callback API's confirmation request
    registration_id: str = ""  # VK: the id of our Callback API server, to remove it
    # the database's web.base.url: the only address a provider fetches our pictures from
    public_base_url: str = ""


class Provider:
    """Base class. Sending is asynchronous so the dispatcher can keep many requests in
    flight while it paces them; configuration calls (webhook, test) are synchronous."""

    code = ""
    label = ""  # the platform's name, in the reasons of refusals
    # how a conversation on this platform looks in Discuss: its avatar's colour and the
    # Font Awesome icon beside its name
    brand_color = "#6C757D"
    icon = "fa-paper-plane"
    selection_label = ""  # the channel's choice of provider shows this (default: label)
    # -- what the channel holds for the provider: the channel model builds the provider's
    # ChannelConfig from these, and the setup assistant asks for the credentials.
    # The channel fields a person pastes from the provider's console, in the order the
    # console shows them ...
    credential_fields = ()
    # ... and those of them the channel works without (Test Connection warns about them).
    optional_credentials = ()
    account_field = ""  # the channel field holding the account at the provider (ChannelConfig.account_id)
    # other ChannelConfig values the provider reads: {ChannelConfig attribute: channel field}
    config_fields = {}
    # The channel fields the form's webhook part shows: what the person copies into the
    # provider's console, or what Test Connection fetched.
    webhook_fields = ()
    # How this provider's console names a channel field, where the field's own label says
    # something else (the channel's token is "Bot Token"; most platforms give an access token).
    field_labels = {"token": _lt("Access Token")}
    # -- the setup assistant and the channel form (HTML, translated where shown) ---------
    setup_help = ()  # the steps to the credentials in the provider's console, one text each
    webhook_help = ""  # what Register Webhook does, and what the person does for it
    remote = True  # a platform Odoo talks to: a connection to test, a webhook, an API address
    has_templates = False  # approved message templates are synchronised from the provider (WhatsApp)
    default_rate_limit = 30.0  # messages per second for the whole channel
    default_per_chat_interval = 1.0  # seconds between two messages to one chat
    has_idempotency_key = False  # a resend after a crash cannot duplicate
    paced = True  # sends are spaced within the rate limit; False when nothing leaves Odoo
    max_text_length = 4096  # longer texts are split into several messages
    max_caption_length = 1024  # a text sent with a picture
    max_button_text_length = 0  # a shorter limit for a text that carries buttons; 0: none
    # the largest file of each OutgoingFile kind the platform takes from a bot, in bytes
    # (a kind missing here is not sent by this provider); precheck refuses bigger ones
    media_limits = {}
    max_cards = 0  # the cards of one carousel (OutgoingMessage.cards); 0: the platform shows none
    # Seconds after the person's last message in which the platform delivers any message
    # (its customer-service window); 0: no such rule.
    messaging_window = 0.0
    default_api_base_url = ""

    def __init__(self, config):
        self.config = config

    # -- text ------------------------------------------------------------------------
    @classmethod
    def prepare_text(cls, text, text_format="plain"):
        """The text as this provider sends it, and its format: HTML becomes plain text
        unless the provider renders it."""
        if text_format == "html":
            return html_to_plain(text), "plain"
        return text or "", "plain"

    @classmethod
    def visible_length(cls, text, text_format="plain"):
        """Characters the person sees, which is what the provider's limits count."""
        return len(text)

    @classmethod
    def split(cls, text, text_format="plain", with_buttons=False):
        """The parts a text is sent in, as (text, format) pairs: the text prepared for the
        provider, split at its length limit; the last part, which carries the buttons,
        also fits the limit for a text with buttons."""
        text, text_format = cls.prepare_text(text, text_format)
        parts = split_text(text, cls.max_text_length)
        if with_buttons and cls.max_button_text_length and parts and len(parts[-1]) > cls.max_button_text_length:
            parts[-1:] = split_text(parts[-1], cls.max_button_text_length)
        return [(part, text_format) for part in parts]

    @classmethod
    def text_limit(cls, with_buttons=False, with_image=False):
        """Characters one message takes: with buttons, and as the caption of a picture."""
        limits = [cls.max_text_length]
        if with_buttons and cls.max_button_text_length:
            limits.append(cls.max_button_text_length)
        if with_image:
            limits.append(cls.max_caption_length)
        return min(limits)

    @classmethod
    def fits(cls, text, text_format="plain", with_buttons=False, with_image=False):
        """Whether the text goes as one message (as the caption of a picture: ``with_image``)."""
        text, text_format = cls.prepare_text(text, text_format)
        return cls.visible_length(text, text_format) <= cls.text_limit(with_buttons, with_image)

    # -- sending ---------------------------------------------------------------------
    def precheck(self, message):
        """What is refused before any call, as a SendResult; None when the message may go.

        The dispatcher calls this for every message it claimed, so the platform's rules
        (lengths that cannot be split, the customer-service window) hold for every
        feature in one place, and a refused message costs no request."""
        text, text_format = self.prepare_text(message.text, message.text_format)
        length = self.visible_length(text, text_format)
        if message.image_url and length > self.max_caption_length:
            return self.refuse(
                message,
                f"A text sent with a picture takes at most {self.max_caption_length} characters on {self.label}; "
                f"this one has {length}.",
            )
        if message.cards and len(message.cards) > self.max_cards:
            if not self.max_cards:
                return self.refuse(message, f"{self.label} shows no carousel of cards.")
            return self.refuse(
                message,
                f"A carousel takes at most {self.max_cards} cards on {self.label}; this one has {len(message.cards)}.",
            )
        if message.attachment:
            refusal = self.check_file(message, message.attachment)
            if refusal:
                return refusal
            if length > self.max_caption_length:
                return self.refuse(
                    message,
                    f"A text sent with a file takes at most {self.max_caption_length} characters on {self.label}; "
                    f"this one has {length}.",
                )
        limit = self.text_limit(with_buttons=bool(message.buttons))
        if length > limit:
            return self.refuse(
                message, f"{self.label} takes at most {limit} characters in this message; this one has {length}."
            )
        if self.messaging_window and not self.window_open(message):
            return self.outside_window(message)
        return None

    def check_file(self, message, file):
        """Refuse a file of a kind the platform does not take from a bot, or above the
        limit of its kind (``media_limits``): the platform would refuse it after the upload."""
        limit = self.media_limits.get(file.kind)
        if not limit:
            return self.refuse(message, f"{self.label} does not take a file of the kind {file.kind!r} from a bot.")
        size = len(file.data)
        if size > limit:
            return self.refuse(
                message,
                f"{self.label} takes a {file.kind} of at most {file_size_text(limit)}; "
                f"{file.filename or 'this file'} has {file_size_text(size)}.",
            )
        return None

    def window_open(self, message):
        return message.inbound_age is not None and message.inbound_age < self.messaging_window

    def outside_window(self, message):
        """The customer-service window is closed: refuse, unless the platform has a way
        (a template, a message tag) for this message. Providers with a window override."""
        return self.refuse(
            message,
            f"Outside the {self.messaging_window / 3600:g}-hour window: {self.label} delivers a message only "
            f"within {self.messaging_window / 3600:g} hours of the person's last message.",
            outside_window=True,
        )

    @staticmethod
    def refuse(message, reason, **extra):
        return SendResult(message.key, PERMANENT, reason=reason, **extra)

    @classmethod
    def timed_out(cls, key, maybe_delivered=True):
        """No answer in time: retried; unless the request never left (``maybe_delivered``
        False), the person may have the message already, and the dispatcher knows it."""
        return SendResult(key, TRANSIENT, reason=f"{cls.label} did not answer in time", maybe_delivered=maybe_delivered)

    @staticmethod
    def unexpected(key, exc):
        """An error no classification knows: retried, never lost."""
        return SendResult(key, TRANSIENT, reason=f"Unexpected error while sending: {exc!r}")

    async def open(self):
        """Prepare clients before the first batch of a dispatcher run; the run's later
        batches reuse them (one event loop per run)."""

    async def close(self):
        """Release clients at the end of the run."""

    async def send(self, message):
        """Send one OutgoingMessage and return a SendResult; never raise."""
        raise NotImplementedError

    async def fetch_media(self, media):
        """The file of an InboundMedia, as a FetchedFile; raises MediaError."""
        raise MediaError(f"{self.label} does not hand over files", retryable=False)

    def media_error(self, status, detail=""):
        """The MediaError of an HTTP answer to a download: a rate limit or the platform's
        own failure (429, 5xx) may pass; anything else (404 gone, 403 refused) stays."""
        reason = f"{self.label} did not hand over the file: HTTP {status}" + (f" ({detail})" if detail else "")
        return MediaError(reason, retryable=status == 429 or status >= 500)

    # -- webhooks --------------------------------------------------------------------
    @staticmethod
    def load_json(body, max_depth=MAX_JSON_DEPTH):
        """The webhook body as a Python value; WebhookRejectedError(400) unless it is JSON
        in UTF-8, nested at most ``max_depth`` levels, with finite numbers. Every provider
        reads its body through this, so no input makes the parser fail another way."""
        try:
            data = json.loads(body.decode(), parse_constant=_no_constant, parse_float=_finite_float)
            _check_tree(data, max_depth)
        except RecursionError as exc:  # deeper than Python's stack, before _check_tree could look
            raise WebhookRejectedError(400, f"body is nested deeper than {max_depth} levels") from exc
        except (ValueError, UnicodeError) as exc:
            raise WebhookRejectedError(400, f"body is not JSON in UTF-8 ({exc.__class__.__name__})") from exc
        return data

    @staticmethod
    def check_secret(given, expected, reason):
        """Raise WebhookRejectedError(403, reason) unless ``given`` is the non-empty
        ``expected`` secret; compared in constant time, so the answer's timing tells
        nothing about how much of a guess was right."""
        expected = expected or ""
        if not expected or not hmac.compare_digest((given or "").encode(), expected.encode()):
            raise WebhookRejectedError(403, reason)

    @staticmethod
    def start_payload(text):
        """``/start <payload>``: the deep-link payload, or None when the text is no start."""
        if isinstance(text, str) and (text == "/start" or text.startswith("/start ")):
            return text[7:].strip()
        return None

    def check_events(self, events):
        """Refuse (400) events whose ids no provider sends: too long to index."""
        for event in events:
            if max(len(event.event_id), len(event.chat_id), len(event.provider_message_id)) > MAX_ID_LENGTH:
                raise WebhookRejectedError(400, f"an id is longer than {MAX_ID_LENGTH} characters")
        return events

    def challenge(self, method, query, headers, body):
        """A request that checks our endpoint rather than bringing events (Meta's GET
        ``hub.challenge``, VK's confirmation): return its WebhookReply, or None when the
        request is an ordinary event. Raise WebhookRejectedError to refuse it."""
        return None

    def verify_webhook(self, headers, body):
        """Raise WebhookRejectedError(403, …) unless the request comes from the provider."""
        raise NotImplementedError

    def parse_webhook(self, body):
        """Return a list of InboundEvent; raise WebhookRejectedError(400, …) on a malformed body."""
        raise NotImplementedError

    def webhook_reply(self, events):
        """Body of the HTTP answer to the webhook (some providers take an action there):
        a dict is sent as JSON, a str as plain text."""
        return {"ok": True}

    def answer_callbacks(self, events):
        """Acknowledge the button presses among ``events`` by calling the provider (VK,
        MAX): made once the webhook's transaction is committed, so that no provider call
        waits on the network while it holds the rows it wrote. A failure is logged only."""

    def classify_status_error(self, key, error):
        """A SendResult for the error object of a "failed" status callback."""
        return SendResult(key, PERMANENT, reason=f"{self.label} could not deliver the message: {error}")

    # -- configuration ---------------------------------------------------------------
    def deep_link(self, payload):
        raise NotImplementedError

    def set_webhook(self, url):
        """Register the webhook where the platform has an API for it; return channel
        values to store (e.g. a server id), or None."""
        raise NotImplementedError

    def delete_webhook(self):
        raise NotImplementedError

    def test_connection(self):
        """Return a dict of what the provider says about the account (e.g. the bot's
        username); raise ValueError with a readable reason when it does not work."""
        raise NotImplementedError


class TelegramHtmlText:
    """Text for the platforms that render Telegram's subset of HTML (Telegram, MAX): HTML is
    reduced to the tags they show, the rest escaped; it is counted and split as it shows."""

    @classmethod
    def prepare_text(cls, text, text_format="plain"):
        if text_format == "html":
            return telegram_html(text), "html"
        return text or "", "plain"

    @classmethod
    def visible_length(cls, text, text_format="plain"):
        return len(html_to_plain(text)) if text_format == "html" else len(text)

    @classmethod
    def split(cls, text, text_format="plain", with_buttons=False):
        if text_format != "html":
            return super().split(text, text_format, with_buttons)
        return split_html(telegram_html(text), cls.max_text_length)
