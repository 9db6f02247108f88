"""The study's own texts (instructions, consent, warnings) as safe HTML (pure).

A spec's texts are Markdown, written by the researcher but shown to every annotator, and a
spec may come from anyone with an account: markdown-it-py renders it with raw HTML off
(HTML in the text is shown as text), then nh3 keeps only the tags Markdown produces, and
only http(s)/mailto links, which open in a new tab without access to this page
(rel="noopener noreferrer"). Web addresses written out become links (crisis resources).
Dialogue text from a dataset never goes through here: it is always escaped plain text.
"""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p",
    "br",
    "em",
    "strong",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h2",
    "h3",
    "h4",
    "hr",
    "del",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": False})
    return md.enable(["linkify", "table", "strikethrough"])


def markdown_to_html(text: str | None) -> str:
    """Safe HTML for one of the spec's Markdown texts ("" for None or blank)."""
    if not text or not text.strip():
        return ""
    html = _renderer().render(text)
    # A spec's "# Heading" must not outrank the page's <h1>.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}, "ol": {"start"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    ).strip()
