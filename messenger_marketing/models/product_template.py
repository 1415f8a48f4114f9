from odoo import api, fields, models


class ProductTemplate(models.Model):
    _inherit = "product.template"

    messenger_flow_id = fields.Many2one(
        "messenger.flow", "Messenger Flow", help="The chatbot flow that the product's messenger links open."
    )
    messenger_link_ids = fields.One2many("messenger.flow.link", "product_tmpl_id", "Messenger Links")
    messenger_alert_count = fields.Integer("Price Alerts", compute="_compute_messenger_alert_count")

    def _compute_messenger_alert_count(self):
        counts = dict(
            self.env["messenger.price.alert"]
            .sudo()
            ._read_group([("product_tmpl_id", "in", self.ids)], ["product_tmpl_id"], ["__count"])
        )
        for product in self:
            product.messenger_alert_count = counts.get(product, 0)

    # -- prices as a given person sees them ----------------------------------------------
    @api.model
    def _messenger_pricelists(self, contacts):
        """{contact id: pricelist} — the partner's pricelist, else the company's default
        one; an empty recordset where the database has no pricelist at all."""
        Pricelist = self.env["product.pricelist"].sudo()
        result = {}
        for contacts_company, group in contacts.grouped("company_id").items():
            company = contacts_company or self.env.company
            Pricelist = Pricelist.with_company(company)
            by_partner = Pricelist._get_partner_pricelist_multi(group.partner_id.ids) if group.partner_id else {}
            default = None
            for contact in group:
                pricelist = by_partner.get(contact.partner_id.id)
                if not pricelist:
                    if default is None:
                        default = Pricelist.search(
                            Pricelist._get_partner_pricelist_multi_search_domain_hook(company.id), limit=1
                        )
                    pricelist = default
                result[contact.id] = pricelist
        return result

    def _messenger_prices(self, pricelist):
        """{product id: (price, currency)} for one pricelist (or list prices without one)."""
        if not pricelist:
            return {product.id: (product.list_price, product.currency_id) for product in self}
        prices = pricelist._get_products_price(self, quantity=1.0)
        return {product.id: (prices[product.id], pricelist.currency_id) for product in self}

    def _messenger_price(self, contact):
        """(price, currency) of the product for this contact."""
        self.ensure_one()
        pricelist = self._messenger_pricelists(contact)[contact.id]
        return self.sudo()._messenger_prices(pricelist)[self.id]

    def write(self, vals):
        result = super().write(vals)
        if "list_price" in vals:
            self.env["messenger.price.alert"]._price_changed(self)
        return result

    def action_view_messenger_alerts(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("messenger_marketing.action_messenger_price_alert")
        action["domain"] = [("product_tmpl_id", "=", self.id)]
        return action


class ProductPricelist(models.Model):
    _inherit = "product.pricelist"

    def _messenger_derived_pricelists(self):
        """These pricelists and those whose rules compute on them, at any depth: a change of
        these changes their prices too."""
        Item = self.env["product.pricelist.item"].sudo().with_context(active_test=False)
        found = self.sudo()
        todo = found
        while todo:
            todo = Item.search([("base", "=", "pricelist"), ("base_pricelist_id", "in", todo.ids)]).pricelist_id - found
            found |= todo
        return found


class ProductPricelistItem(models.Model):
    _inherit = "product.pricelist.item"

    @api.model_create_multi
    def create(self, vals_list):
        items = super().create(vals_list)
        items._messenger_price_changed()
        return items

    def write(self, vals):
        self._messenger_price_changed()  # what the rules covered before: a moved rule changes it too
        result = super().write(vals)
        self._messenger_price_changed()
        return result

    def unlink(self):
        self._messenger_price_changed()
        return super().unlink()

    def _messenger_price_changed(self):
        """Record the prices these rules may change, for the price-check job: the rule's
        product, or every product for a rule of a category or of everything (the pricelist
        narrows the check then)."""
        Alert = self.env["messenger.price.alert"]
        for pricelist, items in self.sudo().grouped("pricelist_id").items():
            if any(item.applied_on not in ("1_product", "0_product_variant") for item in items):
                Alert._price_changed(None, pricelist)
            else:
                Alert._price_changed(items.product_tmpl_id | items.product_id.product_tmpl_id, pricelist)
