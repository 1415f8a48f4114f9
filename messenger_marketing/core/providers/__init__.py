"""Provider registry: the channel's ``provider`` selection names one of these."""

from .base import (
    BLOCKED,
    OPTED_OUT,
    PERMANENT,
    SENT,
    TRANSIENT,
    ChannelConfig,
    InboundEvent,
    OutgoingMessage,
    Provider,
    SendResult,
    WebhookRejectedError,
    WebhookReply,
)
from .instagram import InstagramProvider
from .messenger import MessengerProvider
from .sandbox import SandboxProvider
from .telegram import TelegramProvider
from .vk import VkProvider
from .whatsapp import WhatsAppProvider

PROVIDERS = {
    cls.code: cls
    for cls in (SandboxProvider, TelegramProvider, VkProvider, WhatsAppProvider, MessengerProvider, InstagramProvider)
}


def get_provider(code, config):
    return PROVIDERS[code](config)
