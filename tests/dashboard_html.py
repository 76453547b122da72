"""A dashboard as GitHub shows it: rendered by cmarkgfm (GitHub's Markdown engine) and read
back as what a person sees, so tests assert on the page, not on Markdown substrings."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import cmarkgfm
from cmarkgfm.cmark import Options


@dataclass
class Page:
    """The visible parts of a rendered comment."""

    html: str
    tables: list[list[list[str]]] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)  # h1-h6 text, in order
    blocks: list[str] = field(default_factory=list)  # paragraphs, list items, quotes: text
    code_blocks: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    summaries: list[str] = field(default_factory=list)  # <details> summaries
    links: list[tuple[str, str]] = field(default_factory=list)  # (text, href)
    anchors: list[str] = field(default_factory=list)  # <a name=...>
    text: str = ""  # all visible text outside code blocks, in order

    def rows(self, table: int = -1) -> dict[str, list[str]]:
        """A table's rows by their first cell (the header row included)."""
        return {row[0]: row[1:] for row in self.tables[table]}

    def index(self, needle: str) -> int:
        """Where `needle` first shows in the visible text (ValueError when it does not)."""
        return self.text.index(needle)


class _Reader(HTMLParser):
    _BLOCKS = ("p", "li", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "summary", "td", "th")

    def __init__(self, page: Page) -> None:
        super().__init__()
        self.page = page
        self.stack: list[str] = []
        self.buffers: list[list[str]] = []
        self.cell: list[str] | None = None
        self.code: list[str] | None = None
        self.lang = ""
        self.link: tuple[str, list[str]] | None = None
        self.seen: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.stack.append(tag)
        if tag == "table":
            self.page.tables.append([])
        elif tag == "tr":
            self.page.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "pre":
            self.code = []
            self.lang = a.get("lang") or ""
        elif tag == "code" and self.code is not None and not self.lang:
            self.lang = (a.get("class") or "").removeprefix("language-")
        elif tag == "a" and a.get("name"):
            self.page.anchors.append(a["name"] or "")
        elif tag == "a" and a.get("href") is not None:
            self.link = (a.get("href") or "", [])
        if tag in self._BLOCKS:
            self.buffers.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.page.tables[-1][-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "pre" and self.code is not None:
            self.page.code_blocks.append((self.lang, "".join(self.code)))
            self.code = None
            self.lang = ""
        elif tag == "a" and self.link is not None:
            self.page.links.append(("".join(self.link[1]).strip(), self.link[0]))
            self.link = None
        if tag in self._BLOCKS and self.buffers:
            text = " ".join("".join(self.buffers.pop()).split())
            if tag.startswith("h") and len(tag) == 2:
                self.page.headings.append(text)
            elif tag == "summary":
                self.page.summaries.append(text)
            elif tag not in ("td", "th"):
                self.page.blocks.append(text)
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self.code is not None:
            self.code.append(data)
            return
        if self.cell is not None:
            self.cell.append(data)
        if self.link is not None:
            self.link[1].append(data)
        for buffer in self.buffers:
            buffer.append(data)
        self.seen.append(data)


def page_of(body: str) -> Page:
    """`body` rendered as GitHub renders a comment (raw HTML kept: GitHub sanitises it)."""
    html = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    page = Page(html)
    reader = _Reader(page)
    reader.feed(html)
    page.text = " ".join("".join(reader.seen).split())
    return page
