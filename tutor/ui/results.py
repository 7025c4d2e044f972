"""The results pane: a verdict turned into styled text the learner can act on, in two tabs.

The Result tab says first what matters: the verdict in one line, then the first failing check
(or the error), then the printed output when the exercise is about what the code prints, then
the rest. The Output tab holds everything the code printed, one key away.

`render_verdict` and `render_output` are pure functions (verdict in, `rich.text.Text` out) so they
are easy to test and never interpret markup: check messages and program output can contain `[`
and escape codes. Everything the learner's program printed goes through `textsafe.inert` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ..checker import CheckResult, CheckState, Status, Verdict
from ..predict import PredictionResult
from ..sandbox.runner import OUTPUT_KEEP, RunResult
from ..schema import Exercise
from ..textsafe import inert
from .keys import key_for
from .tensor_panel import render_tensor_report

MAX_OUTPUT_LINES = 200  # in the Output tab
PREVIEW_LINES = 8  # of the output, in the Result tab, when the exercise is about printing
RESULT_TAB = "result"
OUTPUT_TAB = "output"

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

_ABOUT_OUTPUT = re.compile(r"\bprint(s|ed|ing)?\b|\boutput\b", re.IGNORECASE)


def output_matters(exercise: Exercise) -> bool:
    """True when the task asks to look at what the code prints, or a check reads the output."""
    return any(check.stdout is not None for check in exercise.checks) or bool(
        _ABOUT_OUTPUT.search(exercise.task)
    )


# ------------------------------------------------------------------ counting


@dataclass(frozen=True)
class Stream:
    """One output stream as the learner sees it: its lines and whether the sandbox kept it all."""

    title: str
    lines: list[str]
    cut: bool  # only the start was kept: the real total is unknown, and larger

    def count(self) -> str:
        """`1 line`, `12 lines`, or `more than 6,665 lines` when the stream was cut short."""
        n = len(self.lines)
        words = f"{n:,} line{'s' if n != 1 else ''}"
        return f"more than {words}" if self.cut else words

    def rest(self, shown: int) -> str | None:
        """What follows the first `shown` lines, in words; None when they were all shown."""
        left = len(self.lines) - shown
        if left <= 0 and not self.cut:
            return None
        if self.cut:
            more = f"more than {left:,} further lines" if left > 0 else "more"
            return f"… and {more} (only the start of the output is kept)"
        return f"… {left:,} more line{'s' if left != 1 else ''}"


def _stream(title: str, text: str, run: RunResult) -> Stream | None:
    if not text.strip():
        return None
    # The sandbox keeps the first OUTPUT_KEEP bytes of each stream and flags a run where either
    # was cut; a stream that filled its share is the one that was cut.
    full = len(text.encode("utf-8", "replace")) >= OUTPUT_KEEP - 3
    return Stream(title, inert(text).rstrip("\n").splitlines(), run.output_truncated and full)


def streams(run: RunResult | None) -> list[Stream]:
    if run is None:
        return []
    found = [
        _stream("Output", run.stdout, run),
        _stream("Errors and warnings (stderr)", run.stderr, run),
    ]
    kept = [s for s in found if s is not None]
    if run.output_truncated and kept and not any(s.cut for s in kept):
        # Flagged, but neither stream looks full (bytes that decode to fewer characters): say
        # so of the longest one rather than give a count that may be too small.
        longest = max(kept, key=lambda s: len(s.lines))
        kept = [Stream(s.title, s.lines, s is longest) for s in kept]
    return kept


def output_tab_label(run: RunResult | None) -> str:
    """The Output tab's title: `Output`, `Output (3 lines)`, `Output (more than 6,665 lines)`."""
    for stream in streams(run):
        if stream.title == "Output":
            return f"Output ({stream.count()})"
    return "Output"


# --------------------------------------------------------------- the verdict


