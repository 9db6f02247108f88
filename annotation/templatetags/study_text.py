"""`{{ spec.instructions|markdown }}`: a spec text rendered by annotation.study_text."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString, mark_safe

from core.display_text import shown_text

from ..study_text import markdown_to_html

register = template.Library()


@register.filter(name="markdown")
def markdown(text: str | None) -> SafeString:
    # markdown_to_html escapes raw HTML and sanitises its output: safe to mark.
    return mark_safe(markdown_to_html(text))  # noqa: S308


@register.filter(name="shown")
def shown(text: str | None) -> str:
    """Dialogue text without bidi controls and zero-width characters (still auto-escaped)."""
    return shown_text(text)
