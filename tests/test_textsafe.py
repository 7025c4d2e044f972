"""Text from a snippet is shown inert: controls, bidi controls, zero-width characters and lone
surrogates become visible escapes, in the terminal and in verdict text alike."""

from __future__ import annotations

import pytest

from tutor.checker import Status, Verdict
from tutor.report import verdict_text
from tutor.sandbox.runner import Outcome, RunResult
from tutor.textsafe import inert

INVISIBLE = {
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u061c": "arabic letter mark",
    "\u200b": "zero-width space",
    "\u200c": "zero-width non-joiner",
    "\u200d": "zero-width joiner",
    "\u2060": "word joiner",
    "\ufeff": "zero-width no-break space",
    "\u2028": "line separator",
    "\udc80": "a lone surrogate",
}


@pytest.mark.parametrize("char", INVISIBLE, ids=INVISIBLE.values())
def test_invisible_and_reordering_characters_become_visible_escapes(char):
    shown = inert(f"ok{char}ay")
    assert shown == f"ok\\u{ord(char):04x}ay"
    shown.encode("utf-8")  # printable: a lone surrogate would raise here


def test_controls_keep_their_short_escapes_and_newlines_and_tabs_stay():
    assert inert("a\x1b[31mb\x9bc\x00d\x7f") == "a\\x1b[31mb\\x9bc\\x00d\\x7f"
    assert inert("line 1\r\n\tline 2\n") == "line 1\n\tline 2\n"


def test_ordinary_unicode_is_left_alone():
    text = "héllo → ✓ 日本語 😀 Ωmega ش"
    assert inert(text) == text


def test_a_trojan_source_line_reads_in_verdict_text_as_it_is_stored():
    # The classic: a comment that ends, for the eye, before the code that really runs.
    trojan = "access = 'user' # \u202e \u2066# admin only\u2069 \u2066"
    run = RunResult(Outcome.COMPLETED, stdout=trojan + "\n", device="cpu")
    verdict = Verdict(Status.FAILED, f"expected 'admin', got {trojan!r}", run=run)
    text = verdict_text("l/e", verdict)
    assert "\u202e" not in text and "\u2066" not in text and "\u2069" not in text
    assert text.count("\\u202e") == 2 and "\\u2066# admin only\\u2069" in text
