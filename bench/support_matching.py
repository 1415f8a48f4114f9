#!/usr/bin/env python3
"""Knowledge-base matching: time to find the best article for a question among 10,000.

The articles (half Russian, half English) and the questions are made of real sentences:
the Russian translations of Odoo's own sales, stock and accounting addons and their
English originals, so the stemmers, stop words and word frequencies are those of real
text. The first run creates the articles (through the ORM, so the addon indexes them as it
would any article) and later runs reuse them.

For each question it times messenger.support.article._match (the call the bot makes:
building the query, then the ranked search through the GIN indexes) and prints the median,
p95 and maximum, once with the default threshold as the bot passes it, once asking for
the best article however weak (which may rank the whole knowledge base), and the
whole-base ranking alone, which is what a weak match costs when no threshold rules it
out. For comparison it also times the naive ORM way on a sample: an ``ilike`` search per
word over title, keywords and short answer, without any ranking.

    MESSENGER_BENCH_DB=mm_support_bench python3 bench/support_matching.py
    python3 bench/support_matching.py --articles 10000 --queries 2000 --baseline 100
"""

import argparse
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
import _odoo

DB = os.environ.get("MESSENGER_BENCH_DB", "messenger_bench")
CORPUS_ADDONS = ("sale", "stock", "account", "delivery", "website_sale", "purchase", "crm", "point_of_sale")


def corpus():
    """(English sentences, Russian sentences) from Odoo's translation files."""
    import polib

    import odoo

    english, russian = [], []
    for addon in CORPUS_ADDONS:
        path = Path(odoo.__file__).parent / "addons" / addon / "i18n" / "ru.po"
        if not path.exists():
            continue
        for entry in polib.pofile(str(path)):
            if not entry.msgstr or entry.obsolete:
                continue
            en, ru = (re.sub(r"<[^>]+>|%\(?\w*\)?s|\{[^}]*\}|\s+", " ", t).strip() for t in (entry.msgid, entry.msgstr))
            if 20 <= len(en) <= 300 and 20 <= len(ru) <= 300 and re.search("[а-яА-Я]", ru):
                english.append(en)
                russian.append(ru)
    return english, russian


def words(sentence):
    return re.findall(r"[^\W\d_]{4,}", sentence.lower())


def make_article(rng, sentences, tags):
    title = min(rng.sample(sentences, 3), key=len)[:120]
    answer = rng.choice(sentences)
    body = "".join(f"<p>{s}</p>" for s in rng.sample(sentences, rng.randint(5, 12)))
    pool = words(title) + words(answer)
    keywords = ", ".join(rng.sample(pool, min(len(pool), rng.randint(3, 5))))
    return title, answer, body, keywords, rng.sample(tags, rng.randint(1, 3))


def prepare(env, size, rng):
    """At least ``size`` published bench articles, half in each language."""
    cr = env.cr
    Article = env["messenger.support.article"]
    cr.execute("SELECT count(*) FROM messenger_support_article")  # the bench database has no demo data
    have = cr.fetchone()[0]
    if have >= size:
        return
    english, russian = corpus()
    by_lang = {"en": english, "ru": russian}
    Tag = env["messenger.support.tag"]
    tags = {}
    for lang, sentences in by_lang.items():
        names = sorted({w for s in sentences for w in words(s)})
        chosen = rng.sample(names, min(300, len(names)))
        existing = Tag.search([("name", "in", chosen)])
        tags[lang] = existing | Tag.create([{"name": n} for n in set(chosen) - set(existing.mapped("name"))])
    print(f"loading {size - have} articles (once)...", file=sys.stderr)
    start = time.perf_counter()
    for offset in range(have, size, 1000):
        vals_list = []
        for i in range(offset, min(offset + 1000, size)):
            lang = "ru" if i % 2 else "en"
            title, answer, body, keywords, article_tags = make_article(rng, by_lang[lang], tags[lang].ids)
            vals_list.append(
                {
                    "name": title,
                    "short_answer": answer,
                    "body": body,
                    "keywords": keywords,
                    "lang": lang,
                    "tag_ids": [(6, 0, article_tags)],
                }
            )
        Article.create(vals_list)  # the addon's own create, which indexes the batch
        cr.commit()
    cr.execute("ANALYZE messenger_support_article")
    cr.commit()
    print(f"loaded in {time.perf_counter() - start:.1f} s", file=sys.stderr)


