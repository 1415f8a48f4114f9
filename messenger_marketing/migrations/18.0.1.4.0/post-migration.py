"""18.0.1.4.0: a messenger campaign is Sending until each of its messages has an outcome.

Campaigns launched before were Done as soon as their messages were queued: those with a
message still waiting in the outbox (queued, being sent, or held by a pause) are Sending
again; the last outcome makes them Done (mailing.mailing._messenger_follow_queue).
"""


def migrate(cr, version):
    cr.execute(
        """UPDATE mailing_mailing mm SET state = 'sending'
           WHERE mm.mailing_type = 'messenger' AND mm.state = 'done'
             AND EXISTS (SELECT 1 FROM messenger_message m
                         WHERE m.mailing_id = mm.id AND m.state IN ('queued', 'sending', 'held'))"""
    )
