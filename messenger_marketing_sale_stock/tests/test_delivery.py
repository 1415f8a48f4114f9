from odoo.tests import tagged

from odoo.addons.messenger_marketing.tests.common import MessengerCase


@tagged("post_install", "-at_install")
class TestDeliveryMessages(MessengerCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.product = cls.env["product.product"].create({"name": "Chair", "is_storable": True, "list_price": 40})
        warehouse = cls.env["stock.warehouse"].search([("company_id", "=", cls.env.company.id)], limit=1)
        cls.env["stock.quant"]._update_available_quantity(cls.product, warehouse.lot_stock_id, 100)
        cls.partner = cls.env["res.partner"].create({"name": "Pavel"})
        cls.env["messenger.contact"].create(
            {"name": "Pavel", "channel_id": cls.channel.id, "chat_id": "7001", "partner_id": cls.partner.id}
        )

    def _order(self, qty):
        order = self.env["sale.order"].create(
            {
                "partner_id": self.partner.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_uom_qty": qty})],
            }
        )
        order.action_confirm()
        return order

    def _bodies(self, order):
        return (
            self.env["messenger.message"]
            .search([("res_model", "=", "sale.order"), ("res_id", "=", order.id)], order="id")
            .mapped("body")
        )

    def _deliver(self, picking, qty):
        picking.move_ids.quantity = qty
        picking.move_ids.picked = True
        return picking.with_context(skip_backorder=False).button_validate()

    def test_full_delivery_queues_the_delivered_message(self):
        order = self._order(3)
        self._deliver(order.picking_ids, 3)
        self.assertEqual(order.picking_ids.state, "done")
        bodies = self._bodies(order)
        self.assertEqual(len(bodies), 2)
        self.assertIn("has been delivered", bodies[-1])
        self.dispatch(budget=10)
        self.assertIn(order.name, self.fake.texts("7001")[-1])

    def test_partial_then_full_delivery(self):
        order = self._order(5)
        action = self._deliver(order.picking_ids, 2)
        # Odoo asks whether to create a backorder for the rest
        self.env[action["res_model"]].with_context(**action["context"]).create({}).process()
        bodies = self._bodies(order)
        self.assertIn("Part of your order", bodies[-1])
        backorder = order.picking_ids.filtered(lambda p: p.state != "done")
        self._deliver(backorder, 3)
        bodies = self._bodies(order)
        self.assertEqual(len(bodies), 3)
        self.assertIn("has been delivered", bodies[-1])
