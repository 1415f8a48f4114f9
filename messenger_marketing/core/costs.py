"""What providers charge per message, where the charge is a fixed fact of their API.

Telegram's paid broadcasts: a send method called with ``allow_paid_broadcast`` may go
"up to 1000 messages per second, ignoring broadcasting limits for a fee of 0.1 Telegram
Stars per message. The relevant Stars will be withdrawn from the bot's balance"
(https://core.telegram.org/bots/api#sendmessage, parameter ``allow_paid_broadcast``, Bot
API 7.11); without it a bot sends about 30 messages per second to different users
(https://core.telegram.org/bots/faq#how-can-i-message-all-of-my-bot-39s-subscribers-at-once).
Our estimates charge every paid message, the upper bound: the FAQ exempts the part within
the free limit, which a campaign sent at 1,000 per second barely uses.

WhatsApp's prices depend on the template's category and the recipient's country, and
change every quarter: they are data (``messenger.whatsapp.price``), not constants.
"""

TELEGRAM_PAID_BROADCAST_RATE = 1000.0  # messages per second with allow_paid_broadcast
TELEGRAM_PAID_BROADCAST_STARS = 0.1  # Stars per paid message