def render_placeholder(run_key: str, *, note: str | None = None) -> Text:
    text = Text()
    text.append("No result yet.\n\n", style="bold")
    text.append("Write your code in the editor, then press ")
    text.append(run_key, style="bold reverse")
    text.append(" to run it and check it.")
    if note:
        text.append("\n\n")
        text.append(note, style="bold cyan")
    return text


def headline(verdict: Verdict) -> str:
    """The verdict in one line: `Not yet: 2 of 3 checks failed`, `Passed: all 3 checks passed`."""
    status, summary = verdict.status, verdict.summary
    if status is Status.FAILED:
        return f"Not yet: {summary}"
    if status is Status.ERROR and summary.startswith("Your code did not run"):
        return summary
    if not summary or summary == status.title:
        return status.title
    return f"{status.title}: {summary}"


def render_verdict(
    verdict: Verdict,
    *,
    next_step: str | None = None,
    tip: str | None = None,
    about_output: bool = False,
    link: str | None = None,
    back: str | None = None,
) -> Text:
    """The Result tab: the verdict line, the first failing check or the error, the output when
    `about_output`, then every check, notes, and the facts of the run.

    `next_step` (after a pass), `tip` (e.g. that the solution key works now), `link` (how to open
    the lesson that teaches the fix of an error) and `back` (how to return after following such
    a link) come from the app, which knows the keys and the lesson pack."""
    text = Text()
    mark = STATUS_MARK.get(verdict.status, "✗")
    style = STATUS_STYLE.get(verdict.status, DEFAULT_STATUS_STYLE)
    text.append(f"{mark} ", style=style)
    text.append(inert(headline(verdict)), style=style)
    text.append("\n")
    if verdict.passed and next_step:
        text.append(next_step, style="bold")
        text.append("\n")
    if back:
        text.append(back, style="cyan")
        text.append("\n")
    if verdict.prediction is not None:  # a predict-first item: its own block, no checklist
        _prediction(text, verdict.prediction)
        if tip:
            text.append("\n")
            text.append(tip, style="italic cyan")
            text.append("\n")
        _output_pointer(text, verdict.run)
        _facts(text, verdict)
        text.rstrip()
        return text
    failing = next((c for c in verdict.checks if c.state is CheckState.FAILED), None)
    block = verdict.exception is not None
    if verdict.exception is not None and verdict.status is not Status.FAILED:
        _exception(text, verdict, link)
    elif failing is not None:
        _check_line(text, failing)
        if verdict.exception is not None:  # an exercise that expects one error, got another
            _exception(text, verdict, link)
    if about_output:
        _output_preview(text, verdict.run, spaced=block)
    if tip:
        text.append("\n")
        text.append(tip, style="italic cyan")
        text.append("\n")
    _checks(text, verdict)
    for note in verdict.notes:
        text.append("\n• ", style="yellow")
        text.append(inert(note))
        text.append("\n")
    if not about_output:
        _output_pointer(text, verdict.run)
    _facts(text, verdict)
    text.rstrip()
    return text


def _prediction(text: Text, result: PredictionResult) -> None:
    """The learner's prediction beside what happened, then the lesson's why, right or wrong."""
    style = "green" if result.matched else "red"
    text.append("\nYou predicted  ", style="bold")
    text.append(f"{inert(result.predicted)}\n", style=style)
    if result.raised:
        text.append("It raises      ", style="bold")
        text.append(f"{inert(result.truth.removeprefix('raises '))}\n")
    else:
        text.append("It is          ", style="bold")
        text.append(f"{inert(result.truth)}\n")
    if result.detail:
        text.append(f"               {inert(result.detail)}\n", style="dim")
    if result.explain:
        text.append("\nWhy\n", style="bold cyan")
        text.append(f"{inert(result.explain.strip())}\n")


