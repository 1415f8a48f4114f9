"""Provider registry: the channel's ``provider`` selection names one of these.

A new provider is a module with its Provider class, added to PROVIDERS below: the
channel's selection, its configuration and the setup assistant follow from the class.
"""

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
from .max import MaxProvider
from .messenger import MessengerProvider
from .sandbox import SandboxProvider
from .telegram import TelegramProvider
from .vk import VkProvider
from .whatsapp import WhatsAppProvider

# in the order the channel's selection shows them: the sandbox first, the default choice
PROVIDERS = {
    cls.code: cls
    for cls in (
        SandboxProvider,
        TelegramProvider,
        VkProvider,
        MaxProvider,
        WhatsAppProvider,
        MessengerProvider,
        InstagramProvider,
    )
}


def get_provider(code, config):
    return PROVIDERS[code](config)


def provider_selection():
    """The channel's ``provider`` selection: (code, label) pairs in the registry's order."""
    return [(code, cls.selection_label or cls.label) for code, cls in PROVIDERS.items()]
