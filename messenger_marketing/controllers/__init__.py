from . import landing, webhook