def _check_line(text: Text, check: CheckResult) -> None:
    style = CHECK_STYLE[check.state]
    text.append(f"{CHECK_MARK[check.state]} ", style=style)
    text.append(inert(check.label), style="bold" if check.state is CheckState.FAILED else "")
    if check.message:
        text.append(": ")
        text.append(
            inert(check.message), style=style if check.state is not CheckState.PASSED else ""
        )
    text.append("\n")


def _exception(text: Text, verdict: Verdict, link: str | None) -> None:
    error = verdict.exception
    if error is None:
        return
    expected = verdict.status is not Status.ERROR
    unreadable = error.is_a("SyntaxError")
    text.append("\n")
    if unreadable:
        heading = "Where Python stopped reading your code\n"
    else:
        heading = "Your code raised\n" if expected else "Traceback\n"
    text.append(heading, style="bold")
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
    if error.operands:  # a shape or dtype mismatch: what each tensor on the line was
        text.append("On that line: ", style="bold")
        text.append(inert("; ".join(o.describe() for o in error.operands)) + "\n")
    explanation = verdict.explanation
    if explanation is not None:
        text.append("\nWhy: ", style="bold cyan")
        text.append(inert(explanation.text))
        text.append("\n")
        fix = link or (f"the lesson {explanation.lesson}" if explanation.lesson else None)
        if fix is not None:  # None: no lesson in the curriculum teaches this fix
            text.append(f"Learn the fix: {inert(fix)}\n", style="bold cyan")


def _checks(text: Text, verdict: Verdict) -> None:
    checks = verdict.checks
    if not checks:
        return
    messages = {(c.state, c.message) for c in checks}
    if len(messages) == 1 and checks[0].state is CheckState.SKIPPED and len(checks) > 1:
        # One reason for all of them (the code did not run): say it once.
        count = f"{len(checks)} checks"
        text.append("\nChecks: ", style="bold")
        text.append(f"{count}, {inert(checks[0].message)}\n", style="dim")
        return
    stopped = verdict.status is Status.ERROR
    text.append("\nChecks" + (" (after the error)" if stopped else "") + "\n", style="bold")
    for check in checks:
        text.append(" ")
        _check_line(text, check)
        if check.tensor_report is not None:  # the checklist says what the details would
            render_tensor_report(text, check.tensor_report)
        else:
            for detail in check.details:
                text.append(f"     {inert(detail)}\n")
        if check.state is CheckState.FAILED and check.explain:
            text.append("     → ", style="cyan")
            text.append(inert(check.explain), style="italic")
            text.append("\n")


def _output_preview(text: Text, run: RunResult | None, *, spaced: bool) -> None:
    """The start of what the code printed, right under the verdict (at 80x24, the pane's first
    rows: no blank line before it unless it follows a block, like a traceback)."""
    if run is None:
        return
    found = streams(run)
    out = next((s for s in found if s.title == "Output"), None)
    if spaced:
        text.append("\n")
    if out is None:
        text.append("Output: ", style="bold")
        text.append("your code printed nothing.\n")
    else:
        text.append(f"Output ({out.count()}):\n", style="bold")
        for line in out.lines[:PREVIEW_LINES]:
            text.append(f"  {line}\n")
        rest = out.rest(min(PREVIEW_LINES, len(out.lines)))
        if rest:
            text.append(f"  {rest}: {key_for('toggle_output')} shows it\n", style="dim")
    errors = next((s for s in found if s.title != "Output"), None)
    if errors is not None:
        text.append(
            f"  and {errors.count()} of errors and warnings (stderr): "
            f"{key_for('toggle_output')} shows them\n",
            style="yellow",
        )


def _output_pointer(text: Text, run: RunResult | None) -> None:
    """One line saying that there is output, and which key shows it."""
    found = streams(run)
    if not found:
        return
    parts = [
        f"{s.count()}" if s.title == "Output" else f"{s.count()} of errors and warnings"
        for s in found
    ]
    text.append(
        f"\nYour code printed {' and '.join(parts)}: {key_for('toggle_output')} shows "
        f"{'it' if len(found) == 1 and len(found[0].lines) == 1 else 'them'}.\n",
        style="dim",
    )


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


