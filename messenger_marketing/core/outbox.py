"""The outbox's state machine, as data: which states a message moves through and the
groups that features count by. ``messenger.message`` owns the moves (its transition
methods are the only writers of ``state``); everything else reads these names.

    queued ──► sending ──► sent ──► delivered ──► read
      │  ▲        │         └──────────┴─► failed (a provider's status callback)
      ▼  │        ├──► queued (a retry, or handed back unsent)
     held         ├──► failed / uncertain ──► queued (a person retries) / cancelled
                  └──► cancelled (opted out before sending)

``received`` is where an incoming message starts and stays.
"""

# Waiting to go out: what the dispatcher still has to do (a paused campaign's rows are held).
PENDING = ("queued", "sending")
WAITING = ("queued", "sending", "held")
# Not taken by the dispatcher yet: what its author may still change or withdraw.
UNCLAIMED = ("queued", "held")
# The failure type of parts withdrawn because their post was changed or deleted: shown
# nowhere (the post shows what replaced them).
WITHDRAWN = "edited"
# Reached the provider: each is a success for the statistics.
SENT = ("sent", "delivered", "read")
DELIVERED = ("delivered", "read")
# Ended without reaching the person, or without knowing: for a person to review.
FAILED = ("failed", "uncertain")
# A person may put these back in the queue, or cancel them.
RETRYABLE = FAILED
CANCELLABLE = ("queued", "held", "failed", "uncertain")

TRANSITIONS = {
    "queued": {"sending", "held", "cancelled"},
    "held": {"queued", "cancelled"},
    "sending": {"sent", "queued", "failed", "uncertain", "cancelled"},
    # a status callback moves forward only, never from read back to delivered
    "sent": {"delivered", "read", "failed"},
    "delivered": {"read"},
    "read": set(),
    "failed": {"queued", "cancelled"},
    "uncertain": {"queued", "cancelled"},
    "cancelled": set(),
    "received": set(),
}

# How a campaign message's state shows on its mailing trace (Email Marketing's statistics);
# states not named leave the trace as it is.
TRACE_STATUS = {
    "sent": "sent",
    "delivered": "sent",
    "read": "open",
    "failed": "error",
    "uncertain": "error",
    "cancelled": "cancel",
}


def sources(to_state):
    """The states a message may move to ``to_state`` from."""
    return tuple(state for state, targets in TRANSITIONS.items() if to_state in targets)
