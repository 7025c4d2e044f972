"""Python indentation rules for the editor, as pure functions over lines of text.

What a learner expects from Jupyter or VS Code: Enter keeps the indentation, adds a level after
a line ending in `:` (or an unclosed bracket), and drops one after `return`, `pass`, `break`,
`continue` or `raise`; typing the `:` of `else:`, `elif …:`, `except …:` or `finally:` moves
that line back under the statement it belongs to. Kept free of widgets so every rule is a
one-line test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

INDENT = 4

_ENDS_BLOCK = re.compile(r"^(return|pass|break|continue|raise)\b")
_CONTINUES = re.compile(r"^(else|elif|except|finally)\b.*:$")
# Which statements a continuation line can belong to.
_PARTNERS = {
    "else": ("if", "elif", "for", "while", "try", "except"),
    "elif": ("if", "elif"),
    "except": ("try", "except"),
    "finally": ("try", "except", "else"),
}
_OPENERS = "([{"
_CLOSERS = ")]}"


def indentation(line: str) -> int:
    """Leading spaces of `line` (a tab counts as one level)."""
    width = 0
    for char in line:
        if char == " ":
            width += 1
        elif char == "\t":
            width += INDENT
        else:
            break
    return width


def _outside_strings(text: str) -> Iterator[tuple[int, str]]:
    """(index, character) for every character outside string literals and escapes."""
    quote: str | None = None
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        else:
            yield index, char


def _code_part(line: str) -> str:
    """`line` without its comment and trailing blanks; `#` inside a string is kept."""
    for index, char in _outside_strings(line):
        if char == "#":
            return line[:index].rstrip()
    return line.rstrip()


def _open_brackets(code: str) -> int:
    """How many brackets `code` opens and does not close (strings are skipped)."""
    depth = 0
    for _, char in _outside_strings(code):
        if char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
    return depth


def indent_after(before_cursor: str) -> int:
    """The indentation of a new line started by Enter, given the text left of the cursor."""
    current = indentation(before_cursor)
    code = _code_part(before_cursor).strip()
    if not code:
        return current
    if code.endswith(":") or _open_brackets(code) > 0:
        return current + INDENT
    if _ENDS_BLOCK.match(code):
        return max(0, current - INDENT)
    return current


def continuation_indent(lines: list[str], row: int) -> int | None:
    """Where line `row` belongs if it is an `else:`-like line: the indentation of the statement
    it continues, one level out. None when it is not such a line or already placed right."""
    line = lines[row]
    code = _code_part(line).strip()
    match = _CONTINUES.match(code)
    if match is None:
        return None
    partners = _PARTNERS[match.group(1)]
    current = indentation(line)
    if current == 0:
        return None
    for above in reversed(lines[:row]):
        text = _code_part(above).strip()
        if not text:
            continue
        level = indentation(above)
        keyword = re.match(r"[a-z]+", text)
        starts = keyword.group(0) if keyword else ""
        if level == current and starts in partners and text.endswith(":"):
            return None  # already under its statement
        if level == current - INDENT and starts in partners and text.endswith(":"):
            return level
        if level < current - INDENT:
            return None
    return None


def dedent_width(line: str, column: int) -> int:
    """How many spaces Backspace at `column` removes: back to the previous indentation level
    when only spaces lie left of the cursor, else one character (0 = not in leading space)."""
    before = line[:column]
    if column == 0 or before.strip(" "):
        return 0
    return column - ((column - 1) // INDENT) * INDENT
