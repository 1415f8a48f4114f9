"""A person's way through a flow, and the engine that moves it on.

The engine runs on the server, inside the webhook's transaction: a step says something
(queued messages), then either goes on to the next step or waits for the person's answer.
"""

import logging

from markupsafe import Markup

from odoo import _, api, fields, models

from ..core.flow import FlowAnswer, parse_button_payload
from .messenger_flow_step import WAIT

_logger = logging.getLogger(__name__)

MAX_STEPS_PER_TURN = 50  # a flow whose branches loop without a question stops here


class MessengerFlowSession(models.Model):
    _name = "messenger.flow.session"
    _description = "Messenger Flow Session"
    _order = "id desc"
    _rec_name = "contact_id"

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True, readonly=True)
    channel_id = fields.Many2one(related="contact_id.channel_id", store=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True, index=True)
    flow_id = fields.Many2one("messenger.flow", required=True, ondelete="cascade", index=True, readonly=True)
    step_id = fields.Many2one(
        "messenger.flow.step", "Current Step", ondelete="set null", readonly=True, help="Where the person is, or left."
    )
    state = fields.Selection(
        [
            ("waiting", "Waiting for an answer"),
            ("done", "Finished"),
            ("expired", "No answer"),
            ("stopped", "Stopped"),
        ],
        default="waiting",
        required=True,
        readonly=True,
        index=True,
        help="Stopped: the person opened another flow, or a person took the conversation over.",
    )
    answers = fields.Json("Answer Data", readonly=True)
    answers_html = fields.Html("Answers", compute="_compute_answers_html", sanitize=True)
    link_id = fields.Many2one("messenger.flow.link", "Entry Link", ondelete="set null", readonly=True, index=True)
    product_tmpl_id = fields.Many2one("product.template", "Product", ondelete="set null", readonly=True)
    utm_source_id = fields.Many2one("utm.source", "Source", readonly=True)
    utm_medium_id = fields.Many2one("utm.medium", "Medium", readonly=True)
    utm_campaign_id = fields.Many2one("utm.campaign", "Campaign", readonly=True)
    phone = fields.Char(readonly=True)
    email = fields.Char("E-mail", readonly=True)
    callback_at = fields.Datetime("Call Back At", readonly=True)
    lead_id = fields.Many2one("crm.lead", "Lead", ondelete="set null", readonly=True, index="btree_not_null")
    waiting_since = fields.Datetime(readonly=True)
    reminded = fields.Boolean(readonly=True, help="The follow-up after no answer was done.")

    def init(self):
        # one conversation at a time per person, also under concurrent webhooks
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS messenger_flow_session_waiting_uniq
               ON messenger_flow_session (contact_id) WHERE state = 'waiting'"""
        )

    @api.depends("answers")
    def _compute_answers_html(self):
        for session in self:
            rows = Markup("").join(
                Markup("<li><b>%s</b>: %s</li>") % (key, value) for key, value in (session.answers or {}).items()
            )
            session.answers_html = Markup("<ul>%s</ul>") % rows if rows else False

    # -- finding and closing ---------------------------------------------------------
    @api.model
    def _current(self, contact):
        """The contact's session that waits for an answer (an empty recordset if none)."""
        if not contact:
            return self.browse()
        session = self.sudo().search([("contact_id", "=", contact.id), ("state", "=", "waiting")], limit=1)
        if session and not session.step_id:  # a manager deleted the step it waited at
            session._close("expired")
            return self.browse()
        return session

    def _close(self, state="done"):
        if self:
            self.write({"state": state, "waiting_since": False})
            self.flush_recordset(["state"])  # before a new session of the contact is inserted

    # -- the engine --------------------------------------------------------------------
    def _run(self, step):
        """Run steps from ``step`` until one waits for the person or the flow ends."""
        self.ensure_one()
        lang = self.contact_id._lang()
        for _turn in range(MAX_STEPS_PER_TURN):
            if not step:
                self._close("done")
                return
            step = step.with_context(lang=lang)
            result = getattr(step, f"_run_{step.step_type}")(self)
            if isinstance(result, str) and result == WAIT:
                self._wait_at(step)
                return
            self.step_id = step
            step = result
        _logger.warning("Messenger flow %s ran %s steps without a question: stopped", self.flow_id.id, _turn + 1)
        self._close("done")

    def _wait_at(self, step):
        self.write({"step_id": step.id, "state": "waiting", "waiting_since": fields.Datetime.now(), "reminded": False})

    def _resume(self):
        """The person came back to the flow: ask the waiting step again."""
        self._run(self.step_id)

    def _answer(self, answer):
        """The person answered the waiting step (a FlowAnswer)."""
        self.ensure_one()
        step = self.step_id.with_context(lang=self.contact_id._lang())
        handler = getattr(step, f"_input_{step.step_type}", None) or step._input_buttons
        result = handler(self, answer)
        if isinstance(result, str) and result == WAIT:
            self._wait_at(step)
        else:
            self._run(result)

    # -- what the person did ---------------------------------------------------------
    @api.model
    def _on_button(self, contact, payload):
        """A press of a flow button. Only buttons of the step the person is at count: an
        old message's button, or a payload that was made up, is refused and logged."""
        session = self._current(contact)
        parsed = parse_button_payload(payload)
        step = session.step_id
        if session and parsed and parsed[0] == step.id and parsed[1] in step._tokens():
            session._answer(FlowAnswer(token=parsed[1]))
            return
        # a genuine button of an earlier step of this flow is normal (old messages stay
        # on screen); anything else was not made by us for this person
        pressed = session.flow_id.step_ids.filtered(lambda s: parsed and s.id == parsed[0])
        belongs = bool(pressed) and parsed[1] in pressed._tokens()
        (_logger.info if belongs else _logger.warning)(
            "Messenger flow: refused button payload %r from contact %s: not a button of the current step%s",
            (payload or "")[:64],
            contact.id,
            f" {step.id}" if step else " (no flow waits)",
        )
        lang = contact._lang()
        if session:
            step.with_context(lang=lang)._reask(
                session, _("That button is no longer active. Here is where we are:") if belongs else None
            )
            session._wait_at(step)
        else:
            contact._send(
                self.with_context(lang=lang).env._("This button is no longer active. Send /start to begin again.")
            )

    @api.model
    def _on_text(self, contact, text):
        """Free text; True when a flow waited for it (otherwise other features may answer)."""
        session = self._current(contact)
        if not session:
            return False
        session._answer(FlowAnswer(text=text or ""))
        return True

    @api.model
    def _on_phone(self, contact, phone):
        """A phone number shared with the messenger's button; True when a flow took it."""
        session = self._current(contact)
        if not session:
            return False
        session._answer(FlowAnswer(phone=phone or ""))
        return True

    # -- helpers for steps -----------------------------------------------------------
    def _say(self, text, buttons=None, image_url="", attachment=None, cards=None):
        """Queue a message of the bot to the person (a conversation message). A picture
        goes with the text as its caption; a text too long for a caption follows it. A
        file goes as a message of its own after them (its caption is the text, when the
        text fits one and no picture carries it)."""
        self.ensure_one()
        contact = self.contact_id
        text = text or ""
        messages = self.env["messenger.message"]
        provider = contact.channel_id._provider_class()
        if image_url and not provider.fits(text, with_buttons=bool(buttons), with_image=True):
            messages = contact._send("", kind="service", record=self, image_url=image_url)
            image_url = ""
        extra = {"image_url": image_url} if image_url else {}
        if cards:
            extra["cards"] = cards
        if attachment and not image_url:
            extra["attachment_id"] = attachment.id
        elif attachment:
            messages |= contact._send(text, kind="service", record=self, **extra)
            text, extra = "", {"attachment_id": attachment.id}
        return messages | contact._send(text, kind="service", buttons=buttons or None, record=self, **extra)

    def _store(self, step, value, default_key=None):
        """Save an answer under the step's name for it: its "Save answer as", its label,
        else the question itself."""
        question = (step.text or "").strip().split("\n")[0][:60] if step.step_type in ("question", "text") else ""
        types = dict(step._fields["step_type"]._description_selection(self.env))
        key = step.answer_key or step.name or default_key or question or types.get(step.step_type, step.step_type)
        self.answers = {**(self.answers or {}), key: value}

    def _answers_text(self):
        return "\n".join(f"{key}: {value}" for key, value in (self.answers or {}).items())

    def _customer_tz(self):
        """The time zone a person's "15:30" is read in: theirs when known, else the shop's."""
        self.ensure_one()
        company = self.contact_id.company_id or self.env.company
        return self.contact_id.partner_id.tz or company.partner_id.tz or self.env.user.tz or "UTC"

    def _make_lead(self):
        """The contact's open chat lead, updated with what this session learned, or a new
        one. Also starts lead warming. Returns the lead."""
        self.ensure_one()
        contact = self.contact_id
        Lead = self.env["crm.lead"].sudo()
        lead = (
            self.lead_id if self.lead_id and self.lead_id._messenger_is_open() else Lead._messenger_open_lead(contact)
        )
        details = {
            key: value
            for key, value in (
                ("phone", self.phone),
                ("email_from", self.email),
                ("messenger_product_tmpl_id", self.product_tmpl_id.id),
                ("messenger_callback_at", self.callback_at),
            )
            if value
        }
        utm = {
            "source_id": self.utm_source_id.id,
            "medium_id": (self.utm_medium_id or self.env.ref("messenger_marketing.utm_medium_messenger")).id,
            "campaign_id": self.utm_campaign_id.id,
        }
        if lead:
            # the first touch keeps its attribution; gaps are filled in
            lead.write({**details, **{key: value for key, value in utm.items() if value and not lead[key]}})
            if lead != self.lead_id:
                lead._messenger_log_transcript(
                    contact, _("The customer came back through the chat."), since=self.create_date
                )
        else:
            lead = Lead.create({**self._new_lead_vals(), **details, **utm})
            if lead.type == "opportunity" and not lead.partner_id:
                # an opportunity needs a customer for its quotation; the chat is theirs,
                # so order messages for that customer reach it later
                lead._handle_partner_assignment(create_missing=True)
                contact._bind_partner(lead.partner_id, "lead", lead.name)
            lead._messenger_log_transcript(contact, _("Conversation so far:"))
        if lead != self.lead_id:
            self.lead_id = lead
        warming = self.flow_id.warming_id or contact.channel_id.warming_id
        if warming:
            self.env["messenger.warming.enrolment"]._enrol(contact, warming, lead)
        return lead

    def _new_lead_vals(self):
        contact = self.contact_id
        channel = contact.channel_id
        subject = self.product_tmpl_id.name or self.flow_id.name
        user = contact.user_id if contact.user_id in channel.team_id.member_ids else channel._next_operator()
        summary = Markup("").join(
            Markup("<li><b>%s</b>: %s</li>") % (key, value) for key, value in (self.answers or {}).items()
        )
        return {
            "name": _("%(subject)s · %(name)s", subject=subject, name=contact.name),
            "type": self.flow_id.lead_type,
            "partner_id": contact.partner_id.id,
            "contact_name": contact.name if not contact.partner_id else False,
            "messenger_contact_id": contact.id,
            "team_id": channel.team_id.id,
            "user_id": user.id,
            "company_id": (channel.company_id or contact.partner_id.company_id or self.env.company).id,
            "description": Markup("<p>%s</p><ul>%s</ul>") % (_("Answers in the chat:"), summary) if summary else False,
        }

    # -- time-outs ---------------------------------------------------------------------
    @api.model
    def _cron_follow_up(self, limit=1000):
        """Sessions that waited longer than their flow's time-out follow up once (the
        flow's follow-up step, or a reminder and the question again); after a second
        time-out they expire."""
        self.env.flush_all()
        self.env.cr.execute(
            """SELECT s.id FROM messenger_flow_session s
               JOIN messenger_flow f ON f.id = s.flow_id
               WHERE s.state = 'waiting' AND f.timeout_hours > 0
                 AND s.waiting_since < %s - make_interval(secs => f.timeout_hours * 3600)
               ORDER BY s.waiting_since LIMIT %s""",
            (fields.Datetime.now(), limit),
        )
        for session in self.sudo().browse([row[0] for row in self.env.cr.fetchall()]):
            try:
                with self.env.cr.savepoint():
                    session._time_out()
            except Exception:
                _logger.exception("Messenger flow: could not follow up session %s", session.id)

    def _time_out(self):
        self.ensure_one()
        contact = self.contact_id
        if self.reminded or contact.state != "subscribed" or contact.answered_by == "operator":
            self._close("expired")
            return
        flow = self.flow_id.with_context(lang=contact._lang())
        if flow.timeout_step_id:
            self._run(flow.timeout_step_id)
        else:
            if flow.reminder_text:
                self._say(flow.reminder_text)
            self._run(self.step_id)
        if self.state == "waiting":
            self.reminded = True
