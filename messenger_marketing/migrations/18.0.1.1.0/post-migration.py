"""18.0.1.1.0: every record is held to its company.

Contacts the webhook created were written without their company (the channel's), so the
company rule showed them, and the sessions, price alerts, enrolments and consent logs
that take their company from them, to every company. The new company columns of flow
steps, buttons, warming messages, order follow-ups and WhatsApp template parameters are
filled by the ORM from their parents when the module is updated.
"""

# tables whose stored company_id is related to contact_id.company_id
CONTACT_CHILDREN = (
    "messenger_flow_session",
    "messenger_price_alert",
    "messenger_warming_enrolment",
    "messenger_consent_log",
)


def migrate(cr, version):
    cr.execute(
        """UPDATE messenger_contact c SET company_id = ch.company_id
           FROM messenger_channel ch
           WHERE ch.id = c.channel_id AND c.company_id IS DISTINCT FROM ch.company_id"""
    )
    for table in CONTACT_CHILDREN:
        cr.execute(
            f"""UPDATE {table} r SET company_id = c.company_id
                FROM messenger_contact c
                WHERE c.id = r.contact_id AND r.company_id IS DISTINCT FROM c.company_id"""
        )
