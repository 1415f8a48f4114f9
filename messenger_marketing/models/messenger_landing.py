"""Chat landing: where chatbot flows meet channels, contacts and incoming messages."""

import logging
import re

from markupsafe import Markup

from odoo import _, fields, models

from ..core.flow import is_flow_payload, parse_button_payload
from .messenger_access import USER, check_group
from .messenger_flow_step import ASAP_TOKEN

_logger = logging.getLogger(__name__)


class MessengerChannel(models.Model):
    _inherit = "messenger.channel"
    _check_company_auto = True

    landing_flow_id = fields.Many2one(
        "messenger.flow",
        "Messenger Landing",
        check_company=True,
        help="The flow that answers /start without a link. Empty: the welcome message.",
    )
    warming_id = fields.Many2one(
        "messenger.warming",
        "Lead Warming",
        check_company=True,
        help="Follow-up sequence for chat leads of this channel whose flow has none.",
    )
    link_ids = fields.One2many("messenger.flow.link", "channel_id", "Entry Links")


class MessengerConsentLog(models.Model):
    _inherit = "messenger.consent.log"

    method = fields.Selection(selection_add=[("lead", "Chat lead")], ondelete={"lead": "cascade"})


class MessengerContact(models.Model):
    _inherit = "messenger.contact"

    flow_session_ids = fields.One2many("messenger.flow.session", "contact_id", "Flow Sessions")
    lead_ids = fields.One2many("crm.lead", "messenger_contact_id", "Chat Leads")
    lead_count = fields.Integer(compute="_compute_lead_count")
    price_alert_ids = fields.One2many("messenger.price.alert", "contact_id", "Price Alerts")

    def _compute_lead_count(self):
        counts = dict(
            self.env["crm.lead"]
            .sudo()
            ._read_group([("messenger_contact_id", "in", self.ids)], ["messenger_contact_id"], ["__count"])
        )
        for contact in self:
            contact.lead_count = counts.get(contact, 0)

    def _set_consent(self, state, method, source="", mailing=None):
        changed = super()._set_consent(state, method, source, mailing)
        if state != "subscribed" and changed:
            self.env["messenger.warming.enrolment"].sudo().search(
                [("contact_id", "in", changed.ids), ("state", "=", "active")]
            )._stop(_("The contact unsubscribed."))
        return changed

    def _hand_off(self, reason=""):
        """A person takes over: the flow that waited for an answer stops."""
        self.env["messenger.flow.session"].sudo().search(
            [("contact_id", "in", self.ids), ("state", "=", "waiting")]
        )._close("stopped")
        return super()._hand_off(reason)

    def action_take_over(self):
        check_group(self, USER, "write")  # before the sessions are closed as superuser
        self.env["messenger.flow.session"].sudo().search(
            [("contact_id", "in", self.ids), ("state", "=", "waiting")]
        )._close("stopped")
        return super().action_take_over()

    def _normalize_phone(self, text):
        """The number in E.164 form, or None when the text is not a valid phone number."""
        self.ensure_one()
        raw = (text or "").strip()
        if not raw or re.search(r"[^\d\s+().-]", raw) or len(re.sub(r"\D", "", raw)) < 7:
            return None
        if raw.isdigit() and len(raw) > 10:
            raw = f"+{raw}"  # Telegram shares international numbers without the "+"
        country = self.partner_id.country_id or self.channel_id.company_id.country_id or self.env.company.country_id
        return self.env["res.partner"]._phone_format(number=raw, country=country, force_format="E164") or None

    def action_view_leads(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_chat_leads")
        action["domain"] = [("messenger_contact_id", "=", self.id)]
        action["context"] = {"active_test": False}
        return action


class MessengerInbound(models.AbstractModel):
    """Incoming events for flows: deep links and /start open a flow, answers move it on."""

    _inherit = "messenger.inbound"

    def _record(self, contact, event, text):
        """What the customer writes also shows in their open chat lead."""
        message = super()._record(contact, event, text)
        lead = self.env["crm.lead"]._messenger_open_lead(contact)
        if lead:
            self._show_in_chatter(lead, contact, Markup("<p>%s</p>") % text)
        return message

    def _button_text(self, contact, event):
        """A flow button reads as its label (in the lead's transcript, say)."""
        parsed = parse_button_payload(event.payload)
        step = self.env["messenger.flow.step"].browse(parsed[0]).exists() if parsed else None
        if step:
            step = step.with_context(lang=contact._lang())
            button = step.button_ids.filtered(lambda b: str(b.id) == parsed[1])
            if button:
                return button.label
            if parsed[1] == ASAP_TOKEN:
                return step._answer_buttons(None)[0][0]["text"]
        return super()._button_text(contact, event)

    def _on_start(self, contact, event):
        if super()._on_start(contact, event):
            return True
        payload = event.payload or ""
        link = None
        if payload.startswith("f"):
            link = self.env["messenger.flow.link"]._from_payload(contact.channel_id, payload)
            if not link:
                _logger.warning(
                    "Messenger: refused an entry-link payload with a bad signature or an inactive link on "
                    "channel %s (contact %s)",
                    contact.channel_id.id,
                    contact.id,
                )
        flow = link._flow() if link else contact.channel_id.landing_flow_id
        if not flow:
            return False
        flow._start(contact, link=link)
        return True

    def _on_text(self, contact, event):
        return super()._on_text(contact, event) or self.env["messenger.flow.session"]._on_text(contact, event.text)

    def _on_button(self, contact, event):
        if super()._on_button(contact, event):
            return True
        if not is_flow_payload(event.payload):
            return False
        self.env["messenger.flow.session"]._on_button(contact, event.payload)
        return True

    def _on_contact(self, contact, event):
        return super()._on_contact(contact, event) or self.env["messenger.flow.session"]._on_phone(contact, event.phone)
