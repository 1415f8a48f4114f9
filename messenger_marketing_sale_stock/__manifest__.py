{
    "name": "Messenger Marketing: Deliveries",
    "summary": "Tell customers in their messenger when their order is delivered (bridge with sale_stock)",
    "version": "18.0.1.0.0",
    "category": "Marketing",
    "website": "https://github.com/messenger-marketing/messenger-marketing",
    "author": "Messenger Marketing for Odoo",
    "license": "LGPL-3",
    "depends": ["messenger_marketing", "sale_stock"],
    "data": ["data/messenger_template_data.xml"],
    "auto_install": True,
    "installable": True,
}
