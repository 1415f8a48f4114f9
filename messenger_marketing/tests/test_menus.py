from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

OUR_MODULES = ("messenger_marketing", "messenger_marketing_support", "messenger_marketing_sale_stock")

# Who must see each menu of our addons; everyone else must not. A menu added without an
# entry here fails the test, so its audience is always a decision.
#   "user": Messenger User (sales staff) and Manager; "manager": Messenger Manager only.
MENUS = {
    "messenger_marketing.menu_messenger_root": "user",
    "messenger_marketing.menu_messenger_inbox": "user",
    "messenger_marketing.menu_messenger_contacts": "user",
    "messenger_marketing.menu_messenger_messages": "user",
    "messenger_marketing.menu_messenger_campaigns": "manager",
    "messenger_marketing.menu_mass_mailing_messenger": "manager",
    "messenger_marketing.menu_messenger_simulator": "manager",
    "messenger_marketing.menu_messenger_reporting": "manager",
    "messenger_marketing.menu_messenger_overview": "manager",
    "messenger_marketing.menu_messenger_message_analysis": "manager",
    "messenger_marketing.menu_messenger_campaign_results": "manager",
    "messenger_marketing.menu_messenger_chat_lead_analysis": "manager",
    "messenger_marketing.menu_messenger_config": "manager",
    "messenger_marketing.menu_messenger_channels": "manager",
    "messenger_marketing.menu_messenger_channel_setup": "manager",
    "messenger_marketing.menu_messenger_sale_rules": "manager",
    "messenger_marketing.menu_messenger_routes": "manager",
    "messenger_marketing.menu_messenger_templates": "manager",
    "messenger_marketing.menu_messenger_whatsapp_templates": "manager",
    "messenger_marketing.menu_messenger_whatsapp_prices": "manager",
    "messenger_marketing.menu_messenger_webhook_events": "manager",
    "messenger_marketing.menu_messenger_landing": "user",
    "messenger_marketing.menu_messenger_chat_leads": "user",
    "messenger_marketing.menu_messenger_flows": "user",
    "messenger_marketing.menu_messenger_flow_links": "user",
    "messenger_marketing.menu_messenger_flow_sessions": "user",
    "messenger_marketing.menu_messenger_content_blocks": "manager",
    "messenger_marketing.menu_messenger_warming": "manager",
    "messenger_marketing.menu_messenger_enrolments": "user",
    "messenger_marketing.menu_messenger_price_alerts": "user",
    "messenger_marketing_support.menu_messenger_support": "user",
    "messenger_marketing_support.menu_messenger_support_articles": "user",
    "messenger_marketing_support.menu_messenger_support_questions": "user",
    "messenger_marketing_support.menu_messenger_support_tags": "manager",
    "messenger_marketing_support.menu_messenger_support_analysis": "manager",
}


@tagged("post_install", "-at_install")
class TestMenus(TransactionCase):
    """Every menu opens for the groups that should see it, and is hidden from the others."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # marketing and sales rights too, so that only our groups make the difference
        other = "base.group_user,mass_mailing.group_mass_mailing_user,sales_team.group_sale_salesman"
        cls.users = {
            "employee": new_test_user(cls.env, "menu_employee", groups=other),
            "user": new_test_user(cls.env, "menu_user", groups=f"{other},messenger_marketing.group_messenger_user"),
            "manager": new_test_user(
                cls.env, "menu_manager", groups=f"{other},messenger_marketing.group_messenger_manager"
            ),
        }
        data = cls.env["ir.model.data"].search([("model", "=", "ir.ui.menu"), ("module", "in", OUR_MODULES)])
        cls.menus = {f"{d.module}.{d.name}": cls.env["ir.ui.menu"].browse(d.res_id) for d in data}

    def test_every_menu_has_an_audience(self):
        self.assertEqual(sorted(set(self.menus) - set(MENUS)), [], "add these menus to MENUS")

    def test_menus_visible_exactly_to_their_audience(self):
        audiences = {"user": {"user", "manager"}, "manager": {"manager"}}
        for name, user in self.users.items():
            visible = self.env["ir.ui.menu"].with_user(user)._visible_menu_ids()
            for xmlid, menu in self.menus.items():
                # a menu shows when it and every menu above it may show
                shown = all(m.id in visible for m in menu.browse([int(i) for i in menu.parent_path.split("/") if i]))
                with self.subTest(menu=xmlid, user=name):
                    self.assertEqual(shown, name in audiences[MENUS[xmlid]])

    def test_actions_open_for_their_audience(self):
        """Each menu's window action loads its views and its first records as its audience."""
        for xmlid, menu in self.menus.items():
            action = menu.action
            if not action or action._name != "ir.actions.act_window":
                continue
            user = self.users[MENUS[xmlid]]
            with self.subTest(menu=xmlid):
                Model = self.env[action.res_model].with_user(user)
                modes = [mode for mode in action.view_mode.split(",") if mode != "qweb"]
                views = Model.get_views([(False, mode) for mode in modes])
                self.assertEqual(set(views["views"]), set(modes))
                # the web client evaluates context and domain itself, with only these names
                client = {"uid": user.id, "context": {}, "active_id": False, "active_ids": [], "active_model": False}
                context = safe_eval(action.context or "{}", client)
                if not Model._transient:
                    domain = safe_eval(action.domain or "[]", client)
                    Model.with_context(**context).web_search_read(domain, {"display_name": {}}, limit=5)

    def test_chat_lead_analysis_counts_lost_leads(self):
        """Reporting › Chat Leads counts every chat lead, the lost (archived) ones too, and
        no other lead."""
        manager = self.users["manager"]
        channel = self.env["messenger.channel"].create({"name": "Analysis bot", "provider": "sandbox"})
        contacts = self.env["messenger.contact"].create(
            [{"name": f"Lead {n}", "channel_id": channel.id, "chat_id": f"an{n}"} for n in range(2)]
        )
        won, lost = self.env["crm.lead"].create(
            [
                {"name": c.name, "type": "opportunity", "messenger_contact_id": c.id, "user_id": manager.id}
                for c in contacts
            ]
        )
        other = self.env["crm.lead"].create({"name": "Not from a chat", "user_id": manager.id})
        won.action_set_won()
        lost.action_set_lost()
        self.assertFalse(lost.active)
        action = self.env.ref("messenger_marketing.action_messenger_chat_lead_analysis")
        client = {"uid": manager.id, "context": {}}
        Lead = self.env["crm.lead"].with_user(manager).with_context(**safe_eval(action.context, client))
        found = Lead.search([*safe_eval(action.domain, client), ("id", "in", (won | lost | other).ids)])
        self.assertEqual(found, won | lost)
