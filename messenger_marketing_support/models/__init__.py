from . import (
    messenger_channel,
    messenger_contact,
    messenger_flow_step,
    messenger_inbound,
    messenger_message,
    messenger_support_article,
    messenger_support_question,
    messenger_support_tag,
)
