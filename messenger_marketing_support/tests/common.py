"""A small knowledge base of the tests' own, in Russian and English.

The demo articles are archived first, so that every match is against these."""

ARTICLES = [
    {
        "key": "delivery_ru",
        "name": "Стоимость доставки",
        "lang": "ru",
        "tags": ["доставка"],
        "keywords": "курьер, цена доставки, сколько стоит доставка",
        "short_answer": "Доставка курьером стоит 300 ₽, от 5 000 ₽ — бесплатно.",
        "body": "<p>Курьер привозит заказ на следующий день.</p>",
    },
    {
        "key": "returns_ru",
        "name": "Возврат товара",
        "lang": "ru",
        "tags": ["возврат"],
        "keywords": "вернуть товар, обмен, деньги назад",
        "short_answer": "Вернуть товар можно в течение 14 дней.",
        "body": "<p>Сохраните чек и упаковку.</p>",
    },
    {
        "key": "delivery_en",
        "name": "Delivery prices",
        "lang": "en",
        "tags": ["delivery", "shipping"],
        "keywords": "courier, shipping cost",
        "short_answer": "Courier delivery costs $5; orders over $80 ship free.",
        "body": "<p>The courier brings your order the next day.</p>",
    },
    {
        "key": "returns_en",
        "name": "Returns",
        "lang": "en",
        "tags": ["returns"],
        "keywords": "refund, money back, exchange",
        "short_answer": "You can return an item within 14 days.",
        "body": "<p>Keep the receipt and the box.</p>",
    },
]


def setup_knowledge_base(env):
    """Archive what is there and create the tests' articles; returns them by key."""
    Article = env["messenger.support.article"]
    Article.search([]).write({"active": False})
    Tag = env["messenger.support.tag"]
    articles = {}
    for article in ARTICLES:
        vals = dict(article)
        key = vals.pop("key")
        tags = Tag.browse([Tag.name_create(name)[0] for name in vals.pop("tags")])
        articles[key] = Article.create({**vals, "tag_ids": [(6, 0, tags.ids)]})
    return articles
