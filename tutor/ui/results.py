"""The results pane: a verdict turned into styled text the learner can act on.

`render_verdict` is a pure function (verdict in, `rich.text.Text` out) so it is easy to test and
never interprets markup: check messages and program output can contain `[` and escape codes.
Everything the learner's program printed goes through `textsafe.inert` first.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..checker import CheckState, Status, Verdict
from ..textsafe import inert
from .keys import key_for
from .tensor_panel import render_tensor_report

MAX_OUTPUT_LINES = 200

STATUS_STYLE = {
    Status.PASSED: "bold green",
    Status.FAILED: "bold red",
    Status.ERROR: "bold red",
    Status.CANCELLED: "bold yellow",
    Status.SKIPPED: "bold yellow",
    Status.DEVICE_UNAVAILABLE: "bold yellow",
    Status.INTERNAL_ERROR: "bold magenta",
}
DEFAULT_STATUS_STYLE = "bold red"  # limits, crashes, blocked: the code did not finish
STATUS_MARK = {Status.PASSED: "✓", Status.CANCELLED: "■", Status.SKIPPED: "-"}

CHECK_MARK = {CheckState.PASSED: "✓", CheckState.FAILED: "✗", CheckState.SKIPPED: "-"}
CHECK_STYLE = {CheckState.PASSED: "green", CheckState.FAILED: "red", CheckState.SKIPPED: "dim"}


def render_placeholder(run_key: str) -> Text:
    text = Text()
    text.append("No result yet.\n\n", style="bold")
    text.append("Write your code in the editor, then press ")
    text.append(run_key, style="bold reverse")
    text.append(" to run it and check it.")
    return text


def render_verdict(
    verdict: Verdict, *, next_step: str | None = None, tip: str | None = None
) -> Text:
    """Headline, then the exception, the checks, notes, output and run facts, in that order.

    `next_step` (shown after a pass) and `tip` (e.g. that the solution key works now) come
    right under the headline, where the learner looks first."""
    text = Text()
    mark = STATUS_MARK.get(verdict.status, "✗")
    style = STATUS_STYLE.get(verdict.status, DEFAULT_STATUS_STYLE)
    text.append(f"{mark} {verdict.status.title}", style=style)
    text.append("\n")
    text.append(inert(verdict.summary))
    text.append("\n")
    if verdict.passed and next_step:
        text.append("\n")
        text.append(next_step, style="bold")
        text.append("\n")
    if tip:
        text.append(tip, style="italic cyan")
        text.append("\n")
    _exception(text, verdict)
    _checks(text, verdict)
    for note in verdict.notes:
        text.append("\n• ", style="yellow")
        text.append(inert(note))
        text.append("\n")
    _output(text, verdict)
    _facts(text, verdict)
    text.rstrip()
    return text


def _exception(text: Text, verdict: Verdict) -> None:
    error = verdict.exception
    if error is None:
        return
    expected = verdict.status is not Status.ERROR
    text.append("\n")
    text.append("Your code raised\n" if expected else "Traceback\n", style="bold")
    for frame in error.frames:
        where = f"  line {frame.line}"
        if frame.function and frame.function != "<module>":
            where += f" in {frame.function}"
        if frame.column:
            where += f", column {frame.column}"
        text.append(where + ": ", style="cyan")
        text.append(f"{inert(frame.text)}\n")
    text.append(inert(error.headline()), style="yellow" if expected else "bold red")
    text.append("\n")
    explanation = verdict.explanation
    if explanation is not None:
        text.append("\nWhy: ", style="bold cyan")
        text.append(inert(explanation.text))
        text.append("\n")
        text.append(f"Learn the fix: pttutor --lesson {explanation.lesson}\n", style="cyan")


def _checks(text: Text, verdict: Verdict) -> None:
    if not verdict.checks:
        return
    stopped = verdict.status is Status.ERROR
    text.append("\nChecks" + (" (after the error)" if stopped else "") + "\n", style="bold")
    for check in verdict.checks:
        style = CHECK_STYLE[check.state]
        text.append(f" {CHECK_MARK[check.state]} ", style=style)
        text.append(inert(check.label), style="bold" if check.state is CheckState.FAILED else "")
        if check.message:
            text.append(": ")
            text.append(
                inert(check.message), style=style if check.state is not CheckState.PASSED else ""
            )
        text.append("\n")
        if check.tensor_report is not None:  # the checklist says what the details would
            render_tensor_report(text, check.tensor_report)
        else:
            for detail in check.details:
                text.append(f"     {inert(detail)}\n")
        if check.state is CheckState.FAILED and check.explain:
            text.append("     → ", style="cyan")
            text.append(inert(check.explain), style="italic")
            text.append("\n")


def _output(text: Text, verdict: Verdict) -> None:
    run = verdict.run
    if run is None:
        return
    for title, stream in (("Output", run.stdout), ("Errors and warnings (stderr)", run.stderr)):
        if not stream.strip():
            continue
        lines = inert(stream).rstrip("\n").splitlines()
        text.append(f"\n{title}\n", style="bold")
        for line in lines[:MAX_OUTPUT_LINES]:
            text.append(f"  {line}\n")
        if len(lines) > MAX_OUTPUT_LINES:
            text.append(f"  … {len(lines) - MAX_OUTPUT_LINES} more lines\n", style="dim")
    if run.output_truncated:
        text.append("  (output was cut short: only its start is shown)\n", style="dim")


def _facts(text: Text, verdict: Verdict) -> None:
    run = verdict.run
    if run is None or not run.device:
        return
    facts = [f"ran on {run.device_name or run.device}"]
    if run.torch_version:
        facts.append(f"torch {run.torch_version}")
    if run.wall_seconds:
        facts.append(f"{run.wall_seconds:.1f} s")
    level = run.sandbox_level
    if level is not None:
        facts.append(f"sandbox: {level}")
    text.append("\n" + " · ".join(facts) + "\n", style="dim")
    views = []
    if run.structure is not None and run.structure.modules:
        views.append(f"{key_for('show_structure')}: your model's structure")
    if run.graph is not None:
        views.append(
            f"{key_for('show_graph')}: the autograd graph of {inert(run.graph.target or '?')}"
        )
    if views:
        text.append(" · ".join(views) + "\n", style="dim cyan")
    if level in ("partial", "none") and run.sandbox:
        missing = "; ".join(run.sandbox.get("missing", []))
        text.append(
            f"Your code ran with a weaker sandbox here ({inert(missing)}); "
            "`pttutor doctor` says more.\n",
            style="yellow",
        )


class ResultsPane(VerticalScroll):
    """Scrollable verdict; `plain` exposes the shown text for tests and screen readers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._text = Text()
        self.border_title = "Result"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(self._text, id="results-body")

    @property
    def plain(self) -> str:
        return self._text.plain

    def show(self, text: Text) -> None:
        self._text = text
        self.query_one("#results-body", Static).update(text)
        self.scroll_home(animate=False)
