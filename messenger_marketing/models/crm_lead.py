import pytz
from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools import format_datetime, html2plaintext

from .messenger_access import USER, check_group

TRANSCRIPT_LIMIT = 100  # messages copied into a lead's chatter


class CrmLead(models.Model):
    _inherit = "crm.lead"

    messenger_contact_id = fields.Many2one(
        "messenger.contact",
        "Messenger Contact",
        ondelete="set null",
        index="btree_not_null",
        tracking=True,
        copy=False,  # a copy of the lead is no second owner of the chat
    )
    messenger_channel_id = fields.Many2one(related="messenger_contact_id.channel_id", string="Messenger Channel")
    messenger_product_tmpl_id = fields.Many2one("product.template", "Product of Interest", ondelete="set null")
    messenger_callback_at = fields.Datetime("Call Back At", tracking=True)
    # readable by every CRM user, also those who may not read messenger contacts
    is_messenger_lead = fields.Boolean("Chat Lead", compute="_compute_is_messenger_lead", store=True)

    @api.model_create_multi
    def create(self, vals_list):
        self._messenger_check_link(vals_list)
        return super().create(vals_list)

    def _messenger_check_link(self, vals_list):
        """A lead links to a conversation only for a user who may read it: posting on the
        lead messages that customer, and their next messages show in the lead."""
        contacts = self.env["messenger.contact"].browse(
            list({vals["messenger_contact_id"] for vals in vals_list if vals.get("messenger_contact_id")})
        )
        if contacts:
            check_group(contacts, USER)

    @api.depends("messenger_contact_id")
    def _compute_is_messenger_lead(self):
        for lead in self:
            lead.is_messenger_lead = bool(lead.messenger_contact_id)

    @api.model
    def _messenger_open_lead(self, contact):
        """The contact's chat lead that is neither won nor lost, if any."""
        return self.sudo().search(
            [("messenger_contact_id", "=", contact.id), ("active", "=", True), ("stage_id.is_won", "=", False)],
            order="id desc",
            limit=1,
        )

    def _messenger_is_open(self):
        self.ensure_one()
        return self.active and not self.stage_id.is_won

    def _messenger_log_transcript(self, contact, title, since=None):
        """Copy the chat (from ``since``, else its last messages) into the lead's chatter."""
        self.ensure_one()
        domain = [("contact_id", "=", contact.id)]
        if since:
            domain.append(("create_date", ">=", since))
        messages = self.env["messenger.message"].sudo().search(domain, order="id desc", limit=TRANSCRIPT_LIMIT)
        lines = Markup("").join(
            Markup("<li><b>%s</b>: %s</li>")
            % (contact.name if message.direction == "in" else contact.channel_id.name, message.body or "")
            for message in reversed(messages)
        )
        body = Markup("<p>%s</p><ul>%s</ul>") % (title, lines)
        self.with_context(messenger_inbound=True).message_post(
            body=body,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
            author_id=self.env.ref("base.partner_root").id,
        )

    def _messenger_schedule_callback(self, when):
        """A call activity for the salesperson at the time the customer asked for."""
        self.ensure_one()
        user = self.user_id or self.team_id.user_id or self.env.ref("base.user_admin")
        tz = pytz.timezone(user.tz or self.env.company.partner_id.tz or "UTC")
        local = pytz.utc.localize(when).astimezone(tz)
        self.messenger_callback_at = when
        said = format_datetime(self.env, when, tz=tz.zone, dt_format="short", lang_code=user.lang)
        self.activity_schedule(
            "mail.mail_activity_data_call",
            date_deadline=local.date(),
            summary=_("Call back at %s", said),
            note=Markup("<p>%s</p>") % _("The customer asked in the chat to be called at %s.", said),
            user_id=user.id,
        )

    # -- the conversation from the lead --------------------------------------------------
    def message_post(self, **kwargs):
        """“Send message” on a chat lead also goes to the customer in the messenger,
        through the outbox, as from the contact's own chatter; notes stay internal."""
        message = super().message_post(**kwargs)
        if len(self) == 1 and not self.env.context.get("messenger_inbound"):
            vals_list = self._messenger_post_vals(message, self.messenger_contact_id)
            if vals_list:
                self.env["messenger.message"].sudo()._queue(vals_list)
        return message

    def _messenger_post_vals(self, message, contact):
        if not (
            contact
            and message.message_type == "comment"
            and message.subtype_id == self.env.ref("mail.mt_comment")
            and self.env.user._is_internal()
        ):
            return []
        text = html2plaintext(message.body or "").strip()
        if not text:
            return []
        # writing to the customer is for Messenger users who may read the chat (as the
        # user: Discuss posts as superuser); the refusal undoes the post
        check_group(contact.with_user(self.env.user), USER)
        return contact.sudo()._message_vals(text, kind="service", priority=10, record=self, mail_message_id=message.id)

    def action_open_messenger_contact(self):
        """The lead's conversation, in Discuss."""
        self.ensure_one()
        check_group(self.messenger_contact_id, USER)
        return self.messenger_contact_id.action_open_conversation()

    # -- won, lost (archived): warming stops --------------------------------------------------------
    def write(self, vals):
        self._messenger_check_link([vals])
        result = super().write(vals)
        if {"stage_id", "active", "probability"} & set(vals):
            closed = self.filtered(lambda lead: lead.stage_id.is_won or not lead.active)
            if closed:
                self.env["messenger.warming.enrolment"]._stop_for_leads(closed, _("The lead was won or lost."))
        return result
