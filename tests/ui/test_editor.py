"""The Python-aware editor: indentation rules (pure), then Pilot typing real code line by line,
Tab/shift+Tab on selections, Backspace in leading spaces, ctrl+Home/End, bracket matching."""

from __future__ import annotations

from textual.widgets.text_area import Selection

from tutor.ui.app import TutorApp
from tutor.ui.editor import CodeEditor
from tutor.ui.indent import continuation_indent, dedent_width, indent_after

SIZE = (120, 40)


# ----------------------------------------------------------------- the rules


def test_enter_keeps_indents_or_dedents() -> None:
    assert indent_after("x = 1") == 0
    assert indent_after("    x = 1") == 4
    assert indent_after("for i in range(3):") == 4
    assert indent_after("    if x:  # a comment") == 8
    assert indent_after("    s = '#:'") == 4  # the colon is in a string, the # too
    assert indent_after("    y = f(a,") == 8  # an unclosed bracket continues the line
    assert indent_after("    d = {'a': 1}") == 4
    for stop in ("return x", "pass", "break", "continue", "raise ValueError('no')", "return"):
        assert indent_after(f"        {stop}") == 4, stop
    assert indent_after("    passed = True") == 4  # a name that starts like a keyword
    assert indent_after("    returned = f()") == 4
    assert indent_after("return") == 0  # never below column 0
    assert indent_after("    ") == 4  # a blank line keeps the level


def test_else_like_lines_go_under_their_statement() -> None:
    lines = ["if a:", "    x = 1", "    else:"]
    assert continuation_indent(lines, 2) == 0
    nested = ["if a:", "    if b:", "        x", "    else:"]
    assert continuation_indent(nested, 3) is None  # already under `if b:`
    deeper = ["for i in r:", "    if a:", "        x", "        elif b:"]
    assert continuation_indent(deeper, 3) == 4
    tried = ["try:", "    f()", "    except ValueError as e:"]
    assert continuation_indent(tried, 2) == 0
    assert continuation_indent(["while x:", "    y", "    x = 1"], 2) is None  # not an else
    assert continuation_indent(["x = 1", "    else:"], 1) is None  # nothing it belongs to


def test_backspace_width_in_leading_spaces() -> None:
    assert dedent_width("        x", 8) == 4
    assert dedent_width("      x", 6) == 2  # back to the level below
    assert dedent_width("    x", 5) == 0  # not in the leading spaces
    assert dedent_width("x", 0) == 0


# ------------------------------------------------------------- typing in it


def keys_for(text: str) -> list[str]:
    return ["enter" if c == "\n" else "space" if c == " " else c for c in text]


async def typed(pilot, app: TutorApp, lines: list[str]) -> str:  # type: ignore[no-untyped-def]
    """Type each line as a learner would (no indentation typed by hand), Enter after each."""
    app.editor.focus()
    app.editor.load_text("")
    for line in lines:
        if line == "<backspace>":
            await pilot.press("backspace")
            continue
        await pilot.press(*keys_for(line), "enter")
    await pilot.pause()
    return app.editor.text


async def test_typing_a_loop_and_a_function_line_by_line(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.editor, CodeEditor)
        text = await typed(
            pilot,
            app,
            [
                "total = 0",
                "while True:",
                "total += 1",
                "if total > 3:",
                "break",
                "<backspace>",
                "def twice(x):",
                "if x is None:",
                "return 0",
                "else:",
                "return 2 * x",
                "<backspace>",
                "print(total, twice(total))",
            ],
        )
        assert text == (
            "total = 0\n"
            "while True:\n"
            "    total += 1\n"
            "    if total > 3:\n"
            "        break\n"
            "def twice(x):\n"
            "    if x is None:\n"
            "        return 0\n"
            "    else:\n"
            "        return 2 * x\n"
            "print(total, twice(total))\n"
        )
        compile(text, "<typed>", "exec")  # no IndentationError


async def test_else_typed_after_a_body_moves_back(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = await typed(pilot, app, ["if x:", "y = 1", "else:", "y = 2"])
        assert text == "if x:\n    y = 1\nelse:\n    y = 2\n    "
        assert app.editor.cursor_location == (4, 4)


async def test_enter_in_the_middle_of_a_line_indents_the_rest(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        app.editor.focus()
        app.editor.load_text("for i in r:  print(i)")
        app.editor.cursor_location = (0, 11)
        await pilot.press("enter")
        assert app.editor.text == "for i in r:\n    print(i)"
        assert app.editor.cursor_location == (1, 4)


async def test_tab_and_shift_tab_shift_the_selected_lines(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.focus()
        editor.load_text("a = 1\n\nb = 2\nc = 3\n")
        editor.selection = Selection((0, 2), (2, 3))
        await pilot.press("tab")
        assert editor.text == "    a = 1\n\n    b = 2\nc = 3\n"  # blank lines stay blank
        assert editor.selection == Selection((0, 6), (2, 7))
        await pilot.press("tab")
        assert editor.text == "        a = 1\n\n        b = 2\nc = 3\n"
        await pilot.press("shift+tab")
        assert editor.text == "    a = 1\n\n    b = 2\nc = 3\n"
        assert app.focused is editor  # shift+tab dedented, it did not leave the editor
        await pilot.press("ctrl+z")
        assert editor.text == "        a = 1\n\n        b = 2\nc = 3\n"  # one step each
        # A selection that ends at a line's start does not take that line.
        editor.selection = Selection((3, 0), (4, 0))
        await pilot.press("tab")
        assert editor.text.endswith("\n    c = 3\n")
        # With no selection, tab still inserts spaces to the next tab stop.
        editor.selection = Selection.cursor((1, 0))
        await pilot.press("tab")
        assert editor.document[1] == "    "


async def test_backspace_in_leading_spaces_removes_one_level(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.focus()
        editor.load_text("        x = 1\n")
        editor.cursor_location = (0, 8)
        await pilot.press("backspace")
        assert editor.text == "    x = 1\n"
        assert editor.cursor_location == (0, 4)
        editor.cursor_location = (0, 6)  # inside the code: one character
        await pilot.press("backspace")
        assert editor.text == "    x= 1\n"


async def test_ctrl_home_and_ctrl_end(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.focus()
        editor.load_text("a = 1\nb = 2\nc = 3")
        editor.cursor_location = (1, 2)
        await pilot.press("ctrl+end")
        assert editor.cursor_location == (2, 5)
        await pilot.press("ctrl+home")
        assert editor.cursor_location == (0, 0)
        await pilot.press("ctrl+shift+end")
        assert editor.selected_text == "a = 1\nb = 2\nc = 3"


async def test_brackets_are_matched(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.focus()
        editor.load_text("y = f(a[0], (b))\n")
        editor.cursor_location = (0, 5)  # on the (
        await pilot.pause()
        assert editor.match_cursor_bracket
        assert editor.matching_bracket_location == (0, 15)
