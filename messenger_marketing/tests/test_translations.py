import os

import polib

from odoo.modules.module import get_module_path
from odoo.tests import TransactionCase, tagged
from odoo.tools.translate import TranslationModuleReader

OUR_MODULES = ("messenger_marketing", "messenger_marketing_support", "messenger_marketing_sale_stock")


@tagged("post_install", "-at_install")
class TestTranslations(TransactionCase):
    """The .pot of each addon holds every translatable term of its code, views and data,
    and the Russian translation translates every one of them."""

    def terms(self, module):
        reader = TranslationModuleReader(self.env.cr, modules=[module])
        return {source for mod, _type, _name, _res_id, source, _value, _comments in reader if mod == module}

    def test_pot_complete_and_russian_complete(self):
        modules = self.env["ir.module.module"].search([("name", "in", OUR_MODULES), ("state", "=", "installed")])
        self.assertEqual(len(modules), len(OUR_MODULES))
        for module in modules.mapped("name"):
            with self.subTest(module=module):
                i18n = os.path.join(get_module_path(module), "i18n")
                terms = self.terms(module)
                self.assertTrue(terms)
                pot = {entry.msgid for entry in polib.pofile(os.path.join(i18n, f"{module}.pot"))}
                self.assertEqual(sorted(terms - pot), [], f"missing from {module}.pot: regenerate it")
                russian = {e.msgid: e.msgstr for e in polib.pofile(os.path.join(i18n, "ru.po")) if not e.obsolete}
                self.assertEqual(sorted(t for t in terms if not russian.get(t)), [], f"untranslated in {module}/ru.po")