# ---------------------------------------------------------------- the output


def render_output(run: RunResult | None) -> Text:
    """The Output tab: everything the code printed (the first MAX_OUTPUT_LINES lines of each
    stream), with honest counts."""
    text = Text()
    found = streams(run)
    if run is None:
        text.append("Nothing has run yet.", style="dim")
        return text
    if not found:
        text.append("Your code printed nothing.", style="dim")
        return text
    for stream in found:
        text.append(f"{stream.title} ({stream.count()})\n", style="bold")
        for line in stream.lines[:MAX_OUTPUT_LINES]:
            text.append(f"  {line}\n")
        rest = stream.rest(min(MAX_OUTPUT_LINES, len(stream.lines)))
        if rest:
            text.append(f"  {rest}\n", style="dim")
        text.append("\n")
    text.rstrip()
    return text


# ------------------------------------------------------------------- widget


class ResultsPane(Vertical):
    """Two tabs, Result and Output, each scrolling on its own; the border title names both and
    marks the one shown. `plain` and `output_plain` expose the texts for tests."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._text = Text()
        self._output = render_output(None)
        self._output_label = "Output"
        self._verdict_mark = ""
        self._also = ""  # another key worth naming in the bottom border (the lesson link)
        self.tab = RESULT_TAB
        self._set_title()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="verdict-scroll", classes="results-tab"):
            yield Static(self._text, id="results-body")
        with VerticalScroll(id="output-scroll", classes="results-tab"):
            yield Static(self._output, id="output-body")

    def on_mount(self) -> None:
        self._show_tab()

    @property
    def plain(self) -> str:
        return self._text.plain

    @property
    def output_plain(self) -> str:
        return self._output.plain

    def show(
        self, text: Text, run: RunResult | None = None, mark: str = "", also: str = ""
    ) -> None:
        """Put a new result in the Result tab (and its run's output in the Output tab); `mark`
        goes in the title, `also` (a key to name, like the lesson link's) in the bottom border:
        both stay in sight however the text scrolls."""
        self._text = text
        self._also = also
        self._output = render_output(run)
        self._output_label = output_tab_label(run)
        self._verdict_mark = mark
        self.query_one("#results-body", Static).update(text)
        self.query_one("#output-body", Static).update(self._output)
        for scroll in self.query(VerticalScroll):
            scroll.scroll_home(animate=False)
        self._set_title()

    def show_tab(self, tab: str) -> None:
        self.tab = tab
        self._set_title()
        self._show_tab()

    def toggle_tab(self) -> str:
        self.show_tab(OUTPUT_TAB if self.tab == RESULT_TAB else RESULT_TAB)
        return self.tab

    def _show_tab(self) -> None:
        if not self.is_mounted:
            return
        verdict = self.query_one("#verdict-scroll", VerticalScroll)
        output = self.query_one("#output-scroll", VerticalScroll)
        had_focus = verdict.has_focus or output.has_focus
        verdict.display = self.tab == RESULT_TAB
        output.display = self.tab == OUTPUT_TAB
        if had_focus:
            (verdict if self.tab == RESULT_TAB else output).focus()

    def _set_title(self) -> None:
        result = "Result" + (f" {self._verdict_mark}" if self._verdict_mark else "")
        title = Text()
        for name, label in ((RESULT_TAB, result), (OUTPUT_TAB, self._output_label)):
            if title:
                title.append(" │ ")
            title.append(label, style="bold underline" if name == self.tab else "")
        self.border_title = title
        other = "the output" if self.tab == RESULT_TAB else "the result"
        shows = f"{key_for('toggle_output')} shows {other}"
        self.border_subtitle = f"{self._also} · {shows}" if self._also else shows
