import secrets

from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..core import outbox, signing
from ..core.costs import TELEGRAM_PAID_BROADCAST_RATE
from ..core.providers import PROVIDERS, ChannelConfig, get_provider, provider_selection
from ..core.public import parse_id
from .messenger_access import MANAGER, check_group, check_protected_fields
from .provider_views import build_provider_parts


def _new_secret(_records=None):
    return secrets.token_urlsafe(32)


class MessengerChannel(models.Model):
    _name = "messenger.channel"
    _description = "Messenger Channel"
    _inherit = ["mail.thread"]
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, index=True)
    # A list, not a function: Odoo stores a list's labels (ir.model.fields.selection), and
    # that is what translates and exports them.
    provider = fields.Selection(
        provider_selection(),
        required=True,
        default="sandbox",
        tracking=True,
    )
    # what the form shows or hides, from the provider's class
    provider_remote = fields.Boolean("Connects to a Platform", compute="_compute_provider_facts")
    provider_has_templates = fields.Boolean("Has Message Templates", compute="_compute_provider_facts")
    # -- credentials: managers only, also over RPC (field groups) ----------------------
    token = fields.Char(
        "Bot Token",
        groups=MANAGER,
        copy=False,
        help="Telegram: the token BotFather gives for the bot. VK: a community access token. WhatsApp: a "
        "system user access token. Messenger: the Page access token. Instagram: the account's access token.",
    )
    app_secret = fields.Char(
        groups=MANAGER, copy=False, help="The Meta app's secret: it signs every webhook call (X-Hub-Signature-256)."
    )
    vk_confirmation_code = fields.Char(
        "Confirmation Code",
        groups=MANAGER,
        copy=False,
        help="The string VK expects when it checks the webhook address; Test Connection fetches it.",
    )
    vk_server_id = fields.Char("Callback Server ID", groups=MANAGER, readonly=True, copy=False)
    webhook_key = fields.Char(
        groups=MANAGER,
        copy=False,
        readonly=True,
        default=_new_secret,
        help="Unguessable part of the webhook URL.",
    )
    webhook_secret = fields.Char(
        groups=MANAGER,
        copy=False,
        readonly=True,
        default=_new_secret,
        help="Secret the provider sends back with every webhook call.",
    )
    webhook_url = fields.Char(compute="_compute_webhook_url", search="_search_webhook_url", groups=MANAGER)
    webhook_registered = fields.Boolean(readonly=True, copy=False, tracking=True)
    api_base_url = fields.Char(
        "API Base URL",
        groups="base.group_system",  # the server sends the token there: no address of a manager's choosing
        help="Leave empty for the provider's public API; tests point it at a local fake server.",
    )
    bot_username = fields.Char(
        "Public Name",
        help="Filled by Test Connection; used in deep links: the bot's username (Telegram), the community's short "
        "name (VK), the phone number (WhatsApp), the Page's username (Messenger), the account's username (Instagram).",
    )
    # -- accounts at the provider --------------------------------------------------------
    vk_group_id = fields.Char("Community ID", help="The VK community's numeric ID.")
    whatsapp_phone_number_id = fields.Char("Phone Number ID", help="From the WhatsApp Manager or the app's API setup.")
    whatsapp_account_id = fields.Char("WhatsApp Business Account ID", help="It holds the message templates.")
    facebook_page_id = fields.Char("Facebook Page ID")
    instagram_account_id = fields.Char("Instagram Account ID", help="The ID of the Instagram professional account.")
    whatsapp_template_ids = fields.One2many("messenger.whatsapp.template", "channel_id", "WhatsApp Templates")
    # -- limits ------------------------------------------------------------------------
    rate_limit = fields.Float(
        "Rate Limit (messages/s)", help="Messages per second the provider accepts for the whole channel."
    )
    per_chat_interval = fields.Float("Seconds Between Messages to One Chat")
    request_timeout = fields.Float("Request Timeout (s)", default=10.0)
    max_attempts = fields.Integer(default=5, help="Attempts before a temporary error becomes a failure.")
    pacing_next_slot = fields.Datetime(readonly=True, copy=False, help="Technical: first free sending slot.")
    # The channel's last block of sending slots, on a grid at its rate (see
    # messenger.dispatcher._reserve_window): a process that cannot send at the channel's
    # rate uses every stride-th slot of it, and other processes take the slots between.
    pacing_block_start = fields.Datetime("Block Start", readonly=True, copy=False)
    pacing_block_interval = fields.Float("Block Slot Interval (s)", readonly=True, copy=False)
    pacing_block_stride = fields.Float("Block Stride", readonly=True, copy=False)
    pacing_block_count = fields.Integer("Block Sends per Process", readonly=True, copy=False)
    pacing_block_phases = fields.Integer("Block Processes", readonly=True, copy=False)
    # -- behaviour ---------------------------------------------------------------------
    transactional_consent = fields.Selection(
        [("bound", "Every bound contact that has not blocked the bot"), ("subscribed", "Only subscribed contacts")],
        "Transactional Messages To",
        default="bound",
        required=True,
    )
    # self.env._, not _: with no language in the context (module install) _ falls back to the
    # admin's language and would store it as the English source of the translated field
    welcome_message = fields.Text(
        translate=True,
        default=lambda self: self.env._(
            "Welcome! You will get news and order updates here. Send STOP at any time to unsubscribe."
        ),
    )
    unsubscribe_message = fields.Text(
        translate=True,
        default=lambda self: self.env._(
            "You are unsubscribed and will get no more news from us. Send /start to come back."
        ),
    )
    unsubscribe_button_label = fields.Char(translate=True, default=lambda self: self.env._("Unsubscribe"))
    auto_pause_threshold = fields.Float(
        "Pause Campaigns Above (% refused)",
        default=20.0,
        help="A campaign whose first messages are refused or blocked more often than this pauses itself. 0: never.",
    )
    auto_pause_min_messages = fields.Integer(
        "After at Least (messages)", default=50, help="How many messages a campaign sends before the check applies."
    )
    # -- people -----------------------------------------------------------------------
    team_id = fields.Many2one(
        "crm.team",
        "Sales Team",
        help="Its members take the conversations handed over to a person, in turn, and its leads.",
    )
    last_operator_id = fields.Many2one("res.users", readonly=True, copy=False, help="Technical: round robin.")
    handoff_message = fields.Text(
        "Hand-off Message",
        translate=True,
        default=lambda self: self.env._("Thank you! A person from our team will answer you here shortly."),
    )
    handoff_timeout_hours = fields.Float(
        "Hand Back to the Bot After (hours)",
        default=24.0,
        help="A conversation with no message in either direction for this long goes back to the bot. 0: never.",
    )
    fallback_after_minutes = fields.Float(
        "Fall Back After (minutes)",
        default=30.0,
        help="Order updates and conversation messages that this channel cannot send for this long (an outage) go "
        "to the customer's next channel. 0: they wait.",
    )
    fallback_today = fields.Integer(
        "Delivered Thanks to a Fallback Today",
        compute="_compute_health",
        help="Messages delivered today through this channel after another channel could not deliver them.",
    )
    media_max_mb = fields.Integer(
        "Largest File Fetched (MB)",
        default=20,
        help="Files customers send that are larger are not fetched: the message says so. 0: no limit.",
    )
    last_error = fields.Text(readonly=True, copy=False)
    contact_ids = fields.One2many("messenger.contact", "channel_id")
    contact_count = fields.Integer(compute="_compute_contact_count")
    # -- health, for the overview ------------------------------------------------------
    sent_today = fields.Integer("Sent Today", compute="_compute_health")
    failed_today = fields.Integer("Failed Today", compute="_compute_health")
    queued_count = fields.Integer("Queued", compute="_compute_health")
    waiting_count = fields.Integer("Waiting for a Reply", compute="_compute_health")

    # set by the provider calls, the dispatcher and the hand-off, never over RPC
    _protected_fields = (
        "webhook_key",
        "webhook_secret",
        "webhook_registered",
        "vk_server_id",
        "pacing_next_slot",
        "pacing_block_start",
        "pacing_block_interval",
        "pacing_block_stride",
        "pacing_block_count",
        "pacing_block_phases",
        "last_operator_id",
        "last_error",
    )

    _sql_constraints = [
        ("rate_limit_positive", "CHECK(rate_limit IS NULL OR rate_limit >= 0)", "The rate limit cannot be negative."),
    ]

    @api.depends("webhook_key")
    def _compute_webhook_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for channel in self:
            channel.webhook_url = f"{base}/messenger/webhook/{channel.webhook_key}" if channel.webhook_key else False

    def _search_webhook_url(self, operator, value):
        # Odoo checks a field's groups on search only for stored fields: without this, the
        # condition would be dropped silently and the search would run for anybody.
        check_group(self, MANAGER)
        if operator not in ("=", "in"):
            raise UserError(_("Search channels by their full webhook URL."))
        urls = [value] if operator == "=" else list(value or [])
        return [("webhook_key", "in", [str(url).rpartition("/messenger/webhook/")[2] for url in urls if url])]

    def _compute_contact_count(self):
        counts = dict(
            self.env["messenger.contact"]._read_group([("channel_id", "in", self.ids)], ["channel_id"], ["__count"])
        )
        for channel in self:
            channel.contact_count = counts.get(channel, 0)

    def _compute_health(self):
        today = fields.Datetime.to_datetime(fields.Date.context_today(self))
        Message = self.env["messenger.message"].sudo()
        base = [("channel_id", "in", self.ids), ("direction", "=", "out")]

        def count(domain):
            return dict(Message._read_group(base + domain, ["channel_id"], ["__count"]))

        sent = count([("sent_at", ">=", today), ("state", "in", outbox.SENT)])
        fallback = count([("sent_at", ">=", today), ("state", "in", outbox.SENT), ("fallback_of_id", "!=", False)])
        failed = count([("write_date", ">=", today), ("state", "in", outbox.FAILED)])
        queued = count([("state", "in", outbox.PENDING)])
        waiting = dict(
            self.env["messenger.contact"]
            .sudo()
            ._read_group([("channel_id", "in", self.ids), ("waiting_reply", "=", True)], ["channel_id"], ["__count"])
        )
        for channel in self:
            channel.sent_today = sent.get(channel, 0)
            channel.fallback_today = fallback.get(channel, 0)
            channel.failed_today = failed.get(channel, 0)
            channel.queued_count = queued.get(channel, 0)
            channel.waiting_count = waiting.get(channel, 0)

    def action_view_messages(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_message")
        action["domain"] = [("channel_id", "=", self.id)]
        return action

    def action_view_waiting(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_inbox")
        action["domain"] = [("channel_id", "=", self.id), ("waiting_reply", "=", True)]
        action["context"] = {}
        return action

    @api.depends("provider")
    def _compute_provider_facts(self):
        for channel in self:
            cls = PROVIDERS[channel.provider or "sandbox"]
            channel.provider_remote = cls.remote
            channel.provider_has_templates = cls.has_templates

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        return build_provider_parts(self, arch, required=True), view

    @api.onchange("provider")
    def _onchange_provider(self):
        cls = PROVIDERS[self.provider]
        self.rate_limit = cls.default_rate_limit
        self.per_chat_interval = cls.default_per_chat_interval

    @api.model_create_multi
    def create(self, vals_list):
        check_protected_fields(self, vals_list, self._protected_fields)
        for vals in vals_list:
            cls = PROVIDERS[vals.get("provider") or "sandbox"]
            vals.setdefault("rate_limit", cls.default_rate_limit)
            vals.setdefault("per_chat_interval", cls.default_per_chat_interval)
        return super().create(vals_list)

    def write(self, vals):
        check_protected_fields(self, [vals], self._protected_fields)
        return super().write(vals)

    # -- provider access ---------------------------------------------------------------
    def _provider(self, concurrency=64):
        """The provider object for this channel, with its credentials (read as superuser:
        callers are the dispatcher, the webhook and manager-only buttons)."""
        self.ensure_one()
        channel = self.sudo()
        cls = PROVIDERS[channel.provider]
        # what the provider declares it reads, besides what every provider does
        fields_read = dict(cls.config_fields, account_id=cls.account_field) if cls.account_field else cls.config_fields
        config = ChannelConfig(
            token=channel.token or "",
            api_base_url=channel.api_base_url or "",
            webhook_secret=channel.webhook_secret or "",
            bot_username=channel.bot_username or "",
            request_timeout=channel.request_timeout or 10.0,
            concurrency=concurrency,
            public_base_url=channel.get_base_url(),
            **{attribute: channel[name] or "" for attribute, name in fields_read.items()},
        )
        return get_provider(channel.provider, config)

    def _provider_class(self):
        return PROVIDERS[self.provider]

    def _rate_limit(self, paid_broadcast=False):
        """The channel's limit in messages per second; Telegram's paid broadcasts have their own."""
        self.ensure_one()
        if paid_broadcast:
            return TELEGRAM_PAID_BROADCAST_RATE
        return self.rate_limit or PROVIDERS[self.provider].default_rate_limit

    def _effective_rate(self, paid_broadcast=False):
        """Messages per second the dispatcher aims at: a little under the limit, so network
        jitter between our clock and the provider's never makes a burst over it."""
        return max(self._rate_limit(paid_broadcast), 0.1) * 0.97

    # -- operators ---------------------------------------------------------------------
    def _next_operator(self):
        """The team member who takes the next hand-off: in turn among those online, or
        among all members when nobody is online; an empty recordset without a team."""
        self.ensure_one()
        # one hand-off at a time per channel, so two at once go to two people
        self.env.cr.execute("SELECT id FROM messenger_channel WHERE id = %s FOR UPDATE", [self.id])
        members = self.team_id.member_ids.filtered(lambda u: u.active and not u.share).sorted("id")
        online = members.filtered(lambda u: u.im_status == "online")
        candidates = online or members
        if not candidates:
            return self.env["res.users"]
        after = self.sudo().last_operator_id.id or 0
        operator = next((u for u in candidates if u.id > after), candidates[0])
        self.sudo().last_operator_id = operator
        return operator

    # -- deep links --------------------------------------------------------------------
    def _link_secret(self):
        self.ensure_one()
        secret = self.env["ir.config_parameter"].sudo().get_param("database.secret")
        return f"{secret}:messenger-link:{self.id}"

    def _signed_record(self, model, prefix, payload):
        """The record of ``model`` that a start parameter ``<prefix><id>-<signature>``
        signed for this channel names (entry links, binding links), or an empty recordset.
        Read as superuser: the signature, which only Odoo makes, is the authority."""
        value = signing.verify(self._link_secret(), payload)
        record_id = parse_id(value[len(prefix) :]) if value and value.startswith(prefix) else None
        return self.env[model].sudo().browse(record_id).exists() if record_id else self.env[model]

    def _deep_link(self, payload):
        return self._provider().deep_link(payload)

    # -- buttons -----------------------------------------------------------------------
    def _check_provider_call(self, action):
        try:
            return action()
        except ValueError as exc:
            label = dict(self._fields["provider"]._description_selection(self.env))[self.provider]
            raise UserError(_("%(provider)s refused: %(reason)s", provider=label, reason=exc)) from exc

    def action_register_webhook(self):
        check_group(self, MANAGER, "write")  # before the provider hears of it
        for channel in self.sudo():
            url = channel.webhook_url
            stored = channel._check_provider_call(lambda c=channel, u=url: c._provider().set_webhook(u)) or {}
            channel.write({"webhook_registered": True, "last_error": False, **stored})
        return True

    def action_unregister_webhook(self):
        check_group(self, MANAGER, "write")
        for channel in self.sudo():
            channel._check_provider_call(lambda c=channel: c._provider().delete_webhook())
            channel.webhook_registered = False
        return True

    def action_test_connection(self):
        self.ensure_one()
        check_group(self, MANAGER, "write")
        channel = self.sudo()
        info = channel._check_provider_call(lambda: channel._provider().test_connection())
        channel.write({"last_error": False, **{k: v for k, v in info.items() if k in self._fields}})
        warning = info.get("warning")
        message = _("The connection works.")
        if warning:
            message = _("The connection works, with one thing to fix: %s", warning)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {"type": "warning" if warning else "success", "message": message, "sticky": bool(warning)},
        }

    def action_sync_whatsapp_templates(self):
        """Copy the WhatsApp Business Account's message templates into Odoo."""
        self.ensure_one()
        check_group(self, MANAGER, "write")
        templates = self._check_provider_call(lambda: self._provider().fetch_templates())
        synced = self.env["messenger.whatsapp.template"]._sync(self, templates)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": _("%(count)s WhatsApp templates synchronised.", count=len(synced)),
            },
        }

    def action_view_whatsapp_templates(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_whatsapp_template")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action

    def action_regenerate_secrets(self):
        check_group(self, MANAGER, "write")
        self.sudo().write({"webhook_key": _new_secret(), "webhook_secret": _new_secret(), "webhook_registered": False})
        return True

    def action_view_contacts(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_contact")
        action["domain"] = [("channel_id", "=", self.id)]
        action["context"] = {"default_channel_id": self.id}
        return action
