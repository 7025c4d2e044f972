"""Pane titles and borders are readable in both themes: WCAG AA, computed from the colours the
theme actually draws (4.5:1 for the title text, 3:1 for the border lines)."""

from __future__ import annotations

import pytest
from rich.color import Color
from rich.segment import Segment
from textual.geometry import Region
from textual.widget import Widget

from tutor.ui.app import TutorApp
from tutor.ui.workflow import DARK_THEME, LIGHT_THEME

from .conftest import wait_for

TEXT_AA = 4.5
GRAPHICS_AA = 3.0
BORDER_CHARS = set("─━╭╮╰╯│┃")
PANES = ("#lessons", "#task", "#editor", "#results")


def luminance(color: Color) -> float:
    """WCAG relative luminance of a colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = color.get_truecolor()
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: Color, b: Color) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_formula() -> None:
    assert contrast(Color.parse("#000000"), Color.parse("#ffffff")) == pytest.approx(21)
    assert contrast(Color.parse("#191919"), Color.parse("#1e1e1e")) < 1.2  # what it was


def top_row(widget: Widget) -> list[Segment]:
    """The widget's top border as drawn: its title (and subtitle) characters, with colours."""
    (strip,) = widget.render_lines(Region(0, 0, widget.outer_size.width, 1))
    return list(strip)


def measured(widget: Widget, background: Color) -> tuple[float, float, str]:
    """(worst title contrast, worst border contrast, the title's text) of the top row."""
    text_worst, line_worst, title = 99.0, 99.0, ""
    for segment in top_row(widget):
        style = segment.style
        if style is None or style.color is None:
            continue
        back = style.bgcolor or background
        ratio = contrast(style.color, back)
        for char in segment.text:
            if char.isalnum():
                text_worst = min(text_worst, ratio)
                title += char
            elif char in BORDER_CHARS:
                line_worst = min(line_worst, ratio)
    return text_worst, line_worst, title


@pytest.mark.parametrize("theme", [DARK_THEME, LIGHT_THEME])
@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_pane_titles_and_borders_meet_wcag_aa(make_app, theme, size) -> None:  # type: ignore[no-untyped-def]
    app: TutorApp = make_app()
    async with app.run_test(size=size) as pilot:
        app.theme = theme
        await wait_for(pilot, lambda: app.devices.info is not None)
        app.set_focus(None)
        await pilot.pause()
        background = app.screen.styles.background.rich_color
        for focus in (None, "#editor", "#lessons", "#results"):
            if focus == "#lessons":
                await pilot.press("f3")  # shown at 80 columns too
                await pilot.pause()
            if focus == "#results":
                app.results.query_one("#verdict-scroll").focus()
            elif focus is not None:
                app.query_one(focus).focus()
            else:
                app.set_focus(None)
            await pilot.pause()
            for selector in PANES:
                pane = app.query_one(selector)
                if not pane.display or pane.region.width == 0:
                    continue
                text, line, title = measured(pane, background)
                where = f"{selector} ({'focused' if selector == focus else 'blurred'}) {theme}"
                assert title, f"{where}: no title drawn"
                assert text >= TEXT_AA, f"{where}: title {title!r} at {text:.2f}:1"
                assert line >= GRAPHICS_AA, f"{where}: border at {line:.2f}:1"
