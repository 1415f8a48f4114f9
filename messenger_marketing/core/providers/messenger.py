"""Facebook Messenger through the Graph API's Send API (requests).

Outside the 24-hour window Meta delivers only messages with a message tag: order
updates (transactional messages) go with ``POST_PURCHASE_UPDATE``; anything else is
refused before any call.
"""

from urllib.parse import quote

from .base import MB, InboundEvent, _lt
from .meta import APP_SECRET_STEP, MetaMessagingProvider


class MessengerProvider(MetaMessagingProvider):
    code = "messenger"
    label = "Messenger"
    brand_color = "#0866FF"
    icon = "fa-facebook"
    selection_label = "Facebook Messenger"
    credential_fields = ("facebook_page_id", "token", "app_secret")
    account_field = "facebook_page_id"
    # Meta allows 300 Send API calls per second per Page, but a Page sending more than 40
    # messages per second stops showing new messages in its inbox: stay under that.
    default_rate_limit = 40.0
    default_per_chat_interval = 1.0  # Meta rate-limits many messages to a single thread
    max_text_length = 2000
    max_caption_length = 2000  # the picture goes first, the text after it
    webhook_object = "page"
    supports_button_template = True
    supports_phone_quick_reply = True
    # https://developers.facebook.com/docs/messenger-platform/reference/attachment-upload-api:
    # attachments of at most 25 MB
    media_limits = {"photo": 25 * MB, "document": 25 * MB, "audio": 25 * MB, "video": 25 * MB}
    message_tags = {"transactional": "POST_PURCHASE_UPDATE"}
    setup_help = (
        _lt("In Meta for Developers, create a <b>Business</b> app and add <b>Messenger</b>."),
        _lt("<b>Messenger › Settings</b>: connect your Facebook Page and generate its <b>Page access token</b>."),
        _lt("The <b>Page ID</b> is on the Page's <b>About › Page transparency</b>."),
        APP_SECRET_STEP,
    )

    def _receipt_event(self, item, sender, stamp):
        # both receipts carry a watermark: every message sent before it was delivered / read
        for key, status in (("delivery", "delivered"), ("read", "read")):
            if key in item:
                watermark = int(item[key]["watermark"])
                if not 0 <= watermark < 10**13:  # milliseconds: before 1970 or after 2286
                    raise ValueError("watermark out of range")
                return InboundEvent(
                    f"{key}-{sender}-{watermark}", "status", chat_id=sender, status=status, watermark=watermark / 1000
                )
        return super()._receipt_event(item, sender, stamp)

    def deep_link(self, payload):
        page = self.config.bot_username or self.config.account_id or "your_page"
        return f"https://m.me/{page}?ref={quote(payload)}"

    def test_connection(self):
        self.check_config((self.config.token, "Page access token"), (self.config.account_id, "Facebook Page ID"))
        page = self.configure("GET", self.config.account_id, "Reading the Page", params={"fields": "id,name,username"})
        return self.app_secret_warning({"bot_username": page.get("username") or str(page.get("id") or "")})

    def set_webhook(self, url):
        self.check_config((self.config.token, "Page access token"), (self.config.account_id, "Facebook Page ID"))
        fields = "messages,messaging_postbacks,messaging_referrals,message_deliveries,message_reads"
        self.configure(
            "POST",
            f"{self.config.account_id}/subscribed_apps",
            "Subscribing the app to the Page",
            params={"subscribed_fields": fields},
        )
