"""Steps of a chatbot flow, one method per step type.

How a step type works (other addons add types the same way)::

    class MessengerFlowStep(models.Model):
        _inherit = "messenger.flow.step"

        step_type = fields.Selection(selection_add=[("kb", "Answer from the knowledge base")],
                                     ondelete={"kb": "cascade"})

        def _run_kb(self, session):
            # the flow reached the step: say something with session._say(...), then return
            # the next step to run (self._next()), an empty recordset to end, or WAIT
            session._say(self.text)
            return WAIT

        def _input_kb(self, session, answer):
            # only for steps that WAIT: the person answered (a FlowAnswer with text, token
            # or phone). Return the same as _run_*; WAIT after re-asking keeps waiting.
            ...

A step that waits and has no ``_input_<type>`` gets ``_input_buttons``: a press of one of
its buttons goes on, anything else gets the flow's hint and the buttons again. Button
presses are checked before any ``_input_*`` is called: the token belongs to the step
(see ``_tokens``).
"""

import logging

import pytz

from odoo import _, api, fields, models
from odoo.tools import format_amount, format_datetime

from ..core.flow import button_payload, clean_email, parse_callback_time
from .messenger_media import file_attachment
from .web_url import check_web_urls

_logger = logging.getLogger(__name__)

WAIT = "wait"  # returned by _run_* / _input_*: the session waits for the person's answer
ASAP_TOKEN = "asap"
CARD_BUTTONS = 3  # a product card takes at most this many buttons (VK's carousel)

STEP_TYPES = [
    ("message", "Message"),
    ("product", "Product card"),
    ("content", "Content blocks"),
    ("question", "Question with buttons"),
    ("text", "Free text answer"),
    ("phone", "Ask for the phone number"),
    ("email", "Ask for the e-mail"),
    ("lead", "Create lead"),
    ("callback", "Request a callback"),
    ("handoff", "Hand over to an operator"),
    ("price_alert", "Subscribe to price drops"),
    ("end", "End"),
]


