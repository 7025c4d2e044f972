"""SVG snapshots of the main screen at 120x40 and 80x24 (fake runner, so frames are stable).

Update with `pytest tests/ui --snapshot-update` after a deliberate change, and look at the SVGs.
"""

from __future__ import annotations

from .conftest import wait_for


def test_main_screen_120x40_after_a_failed_check(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.editor.cursor_blink = False  # a blinking cursor would make the frame random
        app.editor.replace("x = 5\n", (0, 0), app.editor.document.end)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.active_run is None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_main_screen_80x24_with_a_hint(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(start_at=("basics", "three"))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.editor.cursor_blink = False  # a blinking cursor would make the frame random
        app.task_pane.set_intro_open(False)
        await pilot.press("f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_main_screen_80x24_after_running_a_printing_exercise(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    """The verdict, then what the code printed, without scrolling, at 80x24."""
    app = make_app(start_at=("basics", "greet"))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.editor.cursor_blink = False  # a blinking cursor would make the frame random
        app.task_pane.set_intro_open(False)
        app.editor.replace("print('hi there')\n", (0, 0), app.editor.document.end)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.active_run is None)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_wide_lesson_view_beside_the_editor_160x45(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.editor.cursor_blink = False  # a blinking cursor would make the frame random
        await pilot.press("ctrl+t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 45), run_before=run_before)


def test_lesson_view_alone_80x24_in_the_light_theme(snap_compare, make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app()

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.editor.cursor_blink = False  # a blinking cursor would make the frame random
        app.theme = "textual-light"
        await pilot.press("ctrl+t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)
