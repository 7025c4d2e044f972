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
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

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
from .verify import verify_rows

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

    p = sub.add_parser("list", help="list the lessons and your progress, or a lesson's exercises")
    _common(p, suppress=True)
    p.add_argument(
        "lesson", nargs="?", metavar="LESSON", help="list this lesson's exercise ids and states"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("doctor", help="what this installation can do, and fixes to try")
    _common(p, suppress=True)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("check", help="check files against exercises, without the app")
    _common(p, suppress=True)
    p.add_argument(
        "refs",
        nargs="+",
        metavar="LESSON[/EXERCISE][=FILE]",
        help="the exercise to check --file against (a lesson's first if omitted); or several "
        "LESSON/EXERCISE=FILE pairs, checked through one sandbox pool",
    )
    p.add_argument("--file", type=Path, metavar="PATH", help="the code to check (one exercise)")
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
    p.add_argument("--pack", action="store_true", help="the format of pack.yaml instead")

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


def _grader(
    args: argparse.Namespace, checks_at_once: int = 1, spares: int = 0, batch: bool = False
) -> Grader:
    # Two spares a check: the reference and the learner's code run side by side from one torch
    # import. A batch (verify, grade) waits for the zygote's warm imports before its first
    # spares, so that none of its many runs pays them; a single check starts sooner.
    runner = WarmRunner(_python(args), spares=spares or 2 * checks_at_once, batch=batch)
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


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 lesson`, `2 lessons`, `0 problems`."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


def _progress() -> Progress:
    """The learner's progress; a damaged file moved aside is said in one line on stderr."""
    progress = Progress.load(data_dir())
    for message in progress.messages:
        print(f"pttutor: {' '.join(message.split())}", file=sys.stderr)
    return progress


def _exercise_state(progress: Progress, lesson: Lesson, exercise: Exercise) -> str:
    """'done', 'started' (edited, run, a hint or the solution seen) or 'new'."""
    state = progress.peek(f"{lesson.id}/{exercise.id}")
    if state is not None and state.done:
        return "done"
    return "started" if state is not None and state.touched else "new"


def cmd_list(args: argparse.Namespace) -> int:
    pack = _pack(args)
    lessons = pack.lessons
    if args.lesson:
        try:
            lesson, _ = pack.resolve(args.lesson)
        except UnknownId as exc:
            raise UsageError(str(exc)) from None
        lessons = [lesson]
    progress = _progress()
    rows: list[dict[str, Any]] = []
    for lesson in lessons:
        done = sum(progress.is_done(lesson, e) for e in lesson.exercises)
        rows.append(
            {
                "id": lesson.id,
                "title": lesson.title,
                "exercises": len(lesson.exercises),
                "done": done,
                "state": progress.lesson_state(lesson),
                "exercise_list": [
                    {
                        "id": f"{lesson.id}/{exercise.id}",
                        "title": exercise.title,
                        "state": _exercise_state(progress, lesson, exercise),
                    }
                    for exercise in lesson.exercises
                ],
            }
        )
    if args.json:
        print(json.dumps({"lessons": rows}, indent=2))
        return 0
    marks = {"done": "✓", "started": "…", "new": " "}
    if args.lesson:
        row = rows[0]
        print(
            f"{row['title']} ({row['id']}): {row['done']} of "
            f"{plural(row['exercises'], 'exercise')} done"
        )
        width = max(len(e["id"]) for e in row["exercise_list"])
        for item in row["exercise_list"]:
            print(f"{marks[item['state']]} {item['id']:<{width}}  {item['title']}")
        return 0
    width = max(len(r["id"]) for r in rows)
    for row in rows:
        print(
            f"{marks[row['state']]} {row['id']:<{width}}  {row['title']}  "
            f"({row['done']}/{plural(row['exercises'], 'exercise')})"
        )
    done, total = progress.counts(pack)
    print(f"\n{done} of {plural(total, 'exercise')} done")
    print("`pttutor list LESSON` lists a lesson's exercise ids (for `pttutor check`).")
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
    progress = Progress.load(data_dir())  # reset_command says what loading moved aside
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


@dataclass(frozen=True)
class _CheckItem:
    ref: str  # lesson/exercise, resolved
    exercise: Exercise
    file: Path
    code: str


def _check_items(pack: LessonPack, args: argparse.Namespace) -> list[_CheckItem]:
    """`REF --file PATH`, or `REF=PATH ...`: every id resolved and every file read before
    anything runs, so bad input costs no sandbox start."""
    if args.file is not None:
        if len(args.refs) != 1 or "=" in args.refs[0]:
            raise UsageError(
                "--file goes with one LESSON/EXERCISE; to check several files, "
                "give LESSON/EXERCISE=FILE pairs instead"
            )
        pairs = [(args.refs[0], args.file)]
    else:
        pairs = []
        for item in args.refs:
            ref, _, file = item.partition("=")
            if not ref or not file:
                raise UsageError(
                    f"{item}: give LESSON/EXERCISE=FILE pairs, or one LESSON/EXERCISE --file FILE"
                )
            pairs.append((ref, Path(file)))
    items = []
    for ref, path in pairs:
        lesson, exercise = _resolve(pack, ref)
        try:
            code = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {path}: {exc}") from None
        items.append(_CheckItem(f"{lesson.id}/{exercise.id}", exercise, path, code))
    return items


def cmd_check(args: argparse.Namespace) -> int:
    """One file (`--file`), or several `REF=FILE` pairs through one pool, two at a time.
    Exit 0 only if every file passes; 2 if a device was unavailable; else 1."""
    items = _check_items(_pack(args), args)
    workers = min(CHECKS_AT_ONCE, len(items))
    grader = _grader(args, checks_at_once=workers)
    verdicts: list[Verdict] = []
    try:
        for item, verdict in zip(
            items,
            _in_order(lambda i: grader.grade(i.exercise, i.code), items, workers),
            strict=True,
        ):
            verdicts.append(verdict)
            if args.file is not None:  # the one-file form: its output is as it always was
                if args.json:
                    print(json.dumps(verdict_json(item.ref, verdict), indent=2))
                else:
                    print(verdict_text(item.ref, verdict))
            elif not args.json:
                print(verdict_text(f"{item.ref} [{item.file}]", verdict) + "\n", flush=True)
    finally:
        grader.close()
    if args.file is None:
        if args.json:
            rows = [
                {**verdict_json(item.ref, verdict), "file": str(item.file)}
                for item, verdict in zip(items, verdicts, strict=True)
            ]
            print(json.dumps(rows, indent=2))
        else:
            passed = sum(v.status is Status.PASSED for v in verdicts)
            print(f"check: {passed}/{plural(len(verdicts), 'file')} passed")
    if all(v.status is Status.PASSED for v in verdicts):
        return 0
    return 2 if any(v.status is Status.DEVICE_UNAVAILABLE for v in verdicts) else 1


CHECKS_AT_ONCE = 2  # checks run side by side (each runs the reference and the code at once)
VERIFY_AT_ONCE = 3  # verify's gradings at once (their references are shared, a run each)

_T = TypeVar("_T")
_R = TypeVar("_R")


def _in_order(work: Callable[[_T], _R], items: Sequence[_T], workers: int) -> Iterator[_R]:
    """`work(item)` for every item, up to `workers` at a time, yielded in the items' order
    (each as soon as it and every item before it are done), so output stays stable. The
    Grader is thread-safe; the pool's spares are shared by all."""
    if workers <= 1:
        yield from map(work, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pttutor-check")
    try:
        futures = [pool.submit(work, item) for item in items]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def cmd_verify(args: argparse.Namespace) -> int:
    pack = _pack(args)
    selected = _selected(pack, args.only)
    grader = _grader(args, spares=VERIFY_AT_ONCE + 1, batch=True)
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        for row in verify_rows(grader, selected, VERIFY_AT_ONCE):
            rows.append(row)
            if not args.json:
                mark = {"ok": "✓", "skipped": "-", "problem": "✗"}[row["result"]]
                line = f"{mark} {row['exercise']:<40} {row['message']} ({row['seconds']:.1f} s)"
                print(inert(line), flush=True)  # messages quote the runs' errors
    finally:
        grader.close()
    problems = [r for r in rows if r["result"] == "problem"]
    skipped = [r for r in rows if r["result"] == "skipped"]
    summary: dict[str, Any] = {
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
            f"\nverify: {plural(summary['lessons'], 'lesson')}, "
            f"{plural(summary['exercises'], 'exercise')} on {summary['device']}: "
            f"{summary['ok']} ok, {plural(summary['problems'], 'problem')}, "
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
            # Values quote the sandbox interpreter (its stderr, its report): made inert.
            print(inert(f"{'✓' if finding.ok else '✗'} {finding.topic:<{width}}  {finding.value}"))
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
    from .schema import lesson_json_schema, pack_json_schema

    print(json.dumps(pack_json_schema() if args.pack else lesson_json_schema(), indent=2))
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
        # File names are the students' own text: made inert like everything they wrote.
        print(inert(f"pttutor: grade: ignoring {path}: {why}"), file=sys.stderr)
    grader = _grader(args, batch=True)
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
