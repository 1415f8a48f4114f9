"""The parts of the channel form and of its setup assistant that depend on the provider,
built from the provider classes (core/providers), so that a provider registered there
gets its fields, labels and help texts with no view edit.

A form view marks where they go with placeholders (``_get_view`` fills them):

- ``<div name="provider_credentials"/>``: a node for each credential field of the
  providers (``credential_fields``, in the order of each provider's console), visible for
  the providers that declare it, under the label each gives it (``field_labels``), and
  required where the provider needs it (not in ``optional_credentials``);
- ``<div name="provider_webhook_fields"/>``: the same for their ``webhook_fields``;
- ``provider_setup_help`` and ``provider_webhook_help``: an element copied once for each
  provider that has that help (``setup_help``, ``webhook_help``), filled with it in the
  user's language, and shown for that provider only.
"""

import copy

from lxml import etree, html

from ..core.providers import PROVIDERS

FIELD_PLACEHOLDERS = {"provider_credentials": "credential_fields", "provider_webhook_fields": "webhook_fields"}
HELP_PLACEHOLDERS = {"provider_setup_help": "setup_help", "provider_webhook_help": "webhook_help"}


def field_label(model, provider, name):
    """The label of the field ``name`` of ``model`` for the provider, translated."""
    label = PROVIDERS[provider].field_labels.get(name)
    return model.env._(label) if label else model._fields[name].get_description(model.env)["string"]


def _merged_order(sequences):
    """One order of the names of all sequences that keeps the order of each."""
    order = []
    for sequence in sequences:
        for index, name in enumerate(sequence):
            if name not in order:
                following = next((n for n in sequence[index + 1 :] if n in order), None)
                order.insert(order.index(following) if following else len(order), name)
    return order


def _field_nodes(model, attribute, required):
    nodes = []
    for name in _merged_order(getattr(cls, attribute) for cls in PROVIDERS.values()):
        field = model._fields.get(name)
        if not field:
            continue  # the setup assistant has no confirmation code: Test Connection fetches it
        by_label = {}  # label -> providers, in the registry's order
        for code, cls in PROVIDERS.items():
            if name in getattr(cls, attribute):
                by_label.setdefault(cls.field_labels.get(name, ""), []).append(code)
        for label, codes in by_label.items():
            node = etree.Element("field", name=name, invisible=f"provider not in {codes!r}")
            if label:
                node.set("string", field_label(model, codes[0], name))
            if attribute == "credential_fields":
                if field.groups:  # a credential only managers may read is a secret
                    node.set("password", "True")
                needed = [code for code in codes if name not in PROVIDERS[code].optional_credentials]
                if required and needed:
                    node.set("required", f"provider in {needed!r}")
            elif field.readonly:  # made by Odoo, for the person to copy into the console
                node.set("widget", "CopyClipboardChar")
            nodes.append(node)
    return nodes


def _fill(node, text):
    """Put the HTML ``text`` (the provider's, or its translation) inside ``node``."""
    fragment = etree.fromstring(etree.tostring(html.fragment_fromstring(text, create_parent="div")))
    node.text = fragment.text
    node.extend(fragment)


def _help_nodes(model, template, attribute):
    nodes = []
    for code, cls in PROVIDERS.items():
        text = getattr(cls, attribute)
        if not text:
            continue
        node = copy.deepcopy(template)
        del node.attrib["name"]
        node.set("invisible", f"provider != {code!r}")
        if attribute == "setup_help":
            steps = etree.SubElement(node, "ol", {"class": "mb-0"})
            for step in text:
                _fill(etree.SubElement(steps, "li"), model.env._(step))
        else:
            _fill(node, model.env._(text))
        nodes.append(node)
    return nodes


def _replace(placeholder, nodes):
    parent = placeholder.getparent()
    index = parent.index(placeholder)
    for offset, node in enumerate(nodes):
        parent.insert(index + offset, node)
    if nodes:
        nodes[-1].tail = placeholder.tail
    parent.remove(placeholder)


def build_provider_parts(model, arch, required):
    """Fill the provider placeholders of ``arch`` (a form of ``model``) from the registry;
    ``required``: mark the credentials a provider needs as required fields."""
    for placeholder in arch.xpath("//*[@name]"):
        name = placeholder.get("name")
        if name in FIELD_PLACEHOLDERS and placeholder.tag == "div":
            _replace(placeholder, _field_nodes(model, FIELD_PLACEHOLDERS[name], required))
        elif name in HELP_PLACEHOLDERS and placeholder.tag != "field":
            _replace(placeholder, _help_nodes(model, placeholder, HELP_PLACEHOLDERS[name]))
    return arch
