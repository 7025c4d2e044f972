"""The status line: where the learner is, which device runs their code, and what a run is doing.

The text is built by small pure functions so tests can check it without a terminal.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from ..sandbox.probe import InterpreterInfo


def device_text(requested: str, resolved: str | None, info: InterpreterInfo | None) -> str:
    """`device: cpu`, `device: auto → cuda (NVIDIA H100)`, or `device: auto` while unknown."""
    if requested == "auto" and resolved is None and info is not None and info.usable:
        resolved = "cuda" if info.cuda_available else "cpu"
    name = info.device_name if info is not None else None
    shown = resolved if requested == "auto" else requested
    if shown is None:
        return "device: auto"
    detail = f" ({name})" if shown == "cuda" and name else ""
    arrow = "auto → " if requested == "auto" else ""
    return f"device: {arrow}{shown}{detail}"


def running_text(elapsed: float, *, starting: bool, cancelling: bool = False) -> str:
    if cancelling:
        return "cancelling…"
    what = "starting PyTorch" if starting else "running"
    return f"{what}… {elapsed:.1f} s"


class StatusBar(Horizontal):
    """One line: breadcrumbs on the left; run state and device badge on the right."""

    run_state = ""
    device = ""
    crumbs = ""

    def compose(self) -> ComposeResult:
        yield Static(id="crumbs")
        yield Static(id="run-state")
        yield Static(id="device-badge")

    def set_crumbs(self, lesson: str, exercise: str, number: int, total: int) -> None:
        """`Lesson › 2/5 Exercise`: the number first, so a cut (with "…") takes only words."""
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(lesson, style="bold")
        text.append(f" › {number}/{total} ")
        text.append(exercise)
        self.crumbs = text.plain
        self.query_one("#crumbs", Static).update(text)

    def set_run_state(self, state: str, style: str = "") -> None:
        self.run_state = state
        self.query_one("#run-state", Static).update(Text(state, style=style, no_wrap=True))

    def set_device(self, text: str) -> None:
        self.device = text
        self.query_one("#device-badge", Static).update(Text(text, no_wrap=True))
