"""Instagram messaging through the Instagram Graph API (requests).

Instagram has the 24-hour window and no message tag for automated messages: outside the
window every message is refused before any call.
"""

from urllib.parse import quote

from .base import MB, InboundEvent, _lt
from .meta import APP_SECRET_STEP, MetaMessagingProvider


class InstagramProvider(MetaMessagingProvider):
    code = "instagram"
    label = "Instagram"
    brand_color = "#E1306C"
    icon = "fa-instagram"
    credential_fields = ("instagram_account_id", "token", "app_secret")
    account_field = "instagram_account_id"
    # Meta allows 300 Send API calls per second per account, but an account that sends and
    # receives more than 72,000 messages an hour stops showing new ones: 20 per second.
    default_rate_limit = 20.0
    default_per_chat_interval = 1.0
    max_text_length = 1000
    max_caption_length = 1000
    default_api_base_url = "https://graph.instagram.com"
    webhook_object = "instagram"
    upload_platform = "instagram"
    # https://developers.facebook.com/docs/messenger-platform/instagram/features/attachment-upload:
    # images (PNG, JPEG, GIF) of at most 8 MB; audio, video and files (PDF) of at most 25 MB
    media_limits = {"photo": 8 * MB, "document": 25 * MB, "audio": 25 * MB, "video": 25 * MB}
    message_tags = {}
    setup_help = (
        _lt("Your Instagram account must be a <b>professional</b> account linked to a Facebook Page."),
        _lt("In your Meta app add <b>Instagram</b>, and generate a token with <code>instagram_manage_messages</code>."),
        _lt("The <b>Instagram account ID</b> is shown next to the account in the app's Instagram settings."),
        APP_SECRET_STEP,
    )

    def _receipt_event(self, item, sender, stamp):
        if "read" in item:  # "seen": this message, and so every earlier one
            mid = str(item["read"]["mid"])
            return InboundEvent(
                f"read-{mid}", "status", chat_id=sender, status="read", provider_message_id=mid, up_to=True
            )
        return super()._receipt_event(item, sender, stamp)

    def deep_link(self, payload):
        account = self.config.bot_username or self.config.account_id or "your_account"
        return f"https://ig.me/m/{account}?ref={quote(payload)}"

    def test_connection(self):
        self.check_config((self.config.token, "access token"), (self.config.account_id, "Instagram account ID"))
        account = self.configure(
            "GET", self.config.account_id, "Reading the Instagram account", params={"fields": "id,username"}
        )
        return self.app_secret_warning({"bot_username": account.get("username") or ""})

    def set_webhook(self, url):
        self.check_config((self.config.token, "access token"), (self.config.account_id, "Instagram account ID"))
        self.configure(
            "POST",
            f"{self.config.account_id}/subscribed_apps",
            "Subscribing the app to the account",
            params={"subscribed_fields": "messages,messaging_postbacks,messaging_seen,messaging_referral"},
        )
