"""Price-drop alerts: a contact subscribes to a product from its card, and gets one
message each time the product's price for them goes down."""

import threading
from collections import defaultdict

from odoo import api, fields, models
from odoo.tools import float_compare, format_amount, split_every

# the precommit data key of the price changes of a transaction
PENDING = "messenger.price.change"


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

    # -- price changes: recorded by the user's transaction, checked by one job --------------
    @api.model
    def _price_changed(self, products=None, pricelists=None):
        """Note that the prices of these products (None: every product) in these pricelists
        (None: every pricelist, and list prices) may have changed. Nothing is checked here:
        at the end of the transaction its changes are written in one INSERT with one trigger
        of the price-check job, so the user's save stays fast and a series of saves is one
        job run."""
        product_ids = products.ids if products is not None else [None]
        pricelist_ids = pricelists.ids if pricelists is not None else [None]
        pairs = {(product_id, pricelist_id) for product_id in product_ids for pricelist_id in pricelist_ids}
        if not pairs:
            return
        data = self.env.cr.precommit.data
        if PENDING not in data:
            self.env.cr.precommit.add(self._record_price_changes)
        data.setdefault(PENDING, set()).update(pairs)

    def _record_price_changes(self):
        pairs = self.env.cr.precommit.data.pop(PENDING, set())
        if (None, None) in pairs:
            pairs = {(None, None)}  # everything: the other rows would say nothing more
        # a record gone since (deleted, or made in a savepoint rolled back since): a product's
        # alerts went with it; a pricelist's customers now have another one, any may change
        products = set(self.env["product.template"].browse({p for p, _l in pairs if p}).exists().ids)
        pricelists = set(self.env["product.pricelist"].browse({pl for _p, pl in pairs if pl}).exists().ids)
        rows = {(p, pl if pl in pricelists else None) for p, pl in pairs if not p or p in products}
        if rows:
            self.env["messenger.price.change"].sudo().create(
                [{"product_tmpl_id": p, "pricelist_id": pl} for p, pl in rows]
            ).flush_recordset()  # precommit hooks run after the flush of the commit
            self.env.ref("messenger_marketing.ir_cron_messenger_price_changes")._trigger()

    @api.model
    def _cron_check_changes(self, batch_size=1000):
        """The price-check job: the alerts that the recorded changes may concern, checked in
        batches, each batch in a transaction of its own outside tests (a crash after one is
        no double message: the batch wrote the prices it alerted on). The changes are removed
        when all their alerts were checked; changes recorded meanwhile make the next run."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        changes = self.env["messenger.price.change"].sudo().search([])
        if not changes:
            return
        alerts, pricelist_of = self._alerts_to_check(changes)
        for batch in split_every(batch_size, alerts.ids, alerts.browse):
            batch.exists()._check_drops(pricelist_of)
            if auto_commit:
                self.env.cr.commit()
        changes.unlink()
        if auto_commit:
            self.env.cr.commit()
            # a change committed during the run whose trigger this run consumed
            if self.env["messenger.price.change"].sudo().search_count([], limit=1):
                self.env.ref("messenger_marketing.ir_cron_messenger_price_changes")._trigger()

    @api.model
    def _alerts_to_check(self, changes):
        """(alerts, {contact id: pricelist}): the active alerts of the changed products whose
        contact's pricelist is a changed one or based on one."""
        rows = [(change.product_tmpl_id.id or None, change.pricelist_id) for change in changes]
        product_ids = {product_id for product_id, _pricelist in rows}
        domain = [] if None in product_ids else [("product_tmpl_id", "in", list(product_ids))]
        alerts = self.sudo().search(domain, order="id")
        pricelist_of = self.env["product.template"]._messenger_pricelists(alerts.contact_id)
        if all(not pricelist for _product_id, pricelist in rows):
            return alerts, pricelist_of
        reach = {pricelist: pricelist._messenger_derived_pricelists() for _p, pricelist in rows if pricelist}
        changed_of = defaultdict(set)  # product id (None: every product) -> changed pricelists (None: every one)
        for product_id, pricelist in rows:
            changed_of[product_id].add(pricelist or None)

        def concerned(alert):
            changed = changed_of.get(None, set()) | changed_of.get(alert.product_tmpl_id.id, set())
            pricelist = pricelist_of[alert.contact_id.id]
            return None in changed or any(pricelist in reach[c] for c in changed)

        return alerts.filtered(concerned), pricelist_of

    def _check_drops(self, pricelist_of):
        """Compare these alerts' prices now with the last ones (in the contacts' pricelists,
        {contact id: pricelist}); queue one message per drop.

        Prices are computed once per pricelist for all its subscribers' products, the new
        prices are written with one UPDATE and the messages queued in one batch, so the
        queries do not grow with the number of subscribers."""
        alerts = self.sudo()
        if not alerts:
            return self.env["messenger.message"]
        Product = self.env["product.template"].sudo()
        prices = {}  # (pricelist id, product id) -> (price, currency)
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
                          write_date = now() at time zone 'utc', write_uid = %s
                   FROM (SELECT unnest(%s::int[]) AS id, unnest(%s::numeric[]) AS price,
                                unnest(%s::int[]) AS currency) v
                   WHERE a.id = v.id""",
                (self.env.uid, [c[0] for c in changed], [c[1] for c in changed], [c[2] for c in changed]),
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
        """Pricelist rules with dates change prices without anyone saving anything: once a
        day, every price may have changed (checked by the price-check job, as any change)."""
        self._price_changed()

    def action_stop(self):
        return self.write({"active": False})


class MessengerPriceChange(models.Model):
    """A price that may have changed since the alerts were checked: written at the end of the
    transaction that changed it, removed by the price-check job that checked its alerts."""

    _name = "messenger.price.change"
    _description = "Price Change to Check for Price Alerts"
    _order = "id"

    product_tmpl_id = fields.Many2one("product.template", "Product", ondelete="cascade", help="Empty: every product.")
    # a deleted pricelist moves its customers to another one: any pricelist may have changed
    pricelist_id = fields.Many2one(
        "product.pricelist", ondelete="set null", help="Empty: every pricelist, and list prices."
    )
