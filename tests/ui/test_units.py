"""Unit tests of the UI's plain parts: verdict rendering, session rules, help text, badges."""

from __future__ import annotations

from pathlib import Path

from textual.binding import Binding

from tutor.checker import CheckResult, CheckState, Status, Verdict
from tutor.loader import LessonPack
from tutor.progress import Progress
from tutor.sandbox.probe import InterpreterInfo
from tutor.sandbox.runner import ExceptionInfo, Frame, Outcome, RunResult
from tutor.ui.help_screen import describe
from tutor.ui.results import render_output, render_verdict
from tutor.ui.session import Session
from tutor.ui.status import device_text


def test_output_is_inert_and_never_markup() -> None:
    run = RunResult(
        Outcome.COMPLETED,
        stdout="\x1b[2Jcleared [red]not red[/red]\n",
        stderr="UserWarning: careful\n",
        output_truncated=True,
        device="cpu",
        torch_version="2.13.0",
        wall_seconds=1.25,
    )
    verdict = Verdict(Status.PASSED, "all 1 checks passed", run=run, notes=["a note"])
    for plain in (
        render_verdict(verdict, next_step="Next: B", about_output=True).plain,
        render_output(run).plain,
    ):
        assert "\x1b" not in plain
        assert "\\x1b[2Jcleared [red]not red[/red]" in plain
        assert "only the start of the output is kept" in plain
    plain = render_verdict(verdict, next_step="Next: B").plain
    assert "• a note" in plain
    assert "Next: B" in plain
    assert "ran on cpu · torch 2.13.0 · 1.2 s" in plain
    assert "UserWarning: careful" in render_output(run).plain


def test_an_expected_exception_is_not_called_an_error() -> None:
    error = ExceptionInfo(
        "ValueError", "builtins", ("ValueError",), "bad", (Frame(3, "f", "raise ValueError"),)
    )
    run = RunResult(Outcome.COMPLETED, exception=error, device="cpu")
    checks = [CheckResult("raises ValueError", CheckState.PASSED)]
    plain = render_verdict(Verdict(Status.PASSED, "ok", checks, run)).plain
    assert "Your code raised" in plain and "Traceback" not in plain
    assert "line 3 in f: raise ValueError" in plain
    assert "✓ raises ValueError" in plain


def test_failed_checks_show_details_and_explain() -> None:
    checks = [
        CheckResult("x", CheckState.FAILED, "values differ", ("at [0]: 1 vs 2",), "Look at x."),
        CheckResult("y", CheckState.SKIPPED, "needs a CUDA GPU (skipped here)"),
    ]
    plain = render_verdict(Verdict(Status.FAILED, "1 of 1 checks failed", checks)).plain
    assert "✗ x: values differ" in plain
    assert "at [0]: 1 vs 2" in plain
    assert "→ Look at x." in plain
    assert "- y: needs a CUDA GPU" in plain


def test_opening_prefers_start_at_then_last_then_first_unfinished(
    pack: LessonPack, tmp_path: Path
) -> None:
    progress = Progress(tmp_path / "progress.json")
    session = Session(pack, progress)
    assert session.opening(None).key == "basics/three"  # type: ignore[union-attr]
    progress.last = "basics/greet"
    assert session.opening(None).key == "basics/greet"  # type: ignore[union-attr]
    assert session.opening(("errors", None)).key == "errors/raise"  # type: ignore[union-attr]
    assert session.opening(("nope", None)).key == "basics/greet"  # type: ignore[union-attr]
    greet = session.find("basics", "greet")
    assert greet is not None
    progress.record_result(greet.lesson, greet.exercise, True)
    # Done or not, the exercise last worked on is where the learner comes back to.
    assert session.opening(None).key == "basics/greet"  # type: ignore[union-attr]
    progress.last = "basics/gone"  # an exercise the pack no longer has
    assert session.opening(None).key == "basics/three"  # type: ignore[union-attr]


def test_step_crosses_lessons_and_stops_at_the_ends(pack: LessonPack, tmp_path: Path) -> None:
    session = Session(pack, Progress(tmp_path / "progress.json"))
    first = session.positions[0]
    assert session.step(first, -1) is None
    last = session.positions[-1]
    assert session.step(last, 1) is None
    assert session.step(session.positions[2], 1) == last


def test_a_failed_save_is_reported_not_raised(pack: LessonPack, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    session = Session(pack, Progress(blocker / "progress.json"))
    error = session.save_code(session.positions[0], "x = 1\n")
    assert error is not None and "Could not save" in error


def test_cancelled_and_broken_runs_are_not_attempts(pack: LessonPack, tmp_path: Path) -> None:
    progress = Progress(tmp_path / "progress.json")
    session = Session(pack, progress)
    position = session.positions[0]
    session.record(position, Verdict(Status.CANCELLED, "cancelled"))
    session.record(position, Verdict(Status.INTERNAL_ERROR, "broken"))
    assert progress.peek(position.key) is None
    session.record(position, Verdict(Status.FAILED, "1 of 1 checks failed"))
    assert progress.exercises[position.key].failed_runs == 1


def test_help_describes_bindings_in_words() -> None:
    assert describe(Binding("x", "cursor_word_left(True)")) == (
        "Cursor word left (extending the selection)"
    )
    assert describe(Binding("x", "run", "Run", tooltip="Run and check")) == "Run and check"


def test_device_badge() -> None:
    cpu_only = InterpreterInfo("py", torch_version="2.13.0+cpu")
    gpu = InterpreterInfo("py", torch_version="2", cuda_available=True, device_name="H100")
    assert device_text("auto", None, None) == "device: auto"
    assert device_text("auto", None, cpu_only) == "device: auto → cpu"
    assert device_text("auto", None, gpu) == "device: auto → cuda (H100)"
    assert device_text("auto", "cpu", gpu) == "device: auto → cpu"
    assert device_text("cpu", None, gpu) == "device: cpu"


def test_an_error_shows_why_and_where_to_learn_the_fix() -> None:
    from tutor.explain import Explanation

    error = ExceptionInfo(
        "RuntimeError",
        "builtins",
        ("RuntimeError",),
        "boom",
        (Frame(3, "<module>", "y.backward()"),),
    )
    verdict = Verdict(
        Status.ERROR,
        "RuntimeError: boom (line 3)",
        run=RunResult(Outcome.COMPLETED, exception=error),
        explanation=Explanation("x", "Because [bold]reasons[/bold].", "autograd/blitz"),
    )
    plain = render_verdict(verdict).plain
    assert "line 3: y.backward()" in plain
    assert "Why: Because [bold]reasons[/bold]." in plain
    assert "Learn the fix: the lesson autograd/blitz" in plain
    linked = render_verdict(verdict, link="press ctrl+g to open autograd/blitz").plain
    assert "Learn the fix: press ctrl+g to open autograd/blitz" in linked