def questions(env, count, rng):
    """Half taken from article titles and keywords (they should match), half from any
    sentence of the corpus (they may not), 2 to 8 words each, in both languages."""
    english, russian = corpus()
    env.cr.execute("SELECT name, keywords, lang FROM messenger_support_article WHERE active ORDER BY id")
    rows = env.cr.fetchall()
    from_articles = rng.sample(rows, min(count, len(rows)))
    result = []
    for i in range(count):
        if i % 2 and from_articles:
            name, keywords, lang = from_articles[i % len(from_articles)]
            pool = (name or "").split() + (keywords or "").replace(",", " ").split()
        else:
            lang = "ru" if i % 4 < 2 else "en"
            pool = rng.choice(russian if lang == "ru" else english).split()
        start = rng.randrange(max(1, len(pool) - 2))
        result.append((" ".join(pool[start : start + rng.randint(2, 8)]) + "?", lang))
    return result


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--articles", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=100, help="questions for the naive ilike comparison (0: none)")
    args = parser.parse_args()
    from odoo.osv import expression
    from odoo.tools import SQL

    rng = random.Random(42)
    conf = _odoo.ensure_database(DB, "messenger_marketing_support")
    _registry, cr, env = _odoo.environment(conf, DB)
    _odoo.describe(env)
    from odoo.addons.messenger_marketing_support.models.messenger_support_article import TS_CONFIGS  # after the setup

    try:
        prepare(env, args.articles, rng)
        Article = env["messenger.support.article"]
        cr.execute("SELECT lang, count(*) FROM messenger_support_article WHERE active AND published GROUP BY lang")
        counts = dict(cr.fetchall())
        asked = questions(env, args.queries, random.Random(7))  # the same questions on every run
        for text, lang in asked[:50]:  # warm the caches, as a running server has them
            Article._match(text, lang, env.company)
        print(f"articles: {sum(counts.values())} ({', '.join(f'{n} {lang}' for lang, n in sorted(counts.items()))})")
        # as the bot calls it (the default threshold), and asking for the best article however weak
        for label, threshold in (("bot, threshold 50 %", 0.5), ("best article, no threshold", 0.0)):
            times, answered, unmatched = [], 0, 0
            for text, lang in asked:
                start = time.perf_counter()
                article, confidence = Article._match(text, lang, env.company, threshold)
                times.append((time.perf_counter() - start) * 1000)
                answered += confidence >= 0.5
                unmatched += not article
            print(
                f"_match ({label}), {len(asked)} questions ({answered} at 50 % or more, {unmatched} matching "
                f"nothing): median {statistics.median(times):.2f} ms, p95 {percentile(times, 0.95):.2f} ms, "
                f"max {max(times):.2f} ms"
            )
        whole = []
        for text, lang in asked:
            start = time.perf_counter()
            query = Article._tsquery(text, TS_CONFIGS[lang])
            Article._best(query, lang, env.company, SQL("search_vector"))
            whole.append((time.perf_counter() - start) * 1000)
        print(
            f"whole-base ranking alone, {len(asked)} questions: median {statistics.median(whole):.2f} ms, "
            f"p95 {percentile(whole, 0.95):.2f} ms"
        )
        if args.baseline:
            naive = []
            for text, lang in asked[: args.baseline]:
                start = time.perf_counter()
                hits = [[(f, "ilike", w)] for w in words(text) or [text] for f in ("name", "keywords", "short_answer")]
                Article.search(expression.AND([[("lang", "=", lang)], expression.OR(hits)]), limit=1)
                naive.append((time.perf_counter() - start) * 1000)
            print(
                f"naive ilike search (no stemming, no ranking), {len(naive)} questions: "
                f"median {statistics.median(naive):.2f} ms, p95 {percentile(naive, 0.95):.2f} ms"
            )
    finally:
        cr.rollback()
        cr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
