from . import messenger_sale_rule, stock_picking
