"""Make text from a snippet safe to show: escape sequences, control characters and invisible
characters become inert, visible escapes.

Besides C0/C1 controls (ESC starts terminal escape sequences), this covers what can make text
read differently from what it is: bidirectional embeddings, overrides, isolates and marks
(Trojan Source), zero-width spaces and joiners, invisible operators, the BOM, line and
paragraph separators, and lone surrogates (which cannot even be printed as UTF-8).
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, and C1 controls (0x80-0x9f, e.g. the 8-bit CSI).
_CONTROL = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
# U+061C arabic letter mark, U+200B-U+200F zero-width space/non-joiner/joiner and LRM/RLM,
# U+2028-U+202E line/paragraph separators and bidi embeddings and overrides, U+2060-U+2064
# word joiner and invisible operators, U+2066-U+206F bidi isolates and deprecated format
# controls, U+FEFF zero-width no-break space (BOM), U+FFF9-U+FFFB interlinear annotations.
_INVISIBLE = r"\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
_SURROGATE = r"\ud800-\udfff"
_UNSAFE = re.compile(f"[{_CONTROL}{_INVISIBLE}{_SURROGATE}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """Replace every control or invisible character with a visible escape (`\\x1b`,
    `\\u202e`), keeping \\n and \\t."""
    text = text.replace("\r\n", "\n")
    return _UNSAFE.sub(_escape, text)
