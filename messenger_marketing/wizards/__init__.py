from . import mailing_messenger_test, messenger_channel_setup, messenger_composer, messenger_invite, messenger_simulator
