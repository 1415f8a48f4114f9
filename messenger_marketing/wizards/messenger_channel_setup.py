from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..core.providers import PROVIDERS
from ..models.messenger_access import check_protected_fields
from ..models.provider_views import build_provider_parts, field_label

# What the assistant asks for is the provider's credential_fields: the channel fields in
# the order a person finds them in the provider's console (its setup_help says where each
# one is); the assistant has a field of the same name and label for each.
MANAGER = "messenger_marketing.group_messenger_manager"


class MessengerChannelSetup(models.TransientModel):
    """A guided way to a working channel: pick the messenger, paste what its console
    gives, test it (the error says what to fix), and connect the webhook."""

    _name = "messenger.channel.setup"
    _description = "Messenger Channel Setup Assistant"
    # the channel it made: its webhook address is read through it, as superuser
    _protected_fields = ("channel_id", "error")

    step = fields.Selection(
        [("provider", "Messenger"), ("credentials", "Keys"), ("webhook", "Webhook"), ("done", "Done")],
        default="provider",
        required=True,
    )
    name = fields.Char("Channel Name", required=True, default=lambda self: _("Shop bot"))
    provider = fields.Selection(lambda self: self.env["messenger.channel"]._fields["provider"].selection, required=True)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, required=True)
    token = fields.Char("Bot Token", groups=MANAGER)
    app_secret = fields.Char(groups=MANAGER)
    vk_group_id = fields.Char("Community ID")
    whatsapp_phone_number_id = fields.Char("Phone Number ID")
    whatsapp_account_id = fields.Char("WhatsApp Business Account ID")
    facebook_page_id = fields.Char("Facebook Page ID")
    instagram_account_id = fields.Char("Instagram Account ID")
    api_base_url = fields.Char(
        "API Base URL",
        groups="base.group_system",
        help="Leave empty for the provider's public API; set it for a self-hosted Telegram Bot API server.",
    )
    channel_id = fields.Many2one("messenger.channel", readonly=True)
    error = fields.Text(readonly=True)
    webhook_url = fields.Char(related="channel_id.webhook_url")
    webhook_secret = fields.Char(related="channel_id.webhook_secret")
    webhook_registered = fields.Boolean(related="channel_id.webhook_registered")

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        # not required in the view: the assistant names what is missing (Test Connection),
        # and a required field would stop its Back button
        arch, view = super()._get_view(view_id, view_type, **options)
        return build_provider_parts(self, arch, required=False), view

    @api.model
    def _credential_labels(self, provider):
        """The names the view shows for the provider's credentials."""
        return [field_label(self, provider, name) for name in PROVIDERS[provider].credential_fields]

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": _("New Messenger Channel"),
        }

    @api.model_create_multi
    def create(self, vals_list):
        check_protected_fields(self, vals_list, self._protected_fields)
        return super().create(vals_list)

    def write(self, vals):
        check_protected_fields(self, [vals], self._protected_fields)
        return super().write(vals)

    def _channel_vals(self):
        vals = {"name": self.name, "provider": self.provider, "company_id": self.company_id.id}
        for name in PROVIDERS[self.provider].credential_fields:
            vals[name] = self[name] or False
        if self.sudo().api_base_url:  # only a system administrator can have set it
            vals["api_base_url"] = self.sudo().api_base_url
        return vals

    def _attempt(self, action):
        """Run a provider call; on failure keep the assistant open with the reason."""
        try:
            action()
        except UserError as exc:
            self.sudo().error = str(exc.args[0] if exc.args else exc)
            return False
        self.sudo().error = False
        return True

    def action_next(self):
        """From the choice of messenger to its keys (a sandbox needs none: done)."""
        self.ensure_one()
        if not PROVIDERS[self.provider].credential_fields:
            self.sudo().channel_id = self.env["messenger.channel"].create(self._channel_vals())
            self.step = "done"
        else:
            self.step = "credentials"
        return self._reopen()

    def action_check(self):
        """Save the keys on the channel and ask the provider whether they work."""
        self.ensure_one()
        cls = PROVIDERS[self.provider]
        missing = [
            label
            for name, label in zip(cls.credential_fields, self._credential_labels(self.provider), strict=True)
            if not self[name] and name not in cls.optional_credentials
        ]
        if missing:
            self.sudo().error = _("Fill in: %s.", ", ".join(missing))
            return self._reopen()
        if self.channel_id:
            self.channel_id.write(self._channel_vals())
        else:
            self.sudo().channel_id = self.env["messenger.channel"].create(self._channel_vals())
        if self._attempt(self.channel_id.action_test_connection):
            self.step = "webhook"
        return self._reopen()

    def action_register_webhook(self):
        self.ensure_one()
        if self._attempt(self.channel_id.action_register_webhook):
            self.step = "done"
        return self._reopen()

    def action_back(self):
        self.ensure_one()
        self.step = {"credentials": "provider", "webhook": "credentials"}.get(self.step, self.step)
        self.sudo().error = False
        return self._reopen()

    def action_open_channel(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "res_model": "messenger.channel",
            "res_id": self.channel_id.id,
            "view_mode": "form",
            "target": "current",
        }