class MessengerFlowStep(models.Model):
    _name = "messenger.flow.step"
    _description = "Messenger Flow Step"
    _order = "flow_id, sequence, id"
    _check_company_auto = True

    flow_id = fields.Many2one("messenger.flow", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="flow_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    name = fields.Char("Label", help="To recognise the step in branches; the customer does not see it.")
    step_type = fields.Selection(STEP_TYPES, "Type", required=True, default="message")
    text = fields.Text(translate=True, help="What the bot says at this step.")
    image = fields.Image(max_width=1280, max_height=1280)
    file = fields.Binary(
        attachment=True, help="Sent with the step's text as the messenger's document, photo, audio or video."
    )
    file_name = fields.Char()
    button_ids = fields.One2many("messenger.flow.button", "step_id", "Buttons", copy=True)
    next_step_id = fields.Many2one(
        "messenger.flow.step",
        "Then Go To",
        domain="[('flow_id', '=', flow_id), ('id', '!=', id)]",
        ondelete="set null",
        help="Empty: the next step in the list.",
    )
    answer_key = fields.Char("Save Answer As", help="Name of the answer in the session and the lead, e.g. Budget.")
    retry_text = fields.Text(
        "Text on a Wrong Answer", translate=True, help="Said before asking again when the answer is not valid."
    )
    product_tmpl_id = fields.Many2one(
        "product.template",
        "Product",
        check_company=True,
        help="Empty: the product of the entry link the person came from.",
    )
    block_kind = fields.Selection(
        [("review", "Reviews"), ("case", "Cases"), ("award", "Awards")],
        "Blocks of Kind",
        help="Shows the blocks of this kind for the product (or general ones) when no block is chosen.",
    )
    block_ids = fields.Many2many("messenger.content.block", string="Content Blocks", check_company=True)
    block_limit = fields.Integer("At Most", default=3)
    button_label = fields.Char(
        "Button Label",
        translate=True,
        help="Phone: the button that shares the number. Callback: the button for “as soon as possible”.",
    )

    @api.depends("name", "step_type", "text", "sequence")
    def _compute_display_name(self):
        types = dict(self._fields["step_type"]._description_selection(self.env))
        for step in self:
            label = step.name or (step.text or "").split("\n")[0][:40]
            kind = types.get(step.step_type, "")
            step.display_name = f"{kind}: {label}" if label else kind

    @api.onchange("step_type")
    def _onchange_step_type(self):
        """Sensible defaults, so a new step works as it is."""
        if self.step_type == "product" and not self.button_ids:
            self.button_ids = [(0, 0, {"label": _("Order"), "sequence": 1}), (0, 0, {"label": _("Ask a question")})]
        defaults = self._default_texts()
        if not self.text or self.text in defaults.values():
            self.text = defaults.get(self.step_type, False)

    def _default_texts(self):
        return {
            "text": _("Tell us a little more, please."),
            "phone": _("Please share your phone number with the button below, or type it."),
            "email": _("What is your e-mail address?"),
            "callback": _("When shall we call you? Write a time like 15:30 or “tomorrow 10:00”."),
            "lead": _("Thank you! Our team will contact you shortly."),
            "price_alert": _("Done: we will tell you here when the price goes down."),
        }

    # -- helpers for step types ----------------------------------------------------------
    def _next(self):
        """The step after this one: its “Then go to”, else the next in the list (empty: end)."""
        self.ensure_one()
        if self.next_step_id:
            return self.next_step_id
        steps = self.flow_id.step_ids.sorted(lambda s: (s.sequence, s.id))
        index = list(steps).index(self)
        return steps[index + 1 : index + 2]

    def _wait(self):
        return WAIT

    def _text(self):
        return self.text or self._default_texts().get(self.step_type, "")

    def _choice_buttons(self):
        return self.button_ids.filtered(lambda b: not b.url)

    def _button_rows(self):
        """The step's buttons, one per row: long labels stay readable on a phone."""
        return [[button._as_button()] for button in self.button_ids.sorted(lambda b: (b.sequence, b.id))]

    def _tokens(self):
        """The button tokens this step accepts (the last part of its payloads)."""
        tokens = {str(button.id) for button in self._choice_buttons()}
        if self.step_type == "callback":
            tokens.add(ASAP_TOKEN)
        return tokens

    def _reask(self, session, hint=None):
        """Say why the answer was not taken, and ask again."""
        session._say(hint or self._text(), buttons=self._answer_buttons(session))

    def _answer_buttons(self, session):
        """Buttons shown again when the step re-asks its question."""
        if self.step_type == "phone":
            return [[{"text": self.button_label or _("Share my phone number"), "request_contact": True}]]
        if self.step_type == "callback":
            return [[{"text": self.button_label or _("As soon as possible"), "payload": self._payload(ASAP_TOKEN)}]]
        return self._button_rows()

    def _payload(self, token):
        return button_payload(self.id, token)

    def _input_buttons(self, session, answer):
        """Default answer handling of a step that waits for one of its buttons."""
        button = self.button_ids.filtered(lambda b: str(b.id) == answer.token)
        if not button:
            self._reask(session, self.flow_id.choose_hint)
            return WAIT
        session._store(self, button.value or button.label)
        return button.next_step_id or self._next()

    # -- step types: what happens when the flow reaches the step ------------------------
    def _run_message(self, session):
        session._say(
            self._text(), buttons=self._button_rows(), image_url=self._image_url(), attachment=file_attachment(self)
        )
        return WAIT if self._choice_buttons() else self._next()

    def _run_question(self, session):
        return self._run_message(session)

    def _run_product(self, session):
        product = (self.product_tmpl_id or session.product_tmpl_id).with_context(lang=self.env.lang)
        if not product:
            _logger.warning("Messenger flow step %s shows a product card but the session has no product", self.id)
            return self._next()
        session.product_tmpl_id = product
        price, currency = product._messenger_price(session.contact_id)
        price_line = _("Price: %s", format_amount(self.env, price, currency))
        image_url = self.env["messenger.image"]._url(product)
        description = product.description_sale or ""
        buttons = self._button_rows()
        provider = session.contact_id.channel_id._provider_class()
        choices = [button for row in buttons for button in row]
        if image_url and provider.max_cards and len(choices) <= CARD_BUTTONS:
            # a platform with product cards (VK's carousel) shows the product as one: its
            # picture, name and price, the step's buttons under it, the rest as the text
            card = {"title": product.name, "description": price_line, "image_url": image_url, "buttons": choices}
            text = "\n\n".join(part for part in (self.text, description) if part) or product.name
            session._say(text, cards=[card])
            return WAIT if self._choice_buttons() else self._next()
        if image_url:
            # the card goes as a picture with a caption, which is shorter than a message
            room = provider.text_limit(with_buttons=bool(buttons), with_image=True)
            room -= len(product.name) + len(self.text or "") + len(price_line) + 8
            if len(description) > room:
                description = description[: max(room - 1, 0)].rstrip() + "…"
        text = "\n\n".join(part for part in (product.name, self.text, description, price_line) if part)
        session._say(text, buttons=buttons, image_url=image_url)
        return WAIT if self._choice_buttons() else self._next()

    def _run_content(self, session):
        blocks = self.block_ids
        if not blocks and self.block_kind:
            blocks = self.env["messenger.content.block"]._for_product(
                self.block_kind, self.product_tmpl_id or session.product_tmpl_id, session.contact_id.company_id
            )
        if self.text:
            session._say(self.text)
        for block in blocks.sorted(lambda b: (b.sequence, b.id))[: self.block_limit or None]:
            session._say(
                block.with_context(lang=self.env.lang)._message_text(),
                image_url=self.env["messenger.image"]._url(block),
            )
        return self._next()

    def _run_text(self, session):
        session._say(self._text(), buttons=self._button_rows())
        return WAIT

    def _input_text(self, session, answer):
        if answer.token:  # a button of the step: skip the question
            return self._input_buttons(session, answer)
        value = (answer.text or answer.phone).strip()
        if not value:
            self._reask(session, self.retry_text)
            return WAIT
        session._store(self, value)
        return self._next()

    def _run_phone(self, session):
        session._say(self._text(), buttons=self._answer_buttons(session))
        return WAIT

    def _input_phone(self, session, answer):
        number = session.contact_id._normalize_phone(answer.phone or answer.text)
        if not number:
            self._reask(
                session,
                self.retry_text
                or _(
                    "That does not look like a phone number. Please use the button, or type it with the country code."
                ),
            )
            return WAIT
        session.phone = number
        session._store(self, number, default_key=_("Phone"))
        return self._next()

    def _run_email(self, session):
        session._say(self._text(), buttons=self._button_rows())
        return WAIT

    def _input_email(self, session, answer):
        if answer.token:
            return self._input_buttons(session, answer)
        email = clean_email(answer.text)
        if not email:
            self._reask(
                session, self.retry_text or _("That does not look like an e-mail address. Please type it again.")
            )
            return WAIT
        session.email = email
        session._store(self, email, default_key=_("E-mail"))
        return self._next()

    def _run_lead(self, session):
        session._make_lead()
        if self.text:
            session._say(self.text)
        return self._next()

    def _run_callback(self, session):
        session._say(self._text(), buttons=self._answer_buttons(session))
        return WAIT

    def _input_callback(self, session, answer):
        tz = pytz.timezone(session._customer_tz())
        local_now = pytz.utc.localize(fields.Datetime.now()).astimezone(tz).replace(tzinfo=None)
        local = local_now if answer.token == ASAP_TOKEN else parse_callback_time(answer.text, local_now)
        if not local:
            self._reask(
                session,
                self.retry_text
                or _("Sorry, I could not read a time there. Please write it like 15:30 or “tomorrow 10:00”."),
            )
            return WAIT
        when = tz.localize(local).astimezone(pytz.utc).replace(tzinfo=None)
        session.callback_at = when
        session._store(self, fields.Datetime.to_string(when), default_key=_("Call back at (UTC)"))
        session._make_lead()._messenger_schedule_callback(when)
        if answer.token == ASAP_TOKEN:
            session._say(_("Thank you! We will call you as soon as we can."))
        else:
            said = format_datetime(self.env, when, tz=tz.zone, dt_format="short", lang_code=self.env.lang)
            session._say(_("Thank you! We will call you at %s.", said))
        return self._next()

    def _run_handoff(self, session):
        if self.text:
            session._say(self.text)
        summary = session._answers_text()
        reason = _("The chatbot flow “%(flow)s” handed the conversation over.", flow=session.flow_id.name)
        session.contact_id._hand_off(f"{reason}\n{summary}" if summary else reason)
        return self.browse()  # the person takes it from here

    def _run_price_alert(self, session):
        product = self.product_tmpl_id or session.product_tmpl_id
        if not product:
            _logger.warning("Messenger flow step %s subscribes to price drops but the session has no product", self.id)
            return self._next()
        self.env["messenger.price.alert"]._subscribe(session.contact_id, product)
        session._say(self._text())
        return self._next()

    def _run_end(self, session):
        if self.text:
            session._say(
                self.text, buttons=self._button_rows(), image_url=self._image_url(), attachment=file_attachment(self)
            )
        return self.browse()

    def _image_url(self):
        return self.env["messenger.image"]._url(self) if self.image else ""


class MessengerFlowButton(models.Model):
    """A button under a step's message: it goes to a step (branching) or opens a link."""

    _name = "messenger.flow.button"
    _description = "Messenger Flow Button"
    _order = "sequence, id"

    step_id = fields.Many2one("messenger.flow.step", required=True, ondelete="cascade", index=True)
    flow_id = fields.Many2one(related="step_id.flow_id")
    company_id = fields.Many2one(related="step_id.company_id", store=True, index=True)
    sequence = fields.Integer(default=10)
    label = fields.Char(required=True, translate=True)
    value = fields.Char("Saved Answer", help="What the answer is saved as; empty: the label.")
    next_step_id = fields.Many2one(
        "messenger.flow.step",
        "Go To",
        domain="[('flow_id', '=', flow_id)]",
        ondelete="set null",
        help="Empty: the step after this one.",
    )
    url = fields.Char("Or Open Link", help="A link button; it does not answer the question.")

    @api.constrains("url")
    def _check_url(self):
        check_web_urls(self, "url")

    def _as_button(self):
        self.ensure_one()
        if self.url:
            return {"text": self.label, "url": self.url}
        return {"text": self.label, "payload": self.step_id._payload(str(self.id))}
