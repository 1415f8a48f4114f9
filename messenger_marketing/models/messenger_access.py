"""Checks at the trust boundary, shared by every model of the addons.

Odoo's access rules say who may read or write a model; they do not say which of its
fields only the system may set (an outbox's state, a consent, a chat id). Those fields
are listed per model and refused in ``create``/``write`` unless the code writes them
itself, as superuser, after it checked the caller.
"""

from odoo.exceptions import AccessError

USER = "messenger_marketing.group_messenger_user"
MANAGER = "messenger_marketing.group_messenger_manager"


def check_protected_fields(records, vals_list, protected):
    """Refuse values for ``protected`` fields from anyone but the superuser."""
    if records.env.su:
        return
    touched = sorted({name for vals in vals_list for name in vals} & set(protected))
    if touched:
        labels = ", ".join(records._fields[name].string for name in touched)
        raise AccessError(
            records.env._(
                "These fields of %(model)s are set by the system only: %(fields)s.",
                model=records._description,
                fields=labels,
            )
        )


def check_group(records, group, operation="read"):
    """The caller is in ``group`` and may do ``operation`` on every one of ``records``
    (a method that goes on with ``sudo()`` or calls a provider checks this first)."""
    env = records.env
    if env.su:
        return
    if not env.user.has_group(group):
        group_name = env.ref(group).sudo().full_name
        raise AccessError(env._("This needs the access group %(group)s.", group=group_name))
    records.check_access(operation)
