"""The `pttutor` command: the app by default, plus list / check / verify for the terminal and CI.

Exit codes: 0 success, 1 a check or verification failed, 2 bad input (unknown id, unreadable
file, a lesson pack that does not load). Bad input is one line, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .checker import CheckState, Status, Verdict
from .config import Config, ConfigError, load_config
from .grader import Grader
from .loader import LessonPack, UnknownId, load_pack
from .paths import PYTHON_ENV, data_dir, shipped_lessons_dir
from .progress import Progress
from .report import verdict_json, verdict_text
from .sandbox.pool import WarmRunner
from .sandbox.probe import probe_interpreter
from .schema import Exercise, Lesson
from .textsafe import inert

DEVICES = ("auto", "cpu", "cuda")


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    default: Any = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--lessons",
        type=Path,
        metavar="DIR",
        default=default,
        help="use the lesson pack in DIR instead of the shipped one",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=default,
        help="where snippets run: auto (the default: CUDA when the sandbox interpreter sees it), "
        "cpu, cuda",
    )
    parser.add_argument(
        "--python",
        metavar="PATH",
        default=default,
        help=f"interpreter that runs snippets (needs torch; default: this one, or ${PYTHON_ENV})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pttutor",
        description="A keyboard-driven terminal tutor for PyTorch. "
        "Without a command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"pttutor {__version__}")
    parser.add_argument(
        "--lesson", metavar="ID", help="open the app at this lesson (or LESSON/EXERCISE)"
    )
    _common(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the lessons and your progress")
    _common(p, suppress=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("doctor", help="what this installation can do, and fixes to try")
    _common(p, suppress=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("check", help="check a file against an exercise, without the app")
    _common(p, suppress=True)
    p.add_argument(
        "ref", metavar="LESSON[/EXERCISE]", help="the exercise (a lesson's first if omitted)"
    )
    p.add_argument("--file", type=Path, required=True, metavar="PATH", help="the code to check")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "verify", help="prove every reference solution passes and every starter fails"
    )
    _common(p, suppress=True)
    p.add_argument("only", nargs="*", metavar="LESSON[/EXERCISE]", help="limit to these")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _authoring_parsers(sub)
    _reset_parser(sub)
    return parser


def _authoring_parsers(sub: Any) -> None:
    """lint, schema and grade: for people who write lesson packs and grade students' work."""
    p = sub.add_parser("lint", help="find mistakes in a lesson pack, without running it")
    _common(p, suppress=True)
    p.add_argument("dir", nargs="?", type=Path, metavar="DIR", help="the pack (default: --lessons)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("schema", help="print the lesson format as JSON Schema, for editors")
    _common(p, suppress=True)

    p = sub.add_parser("grade", help="check a directory of solution files, for CI")
    _common(p, suppress=True)
    p.add_argument(
        "solutions",
        type=Path,
        metavar="SOLUTIONS_DIR",
        help="files named LESSON__EXERCISE.py or LESSON/EXERCISE.py",
    )
    p.add_argument("only", nargs="*", metavar="LESSON[/EXERCISE]", help="grade only these")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _settle(args)
        if args.command in _AUTHORING:
            return _AUTHORING[args.command](args)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "reset":
            return cmd_reset(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "verify":
            return cmd_verify(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        return cmd_app(args)
    except UsageError as exc:
        print(f"pttutor: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `pttutor check ... | head`: the reader left, which is fine
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _pack(args: argparse.Namespace, *, strict: bool = False) -> LessonPack:
    root = args.lessons or shipped_lessons_dir()
    pack = load_pack(root)
    for problem in pack.problems:
        print(f"pttutor: {problem}", file=sys.stderr)
    if not pack.lessons:
        raise UsageError(f"no lessons could be loaded from {root}")
    if strict and pack.problems:
        raise UsageError(f"{len(pack.problems)} problem(s) in the lesson pack {root}")
    return pack


def _settle(args: argparse.Namespace) -> None:
    """Fill in what the command line left out: the flag, then the environment, then
    config.toml, then the default (the environment only has PTTUTOR_PYTHON; see _python)."""
    try:
        args.config = load_config()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if args.device is None:
        args.device = args.config.device or "auto"
    if args.lessons is None:
        args.lessons = args.config.lessons


def _python(args: argparse.Namespace) -> str:
    return _python_and_source(args)[0]


def _python_and_source(args: argparse.Namespace) -> tuple[str, str]:
    """The sandbox interpreter and where that choice came from (doctor says which)."""
    config: Config | None = getattr(args, "config", None)
    candidates = [
        (args.python, "--python"),
        (os.environ.get(PYTHON_ENV), f"${PYTHON_ENV}"),
        (config.python, f"python in {config.path}") if config else (None, ""),
    ]
    python, source = next(((p, s) for p, s in candidates if p), (None, ""))
    if python is None:
        return sys.executable, "the interpreter pttutor runs in"
    if os.sep not in python:  # a command name, like python3.12
        found = shutil.which(python)
        if found is None:
            raise UsageError(f"{source} {python}: no such command on PATH")
        return found, source
    if not os.path.isfile(python) or not os.access(python, os.X_OK):
        raise UsageError(f"{source} {python}: not an executable file")
    return str(python), source


def _grader(args: argparse.Namespace) -> Grader:
    # Two spares: the reference and the learner's code run side by side from one torch import.
    runner = WarmRunner(_python(args), spares=2)
    # Fail early, in one line, where the interpreter has no usable torch: otherwise every
    # exercise would fail with the same error. With the pool it costs nothing extra: the zygote
    # that answers is the one the runs fork from.
    runner.warm_up(args.device)
    info = runner.interpreter_info() if runner.fork else probe_interpreter(runner.python)
    if not info.usable:
        runner.close()
        raise UsageError(info.error or f"{runner.python} cannot run PyTorch")
    if args.device == "cuda" and not info.cuda_available:
        runner.close()
        raise UsageError(
            f"device cuda: {info.describe_cuda()} ({runner.python}); use --device cpu or auto"
        )
    return Grader(runner, device=args.device)


def cmd_list(args: argparse.Namespace) -> int:
    pack = _pack(args)
    progress = Progress.load(data_dir())
    rows: list[dict[str, Any]] = []
    for lesson in pack.lessons:
        done = sum(progress.is_done(lesson, e) for e in lesson.exercises)
        rows.append(
            {
                "id": lesson.id,
                "title": lesson.title,
                "exercises": len(lesson.exercises),
                "done": done,
                "state": progress.lesson_state(lesson),
            }
        )
    if args.json:
        print(json.dumps({"lessons": rows}, indent=2))
        return 0
    width = max(len(r["id"]) for r in rows)
    marks = {"done": "✓", "started": "…", "new": " "}
    for row in rows:
        print(
            f"{marks[row['state']]} {row['id']:<{width}}  {row['title']}  "
            f"({row['done']}/{row['exercises']} exercises)"
        )
    done, total = progress.counts(pack)
    print(f"\n{done} of {total} exercises done")
    return 0


def _reset_parser(sub: Any) -> None:
    p = sub.add_parser("reset", help="forget your progress and code (a backup file is kept)")
    _common(p, suppress=True)
    p.add_argument("target", nargs="?", metavar="LESSON[/EXERCISE]", help="what to reset")
    p.add_argument("--all", action="store_true", help="reset every lesson")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")


def cmd_reset(args: argparse.Namespace) -> int:
    """Forget one exercise, one lesson or (--all) everything; the logic is in tutor/reset.py."""
    from . import reset

    if bool(args.target) == args.all:
        raise UsageError("name what to reset (LESSON or LESSON/EXERCISE), or use --all")
    progress = Progress.load(data_dir())
    if args.all:
        return reset.reset_command(progress, reset.scope_everything(progress), yes=args.yes)
    try:
        lesson, exercise = _pack(args).resolve(args.target)
    except UnknownId as exc:
        raise UsageError(str(exc)) from None
    if exercise is None:
        scope = reset.scope_lesson(progress, lesson)
    else:
        scope = reset.scope_exercise(progress, lesson, exercise)
    return reset.reset_command(progress, scope, yes=args.yes)


def _resolve(pack: LessonPack, ref: str) -> tuple[Lesson, Exercise]:
    try:
        lesson, exercise = pack.resolve(ref)
    except UnknownId as exc:
        raise UsageError(str(exc)) from None
    return lesson, exercise or lesson.exercises[0]


def cmd_check(args: argparse.Namespace) -> int:
    pack = _pack(args)
    lesson, exercise = _resolve(pack, args.ref)
    try:
        code = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from None
    grader = _grader(args)
    try:
        verdict = grader.grade(exercise, code)
    finally:
        grader.close()
    ref = f"{lesson.id}/{exercise.id}"
    if args.json:
        print(json.dumps(verdict_json(ref, verdict), indent=2))
    else:
        print(verdict_text(ref, verdict))
    if verdict.status is Status.PASSED:
        return 0
    return 2 if verdict.status is Status.DEVICE_UNAVAILABLE else 1


def cmd_verify(args: argparse.Namespace) -> int:
    pack = _pack(args)
    selected = _selected(pack, args.only)
    grader = _grader(args)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for lesson, exercise in selected:
            ref = f"{lesson.id}/{exercise.id}"
            t0 = time.monotonic()
            solution = grader.grade(exercise, exercise.solution)
            starter = grader.grade(exercise, exercise.starter)
            row = _verify_row(ref, solution, starter, time.monotonic() - t0)
            rows.append(row)
            if not args.json:
                mark = {"ok": "✓", "skipped": "-", "problem": "✗"}[row["result"]]
                print(f"{mark} {ref:<40} {row['message']} ({row['seconds']:.1f} s)", flush=True)
    finally:
        grader.close()
    problems = [r for r in rows if r["result"] == "problem"]
    skipped = [r for r in rows if r["result"] == "skipped"]
    summary = {
        "exercises": len(rows),
        "ok": len(rows) - len(problems) - len(skipped),
        "problems": len(problems),
        "skipped": len(skipped),
        "lessons": len({r["exercise"].split("/")[0] for r in rows}),
        "device": grader.resolved_device or args.device,
        "seconds": round(time.monotonic() - started, 1),
        "load_problems": [str(p) for p in pack.problems],
    }
    if args.json:
        print(json.dumps({"summary": summary, "results": rows}, indent=2))
    else:
        print(
            f"\nverify: {summary['lessons']} lessons, {summary['exercises']} exercises on "
            f"{summary['device']}: {summary['ok']} ok, {summary['problems']} problems, "
            f"{summary['skipped']} skipped ({summary['seconds']} s)"
        )
    return 1 if problems or pack.problems else 0


def _selected(pack: LessonPack, only: Sequence[str]) -> list[tuple[Lesson, Exercise]]:
    if not only:
        return pack.exercises()
    chosen: list[tuple[Lesson, Exercise]] = []
    for ref in only:
        try:
            lesson, exercise = pack.resolve(ref)
        except UnknownId as exc:
            raise UsageError(str(exc)) from None
        chosen.extend((lesson, e) for e in ([exercise] if exercise else lesson.exercises))
    return chosen


def _verify_row(ref: str, solution: Verdict, starter: Verdict, seconds: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "exercise": ref,
        "solution": solution.status.value,
        "starter": starter.status.value,
        "seconds": round(seconds, 2),
    }
    if solution.status is Status.SKIPPED:
        row.update(result="skipped", message=solution.summary)
    elif solution.status is not Status.PASSED:
        detail = "; ".join(f"{c.label}: {c.message}" for c in solution.checks if c.message)
        row.update(
            result="problem",
            message=f"the solution does not pass: {solution.summary}"
            + (f" ({detail})" if detail else ""),
        )
    elif starter.status is Status.PASSED:
        row.update(result="problem", message="the starter code already passes")
    elif starter.status in (Status.INTERNAL_ERROR, Status.CANCELLED):
        row.update(result="problem", message=f"the starter could not be checked: {starter.summary}")
    else:
        row.update(result="ok", message=f"solution passes, starter fails ({starter.status.value})")
    return row


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import as_json, diagnose

    python, source = _python_and_source(args)
    lessons = args.lessons or shipped_lessons_dir()
    findings = diagnose(python, data_dir(), lessons, getattr(args, "config", None), source)
    if args.json:
        print(json.dumps({"findings": as_json(findings)}, indent=2))
    else:
        width = max(len(f.topic) for f in findings)
        for finding in findings:
            print(f"{'✓' if finding.ok else '✗'} {finding.topic:<{width}}  {finding.value}")
            if finding.fix:
                print(f"  {'':<{width}}  → {finding.fix}")
    return 0 if all(f.ok for f in findings) else 1


def cmd_app(args: argparse.Namespace) -> int:
    pack = _pack(args)
    start_at = None
    if args.lesson:
        lesson, exercise = _resolve(pack, args.lesson)
        start_at = (lesson.id, exercise.id if "/" in args.lesson else None)
    from .ui.app import TutorApp

    app = TutorApp(pack, python=_python(args), device=args.device, start_at=start_at)
    app.run()
    return app.return_code or 0


# -- for authors and teachers: lint, schema, grade --------------------------------------------


def cmd_lint(args: argparse.Namespace) -> int:
    from .lint import lint_pack

    root = args.dir or args.lessons or shipped_lessons_dir()
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    problems = lint_pack(root)
    errors = [p for p in problems if not p.warning]
    if args.json:
        rows = [
            {
                "file": str(p.path),
                "line": p.line,
                "severity": "warning" if p.warning else "error",
                "message": p.message,
            }
            for p in problems
        ]
        print(json.dumps({"format": 1, "problems": rows}, indent=2))
    else:
        for problem in problems:
            print(problem)
        warnings = len(problems) - len(errors)
        print(
            f"lint: {root}: {len(errors)} error(s), {warnings} warning(s)"
            if problems
            else f"lint: {root}: no problems",
            file=sys.stderr,
        )
    return 1 if errors or (args.strict and problems) else 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .schema import lesson_json_schema

    print(json.dumps(lesson_json_schema(), indent=2))
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from .grading import (
        GradeInputError,
        find_submissions,
        grade_json,
        grade_submissions,
        grade_summary,
    )

    pack = _pack(args, strict=True)  # a lesson that did not load would vanish from the score
    selected = _selected(pack, args.only)
    try:
        submissions = find_submissions(args.solutions, pack)
    except GradeInputError as exc:
        raise UsageError(str(exc)) from None
    for path, why in submissions.unmatched:
        print(f"pttutor: grade: ignoring {path}: {why}", file=sys.stderr)
    grader = _grader(args)
    try:
        rows = grade_submissions(grader, selected, submissions.files)
    finally:
        grader.close()
    summary = grade_summary(rows)
    if args.json:
        print(json.dumps(grade_json(rows, submissions.unmatched, args.solutions), indent=2))
    else:
        width = max((len(r.ref) for r in rows), default=0)
        marks = {"passed": "✓", "skipped": "-"}
        for row in rows:
            where = f"  [{row.file.relative_to(args.solutions)}]" if row.file else ""
            line = f"{marks.get(row.status, '✗')} {row.ref:<{width}}  {row.status:<9} "
            print(inert(f"{line}{row.summary}{where}"))  # summaries quote the student's errors
            for check in row.verdict.checks if row.verdict else ():
                if check.state is CheckState.FAILED:
                    print(inert(f"      ✗ {check.label}: {check.message}"))
        print(
            f"\ngrade: {summary['passed']}/{summary['total']} passed "
            f"({summary['failed']} failed, {summary['missing']} missing, "
            f"{summary['skipped']} skipped)"
        )
    if any(r.status == Status.DEVICE_UNAVAILABLE.value for r in rows):
        return 2
    return 0 if summary["passed"] == summary["total"] else 1


_AUTHORING = {"lint": cmd_lint, "schema": cmd_schema, "grade": cmd_grade}


if __name__ == "__main__":
    sys.exit(main())
