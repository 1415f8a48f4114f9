"""Price-drop alerts: a contact subscribes to a product from its card, and gets one
message each time the product's price for them goes down."""

from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import float_compare, format_amount


class MessengerPriceAlert(models.Model):
    _name = "messenger.price.alert"
    _description = "Messenger Price-Drop Alert"
    _order = "id desc"
    _rec_name = "product_tmpl_id"

    contact_id = fields.Many2one("messenger.contact", required=True, ondelete="cascade", index=True)
    company_id = fields.Many2one(related="contact_id.company_id", store=True, index=True)
    product_tmpl_id = fields.Many2one("product.template", "Product", required=True, ondelete="cascade", index=True)
    active = fields.Boolean(default=True)
    last_price = fields.Monetary(
        readonly=True, help="The price for this person when last checked: a lower one is a drop."
    )
    currency_id = fields.Many2one("res.currency", readonly=True)
    alert_count = fields.Integer("Alerts Sent", readonly=True, default=0)
    last_alert_at = fields.Datetime(readonly=True)

    _sql_constraints = [
        ("contact_product_unique", "UNIQUE(contact_id, product_tmpl_id)", "A contact follows a product's price once."),
    ]

    @api.model
    def _subscribe(self, contact, product):
        price, currency = product._messenger_price(contact)
        alert = (
            self.sudo()
            .with_context(active_test=False)
            .search([("contact_id", "=", contact.id), ("product_tmpl_id", "=", product.id)])
        )
        vals = {"active": True, "last_price": price, "currency_id": currency.id}
        if alert:
            alert.write(vals)
            return alert
        return self.sudo().create({"contact_id": contact.id, "product_tmpl_id": product.id, **vals})

    @api.model
    def _check_drops(self, products=None):
        """Compare every alert's price now with the last one; queue one message per drop.

        Prices are computed once per pricelist for all its subscribers' products, the new
        prices are written with one UPDATE and the messages queued in one batch, so the
        queries do not grow with the number of subscribers."""
        domain = [("product_tmpl_id", "in", products.ids)] if products is not None else []
        alerts = self.sudo().search(domain)
        if not alerts:
            return self.env["messenger.message"]
        Product = self.env["product.template"].sudo()
        prices = {}  # (pricelist id, product id) -> (price, currency)
        pricelist_of = Product._messenger_pricelists(alerts.contact_id)
        by_pricelist = defaultdict(set)
        for alert in alerts:
            by_pricelist[pricelist_of[alert.contact_id.id]].add(alert.product_tmpl_id.id)
        for pricelist, product_ids in by_pricelist.items():
            for product_id, (price, currency) in Product.browse(product_ids)._messenger_prices(pricelist).items():
                prices[pricelist.id, product_id] = (price, currency)
        changed, drops = [], []
        for alert in alerts:
            price, currency = prices[pricelist_of[alert.contact_id.id].id, alert.product_tmpl_id.id]
            if currency != alert.currency_id:
                changed.append((alert.id, price, currency.id))  # a new currency: a new baseline
                continue
            direction = float_compare(price, alert.last_price, precision_rounding=currency.rounding)
            if direction:
                changed.append((alert.id, price, currency.id))
            if direction < 0:
                drops.append((alert, alert.last_price, price, currency))
        if changed:
            self.flush_model()
            self.env.cr.execute(
                """UPDATE messenger_price_alert a SET last_price = v.price, currency_id = v.currency,
                          write_date = now() at time zone 'utc'
                   FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::numeric[]) AS price,
                                unnest(%s::int[]) AS currency) v
                   WHERE a.id = v.id""",
                ([c[0] for c in changed], [c[1] for c in changed], [c[2] for c in changed]),
            )
        messages = self._queue_drops(drops)
        if drops:
            self.env.cr.execute(
                """UPDATE messenger_price_alert SET alert_count = alert_count + 1, last_alert_at = %s
                   WHERE id = ANY(%s)""",
                (fields.Datetime.now(), [alert.id for alert, *_rest in drops]),
            )
        self.invalidate_model()
        return messages

    def _queue_drops(self, drops):
        vals_list = []
        for alert, old, new, currency in drops:
            contact = alert.contact_id
            lang = contact._lang()
            product = alert.product_tmpl_id.with_context(lang=lang)
            text = self.with_context(lang=lang).env._(
                "Good news: %(product)s is now %(new)s instead of %(old)s.",
                product=product.name,
                new=format_amount(self.env, new, currency, lang_code=lang),
                old=format_amount(self.env, old, currency, lang_code=lang),
            )
            vals_list += contact._message_vals(text, "marketing", None, product)
        return self.env["messenger.message"].sudo()._queue(vals_list)

    @api.model
    def _cron_check_drops(self):
        """Pricelist rules with dates change prices without anyone saving anything."""
        self._check_drops()

    def action_stop(self):
        return self.write({"active": False})
