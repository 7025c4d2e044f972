"""A yes/no question in a modal: `y` says yes; `n` or escape says no.

Used before anything that cannot be taken back in the editor (resetting a lesson or everything)
or that spoils the exercise (the solution before a pass). No default on enter: a learner typing
fast into the editor must not confirm by accident.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True for `y`, False for `n` or escape."""

    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    #confirm-box {
        width: 64;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $warning;
        background: $surface;
        padding: 1 2;
    }
    #confirm-detail {
        margin-top: 1;
        color: $text-muted;
    }
    #confirm-keys {
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]

    def __init__(self, question: str, detail: str = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Static(Text(self.question, style="bold"), id="confirm-question")
            if self.detail:
                yield Static(Text(self.detail), id="confirm-detail")
            keys = Text()
            keys.append(" y ", style="bold reverse")
            keys.append(" yes    ")
            keys.append(" n ", style="bold reverse")
            keys.append(" no (or esc)")
            yield Static(keys, id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @property
    def plain(self) -> str:
        return f"{self.question}\n{self.detail}"
