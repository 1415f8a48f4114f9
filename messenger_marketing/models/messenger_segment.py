"""Behaviour segments: facts of a person's messenger history as searchable fields of the
audience models (messenger contacts and partners), for Email Marketing's filter editor
and any search. Each fact is one SQL set of contact ids, so a campaign's domain stays one
query whatever the audience's size; nothing is stored, so nothing goes stale."""

from odoo import fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..core import outbox

REACHED = str(outbox.SENT)  # a literal SQL list: ('sent', 'delivered', 'read')

# fact -> SQL giving the ids of the messenger contacts it is true of
FACTS = {
    # the latest campaign message that reached the person (sent last; a queued or failed
    # one did not reach them) was read; messenger_message_campaign_reached_idx serves it
    "messenger_read_last_campaign": f"""
        SELECT contact_id FROM (SELECT DISTINCT ON (contact_id) contact_id, state FROM messenger_message
                                WHERE mailing_id IS NOT NULL AND state IN {REACHED}
                                ORDER BY contact_id, sent_at DESC, id DESC) last
        WHERE state = 'read'""",
    "messenger_clicked": """
        SELECT m.contact_id FROM messenger_message m JOIN mailing_trace t ON t.id = m.mailing_trace_id
        WHERE t.links_click_datetime IS NOT NULL""",
    "messenger_replied": """
        SELECT m.contact_id FROM messenger_message m JOIN mailing_trace t ON t.id = m.mailing_trace_id
        WHERE t.trace_status = 'reply'""",
    "messenger_answered_flow": """
        SELECT contact_id FROM messenger_flow_session
        WHERE answers IS NOT NULL AND answers::text NOT IN ('{}', 'null')""",
    # neither won nor lost (a lost lead is archived)
    "messenger_has_open_lead": """
        SELECT l.messenger_contact_id FROM crm_lead l LEFT JOIN crm_stage s ON s.id = l.stage_id
        WHERE l.messenger_contact_id IS NOT NULL AND l.active AND NOT COALESCE(s.is_won, false)""",
    "messenger_price_alert": "SELECT contact_id FROM messenger_price_alert WHERE active",
}
LABELS = {
    "messenger_read_last_campaign": (
        "Read the Last Campaign",
        "Read the message of the latest messenger campaign that reached them.",
    ),
    "messenger_clicked": ("Clicked a Campaign", "Opened a link of a messenger campaign."),
    "messenger_replied": ("Replied to a Campaign", "Wrote back after a messenger campaign."),
    "messenger_answered_flow": ("Answered a Chatbot", "Answered a question of a chatbot flow."),
    "messenger_has_open_lead": ("Has an Open Chat Lead", "Has a chat lead neither won nor lost."),
    "messenger_price_alert": ("Follows a Price", "Subscribed to a price-drop alert."),
}


def _compute_segments(records):
    for name in FACTS:
        found = set(records.search([("id", "in", records.ids), (name, "=", True)]).ids) if records.ids else set()
        for record in records:
            record[name] = record.id in found


def _segment(name):
    """A fact as a field: computed for the form, searched as one SQL set."""

    def search(records, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise UserError(records.env._("A behaviour segment is either true or false."))
        inside = (operator == "=") == value
        ids = SQL("(%s)", records._messenger_segment_ids(SQL(FACTS[name])))
        return [("id", "in" if inside else "not in", ids)]

    string, help_text = LABELS[name]
    return fields.Boolean(string, help=help_text, compute=_compute_segments, search=search)


class MessengerMessage(models.Model):
    _inherit = "messenger.message"

    def init(self):
        super().init()
        # "Read the Last Campaign": each person's latest message that reached them
        self.env.cr.execute(
            f"""CREATE INDEX IF NOT EXISTS messenger_message_campaign_reached_idx
               ON messenger_message (contact_id, sent_at DESC, id DESC)
               WHERE mailing_id IS NOT NULL AND state IN {REACHED}"""
        )


class MessengerSegmentMixin(models.AbstractModel):
    """The facts as fields of an audience model; the model says which of its records a set
    of contact ids names (``_messenger_segment_ids``)."""

    _name = "messenger.segment.mixin"
    _description = "Messenger Behaviour Segments"

    messenger_read_last_campaign = _segment("messenger_read_last_campaign")
    messenger_clicked = _segment("messenger_clicked")
    messenger_replied = _segment("messenger_replied")
    messenger_answered_flow = _segment("messenger_answered_flow")
    messenger_has_open_lead = _segment("messenger_has_open_lead")
    messenger_price_alert = _segment("messenger_price_alert")


class MessengerContact(models.Model):
    _name = "messenger.contact"
    _inherit = ["messenger.contact", "messenger.segment.mixin"]

    def _messenger_segment_ids(self, contacts):
        return contacts


class ResPartner(models.Model):
    _name = "res.partner"
    _inherit = ["res.partner", "messenger.segment.mixin"]

    def _messenger_segment_ids(self, contacts):
        """The partners of those contacts."""
        return SQL("SELECT partner_id FROM messenger_contact WHERE partner_id IS NOT NULL AND id IN (%s)", contacts)
