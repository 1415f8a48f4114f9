from odoo.exceptions import ValidationError

from ..core.public import is_web_url


def check_web_urls(records, *field_names):
    """Refuse a link that is not an http(s) address in ``field_names``: customers open
    these links from their messenger or a public page."""
    for record in records:
        for name in field_names:
            value = record[name]
            if value and not is_web_url(value):
                raise ValidationError(
                    records.env._(
                        "%(field)s must be a web address starting with http:// or https://, not “%(value)s”.",
                        field=record._fields[name]._description_string(records.env),
                        value=value,
                    )
                )
