"""Dialogue text as an annotator is shown it: without the invisible characters that can
change what the text looks like.

Bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) can make a
response display in another order than it is stored ("Trojan Source"); with the direction
marks (U+200E, U+200F, U+061C) they are removed, and each text is also shown in its own
bidi-isolated element, so one text's direction cannot leak into the next. Zero-width
spaces, word joiners, invisible operators and a byte-order mark (U+200B, U+2060–U+2064,
U+FEFF, U+180E) hide words from a reader and are removed too. Zero-width (non-)joiners
(U+200C, U+200D) stay: emoji sequences and several scripts need them, and they cannot
reorder text. Stored text is never changed; this is display only.
"""

from __future__ import annotations

import re

HIDDEN_CONTROLS = re.compile(
    "[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c\u200b\u2060-\u2064\ufeff\u180e]"
)


def shown_text(text: str | None) -> str:
    """`text` without bidi controls and zero-width characters (see the module's note)."""
    return HIDDEN_CONTROLS.sub("", text or "")
