from urllib.parse import urlencode

from odoo import _, api, fields, models
from odoo.exceptions import UserError, ValidationError

from ..core import signing


class MessengerFlow(models.Model):
    """A chatbot script: ordered steps the bot walks a person through, from an entry link
    (a product's, a campaign's) or from ``/start``."""

    _name = "messenger.flow"
    _description = "Messenger Chatbot Flow"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company, index=True)
    step_ids = fields.One2many("messenger.flow.step", "flow_id", "Steps", copy=True)
    on_return = fields.Selection(
        [("resume", "Resume where the person left"), ("restart", "Start again")],
        "When a Person Comes Back",
        default="resume",
        required=True,
        help="What happens when a person who has not finished the flow opens it again.",
    )
    lead_type = fields.Selection(
        [("opportunity", "Opportunity"), ("lead", "Lead")],
        "Creates",
        default="opportunity",
        required=True,
        help="What the “Create lead” step makes in CRM.",
    )
    # self.env._, not _: with no language in the context (module install) _ falls back to the
    # admin's language and would store it as the English source of the translated field
    choose_hint = fields.Char(
        "Hint When a Button Is Expected",
        translate=True,
        default=lambda self: self.env._("Please choose one of the buttons below."),
    )
    timeout_hours = fields.Float(
        "Follow Up After (hours)",
        default=24.0,
        help="When a person does not answer a question for this long, the bot follows up once. 0: never.",
    )
    timeout_step_id = fields.Many2one(
        "messenger.flow.step",
        "Follow-up Step",
        copy=False,  # set again by copy(), to the copy's own step
        domain="[('flow_id', '=', id)]",
        help="Where the flow goes when a question timed out. Empty: the reminder text and the question again.",
    )
    reminder_text = fields.Text(
        translate=True,
        default=lambda self: self.env._("Are you still there? Just answer below and we will go on."),
    )
    warming_id = fields.Many2one(
        "messenger.warming",
        "Lead Warming",
        check_company=True,
        help="Follow-up sequence started when this flow creates a lead (else the channel's).",
    )
    link_ids = fields.One2many("messenger.flow.link", "flow_id", "Entry Links")
    session_ids = fields.One2many("messenger.flow.session", "flow_id", "Sessions")
    session_count = fields.Integer(compute="_compute_counts")
    lead_count = fields.Integer(compute="_compute_counts")

    def _compute_counts(self):
        Session = self.env["messenger.flow.session"]
        sessions = dict(Session._read_group([("flow_id", "in", self.ids)], ["flow_id"], ["__count"]))
        leads = dict(
            Session._read_group([("flow_id", "in", self.ids), ("lead_id", "!=", False)], ["flow_id"], ["__count"])
        )
        for flow in self:
            flow.session_count = sessions.get(flow, 0)
            flow.lead_count = leads.get(flow, 0)

    @api.constrains("timeout_step_id")
    def _check_timeout_step(self):
        for flow in self:
            if flow.timeout_step_id and flow.timeout_step_id.flow_id != flow:
                raise ValidationError(_("The follow-up step must be a step of the same flow."))

    def copy(self, default=None):
        """A copy's branches point to its own steps, not to the original's."""
        copies = super().copy(default)
        for flow, copy in zip(self, copies, strict=True):
            mapping = dict(
                zip(
                    flow.step_ids.sorted(lambda s: (s.sequence, s.id)),
                    copy.step_ids.sorted(lambda s: (s.sequence, s.id)),
                    strict=True,
                )
            )
            for record in [*copy.step_ids, *copy.step_ids.button_ids]:
                if record.next_step_id in mapping:
                    record.next_step_id = mapping[record.next_step_id]
            if flow.timeout_step_id:
                copy.timeout_step_id = mapping[flow.timeout_step_id]
        return copies

    def _first_step(self):
        self.ensure_one()
        return self.step_ids.sorted(lambda s: (s.sequence, s.id))[:1]

    def _start(self, contact, link=None):
        """Walk the contact into this flow: resume the unfinished session of this flow when
        the flow says so, else close whatever session was open and start from the top."""
        self.ensure_one()
        Session = self.env["messenger.flow.session"].sudo()
        current = Session._current(contact)
        other_product = link and link.product_tmpl_id and link.product_tmpl_id != current.product_tmpl_id
        if current.flow_id == self and self.on_return == "resume" and not other_product:
            current._resume()
            return current
        current._close("stopped")
        session = Session.create(
            {
                "contact_id": contact.id,
                "flow_id": self.id,
                "link_id": link.id if link else False,
                "product_tmpl_id": link.product_tmpl_id.id if link else False,
                "utm_source_id": link.source_id.id if link else False,
                "utm_medium_id": link.medium_id.id if link else False,
                "utm_campaign_id": link.campaign_id.id if link else False,
            }
        )
        session._run(self._first_step())
        return session

    # -- buttons -----------------------------------------------------------------------
    def action_view_sessions(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_flow_session")
        action["domain"] = [("flow_id", "=", self.id)]
        return action

    def action_view_leads(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_chat_leads")
        action["domain"] = [("id", "in", self.session_ids.lead_id.ids)]
        return action

    def action_try_in_simulator(self):
        """Open the simulator on a sandbox channel, already inside this flow."""
        self.ensure_one()
        self.check_access("read")
        channel = self.env["messenger.channel"].search(
            [("provider", "=", "sandbox"), ("company_id", "in", [False, *self.env.companies.ids])], limit=1
        )
        if not channel:
            raise UserError(_("Create a channel with the Sandbox provider first: the simulator talks to it."))
        # a product that uses the flow, so that its card shows as a customer would see it
        product = self.env["product.template"].search([("messenger_flow_id", "=", self.id)], limit=1)
        link = self.link_ids.filtered(
            lambda lnk: lnk.channel_id == channel and lnk.product_tmpl_id == product and lnk.name == _("Simulator")
        )[:1] or self.env["messenger.flow.link"].create(
            {"name": _("Simulator"), "channel_id": channel.id, "flow_id": self.id, "product_tmpl_id": product.id}
        )
        simulator = self.env["messenger.simulator"].create({"channel_id": channel.id})
        # a fresh start each time the manager tries the flow
        self.env["messenger.flow.session"].sudo()._current(simulator.contact_id)._close("stopped")
        simulator.text = f"/start {link.payload}"
        return simulator.action_send()


class MessengerFlowLink(models.Model):
    """An entry point: a deep link that opens the bot in a flow, about a product, with the
    UTM source, medium and campaign of where the link was published. The messenger's start
    parameter is short (64 characters on Telegram), so the link carries only a signed
    reference to this record."""

    _name = "messenger.flow.link"
    _description = "Messenger Entry Link"
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True, readonly=False, required=True, precompute=True)
    active = fields.Boolean(default=True)
    channel_id = fields.Many2one("messenger.channel", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="channel_id.company_id", store=True, index=True)
    flow_id = fields.Many2one(
        "messenger.flow",
        ondelete="cascade",
        index="btree_not_null",
        check_company=True,
        help="Empty: the product's flow, else the channel's landing flow.",
    )
    product_tmpl_id = fields.Many2one(
        "product.template", "Product", ondelete="cascade", index="btree_not_null", check_company=True
    )
    source_id = fields.Many2one("utm.source", "Source", help="Where the link is published, e.g. an Instagram post.")
    medium_id = fields.Many2one(
        "utm.medium",
        "Medium",
        default=lambda self: self.env.ref("messenger_marketing.utm_medium_messenger", raise_if_not_found=False),
    )
    campaign_id = fields.Many2one("utm.campaign", "Campaign")
    payload = fields.Char(compute="_compute_url", help="The signed start parameter.")
    url = fields.Char("Link", compute="_compute_url")
    qr_url = fields.Char("QR Code", compute="_compute_url")
    session_ids = fields.One2many("messenger.flow.session", "link_id")
    session_count = fields.Integer("Starts", compute="_compute_counts")
    lead_count = fields.Integer("Leads", compute="_compute_counts")

    _sql_constraints = [
        (
            "flow_or_product",
            "CHECK(flow_id IS NOT NULL OR product_tmpl_id IS NOT NULL)",
            "An entry link opens a flow or a product.",
        ),
    ]

    @api.depends("flow_id", "product_tmpl_id", "source_id", "channel_id")
    def _compute_name(self):
        for link in self:
            if not link.name:
                parts = [link.product_tmpl_id.name or link.flow_id.name, link.source_id.name, link.channel_id.name]
                link.name = " · ".join(p for p in parts if p) or _("Entry link")

    @api.depends("channel_id", "channel_id.bot_username", "channel_id.provider")
    def _compute_url(self):
        for link in self:
            if not link.id or not link.channel_id:
                link.payload = link.url = link.qr_url = False
                continue
            link.payload = signing.sign(link.channel_id._link_secret(), f"f{link.id}")
            link.url = link.channel_id._deep_link(link.payload)
            query = urlencode({"barcode_type": "QR", "value": link.url, "width": 240, "height": 240})
            link.qr_url = f"/report/barcode/?{query}"

    def _compute_counts(self):
        Session = self.env["messenger.flow.session"]
        sessions = dict(Session._read_group([("link_id", "in", self.ids)], ["link_id"], ["__count"]))
        leads = dict(
            Session._read_group([("link_id", "in", self.ids), ("lead_id", "!=", False)], ["link_id"], ["__count"])
        )
        for link in self:
            link.session_count = sessions.get(link, 0)
            link.lead_count = leads.get(link, 0)

    def _flow(self):
        """The flow the link opens."""
        self.ensure_one()
        return self.flow_id or self.product_tmpl_id.messenger_flow_id or self.channel_id.landing_flow_id

    @api.model
    def _from_payload(self, channel, payload):
        """The active link a signed start parameter names on this channel, or None."""
        link = channel._signed_record(self._name, "f", payload)
        return link if link and link.active and link.channel_id == channel else None
