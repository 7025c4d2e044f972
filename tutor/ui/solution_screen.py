"""The reference solution, and a diff from the learner's code to it, in a modal.

`render_solution` is a pure function (strings in, `rich.text.Text` out, never markup) so the
wording is testable; the screen only shows it. After a pass the diff is a comparison, not a
correction: the note says other answers can be right too.
"""

from __future__ import annotations

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..solution import solution_diff

DIFF_STYLES = {"+": "green", "-": "red", "@": "cyan"}


def render_solution(title: str, code: str, solution: str, *, passed: bool, dark: bool) -> Text:
    text = Text()
    if passed:
        text.append("Your code passed. ", style="bold green")
        text.append("This is the author's way; yours can differ and be just as right.\n\n")
    syntax = Syntax(
        solution, "python", theme="ansi_dark" if dark else "ansi_light", background_color="default"
    )
    text.append(f"Reference solution: {title}\n", style="bold underline")
    highlighted = syntax.highlight(solution)
    highlighted.rstrip()  # Syntax ends it with a newline of its own
    text.append_text(highlighted)
    text.append("\n\n")
    diff = solution_diff(code, solution)
    if not diff:
        text.append("Your code is the same as the reference solution.", style="bold")
        return text
    text.append("Your code → the solution", style="bold underline")
    text.append("  (- your lines, + the solution's)\n", style="dim")
    for line in diff[2:]:  # skip the ---/+++ header: the legend says which is which
        text.append(line + "\n", style=DIFF_STYLES.get(line[:1], ""))
    text.rstrip()
    return text


class SolutionScreen(ModalScreen[None]):
    """Scrollable with the arrow and page keys; escape, q or the solution key closes it."""

    DEFAULT_CSS = """
    SolutionScreen {
        align: center middle;
    }
    #solution-box {
        width: 90%;
        max-width: 110;
        height: 90%;
        border: round $primary;
        background: $surface;
        padding: 0 1;
    }
    """

    BINDINGS = [Binding("escape,q,f8", "dismiss", "Close", id="solution.close")]

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="solution-box") as box:
            box.border_title = "Solution"
            box.border_subtitle = "esc closes · ↑↓ PgUp PgDn scroll"
            yield Static(self.text, id="solution-text")

    def on_mount(self) -> None:
        self.query_one("#solution-box").focus()

    @property
    def plain(self) -> str:
        return self.text.plain
