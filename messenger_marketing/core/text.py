"""Fitting a text into a provider: its length limit, and the formatting it understands.

Texts are written as plain text or as HTML. Telegram renders a small set of HTML tags;
every other provider gets plain text converted from the HTML.
"""

import re
from html import escape
from html.parser import HTMLParser

# Telegram's HTML (parse_mode=HTML): these tags, under their Telegram names.
TELEGRAM_TAGS = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "a": "a",
    "code": "code",
    "pre": "pre",
}
_BLOCK_TAGS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "tr", "blockquote", "section"}
_LINK_SCHEMES = ("http://", "https://", "tg://", "mailto:")


def split_text(text, limit):
    """Split ``text`` into parts of at most ``limit`` characters, at a paragraph, line or
    word boundary when there is one in the second half of the part."""
    text = (text or "").strip()
    parts = []
    while len(text) > limit:
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, limit // 2, limit)
            if cut != -1:
                break
        if cut == -1:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def _tidy(text):
    """Trim the spaces a conversion leaves before line breaks, and keep at most one blank line."""
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class _Converter(HTMLParser):
    """Walks HTML once; ``keep`` maps the tags to keep (Telegram's) to their output name,
    everything else becomes text: paragraphs and line breaks as new lines, list items as
    bullets, a link as its text followed by its address."""

    def __init__(self, keep):
        super().__init__(convert_charrefs=True)
        self.keep = keep
        self.out = []
        self.open = []  # kept tags currently open, by output name
        self.links = []  # href of each open <a>, None when the tag was dropped
        self.raw = 0  # depth of <pre>: whitespace is kept there
        self.skip = 0  # depth of <script>/<style>: their content is no text

    def _text(self, text):
        self.out.append(escape(text, quote=False) if self.keep else text)

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag == "br":
            self.out.append("\n")
        elif tag in _BLOCK_TAGS:
            self.out.append("\n\n")
        elif tag == "li":
            self.out.append("\n• ")
        if tag == "pre":
            self.raw += 1
            self.out.append("\n")
        name = self.keep.get(tag)
        if tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            keep = bool(name and href.lower().startswith(_LINK_SCHEMES) and "code" not in self.open)
            self.links.append((href, len(self.out), keep))
            if keep:
                self.out.append(f'<a href="{escape(href)}">')
                self.open.append("a")
            return
        # Telegram takes no formatting inside code, and no link inside a link
        if name and "code" not in self.open and "pre" not in self.open:
            self.out.append(f"<{name}>")
            self.open.append(name)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(self.skip - 1, 0)
        if tag == "pre":
            self.raw = max(self.raw - 1, 0)
        if tag == "a" and self.links:
            href, start, keep = self.links.pop()
            if keep:
                self._close("a")
            elif href.lower().startswith(_LINK_SCHEMES):
                shown = "".join(self.out[start:]).strip()
                if href not in shown and href.replace("mailto:", "") != shown:
                    self._text(f" ({href})")
            return
        name = self.keep.get(tag)
        if name:
            self._close(name)
        if tag in _BLOCK_TAGS or tag == "pre":
            self.out.append("\n\n")

    def _close(self, name):
        if name not in self.open:
            return
        while self.open:
            last = self.open.pop()
            self.out.append(f"</{last}>")
            if last == name:
                break

    def handle_data(self, data):
        if self.skip:
            return
        if not self.raw:
            # Messages are written in a text box: a new line there is meant as one.
            data = re.sub(r"[ \t\r\f\v]+", " ", data)
            if not self.out or self.out[-1].endswith("\n"):
                data = data.lstrip(" ")
        self._text(data)

    def result(self):
        self.close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")
        return _tidy("".join(self.out))


def html_to_plain(html):
    """Plain text of an HTML message, as a person would read it."""
    converter = _Converter({})
    converter.feed(html or "")
    return converter.result()


def telegram_html(html):
    """The HTML reduced to what Telegram accepts (b, i, u, s, a, code, pre), everything
    else as escaped text, tags balanced."""
    converter = _Converter(TELEGRAM_TAGS)
    converter.feed(html or "")
    return converter.result()


_TAG = re.compile(r"<(/?)([a-z]+)[^>]*>")


def split_html(html, limit):
    """Split Telegram HTML into parts of at most ``limit`` characters, cutting only at a
    line break outside any tag, so that each part is well formed. Returns (text, format)
    pairs: a stretch with no such break in reach goes as plain text instead."""
    html = (html or "").strip()
    if len(html) <= limit:
        return [(html, "html")] if html else []
    cuts = []  # positions of line breaks outside every tag
    depth = 0
    position = 0
    for match in _TAG.finditer(html):
        cuts += [m.start() + position for m in re.finditer("\n", html[position : match.start()])] if not depth else []
        depth += -1 if match.group(1) else 1
        position = match.end()
    if not depth:
        cuts += [m.start() + position for m in re.finditer("\n", html[position:])]
    parts = []
    start = 0
    while len(html) - start > limit:
        fitting = [c for c in cuts if start + limit // 2 <= c <= start + limit]
        if not fitting:
            rest = html_to_plain(html[start:])
            return parts + [(part, "plain") for part in split_text(rest, limit)]
        parts.append((html[start : fitting[-1]].strip(), "html"))
        start = fitting[-1] + 1
    parts.append((html[start:].strip(), "html"))
    return [(text, fmt) for text, fmt in parts if text]
