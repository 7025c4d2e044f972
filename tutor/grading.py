"""`pttutor grade`: check a directory of a student's solution files against a lesson pack.

Made for CI: a teacher points it at the student's directory and gets a table, a score, an exit
status and (with `--json`) a stable, documented result. Files are named `LESSON__EXERCISE.py`
(flat) or `LESSON/EXERCISE.py` (one folder per lesson); an exercise without a file is *missing*,
and a file that names no exercise is reported rather than silently ignored. One `Grader` (one
warm pool) grades the whole directory, so each file costs a run, not a PyTorch start-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .checker import REPORT_BUG, Status, Verdict
from .grader import Grader
from .loader import LessonPack, UnknownId
from .report import JSON_FORMAT_VERSION, verdict_json
from .schema import Exercise, Lesson

SEPARATOR = "__"
MISSING = "missing"
UNREADABLE = "unreadable"


class GradeInputError(ValueError):
    """The directory cannot be graded as given (not a directory, two files for one exercise)."""


@dataclass(frozen=True)
class Submissions:
    files: dict[str, Path]  # "lesson/exercise" -> the student's file
    unmatched: list[tuple[Path, str]]  # a .py file that names no exercise, and why


@dataclass(frozen=True)
class GradeRow:
    ref: str
    file: Path | None
    verdict: Verdict | None  # None: nothing was run (missing or unreadable file)
    status: str  # a verdict status, or "missing" / "unreadable"
    summary: str

    @property
    def passed(self) -> bool:
        return self.status == Status.PASSED.value


def expected_names(ref: str) -> str:
    lesson, _, exercise = ref.partition("/")
    return f"{lesson}{SEPARATOR}{exercise}.py or {lesson}/{exercise}.py"


def find_submissions(directory: Path, pack: LessonPack) -> Submissions:
    """Match the `.py` files in `directory` (and its lesson folders) to the pack's exercises."""
    if not directory.is_dir():
        raise GradeInputError(f"{directory}: not a directory")
    files: dict[str, Path] = {}
    unmatched: list[tuple[Path, str]] = []

    def add(path: Path, ref: str | None, why: str) -> None:
        if ref is None:
            unmatched.append((path, why))
        elif ref in files:
            raise GradeInputError(f"two files for {ref}: {files[ref]} and {path}")
        else:
            files[ref] = path

    for path in sorted(directory.iterdir()):
        if path.name.startswith((".", "_")):
            continue  # .git, __pycache__, __init__.py
        if path.is_dir():
            for inner in sorted(path.glob("*.py")):
                if not inner.name.startswith((".", "_")):
                    add(inner, *_match_ref(pack, f"{path.name}/{inner.stem}"))
        elif path.suffix == ".py":
            add(path, *_match_flat(pack, path.stem))
    return Submissions(files, unmatched)


def _match_ref(pack: LessonPack, ref: str) -> tuple[str | None, str]:
    try:
        lesson, exercise = pack.resolve(ref)
    except UnknownId as exc:
        return None, str(exc)
    assert exercise is not None
    return f"{lesson.id}/{exercise.id}", ""


def _match_flat(pack: LessonPack, stem: str) -> tuple[str | None, str]:
    if SEPARATOR not in stem:
        return None, f"not named LESSON{SEPARATOR}EXERCISE.py"
    # Ids may contain `_`: try every `__` as the separator, and take the one that names something.
    first_error = ""
    start = 0
    while (at := stem.find(SEPARATOR, start)) != -1:
        ref, why = _match_ref(pack, f"{stem[:at]}/{stem[at + len(SEPARATOR) :]}")
        if ref is not None:
            return ref, ""
        first_error = first_error or why
        start = at + 1
    return None, first_error


def grade_submissions(
    grader: Grader, selected: Sequence[tuple[Lesson, Exercise]], files: dict[str, Path]
) -> list[GradeRow]:
    """Grade every selected exercise, in order; a missing file is a row too."""
    rows = []
    for lesson, exercise in selected:
        ref = f"{lesson.id}/{exercise.id}"
        path = files.get(ref)
        if path is None:
            rows.append(GradeRow(ref, None, None, MISSING, f"no file: {expected_names(ref)}"))
            continue
        try:
            code = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            rows.append(GradeRow(ref, path, None, UNREADABLE, f"cannot read {path.name}: {exc}"))
            continue
        verdict = _grade_one(grader, exercise, code)
        rows.append(GradeRow(ref, path, verdict, verdict.status.value, verdict.summary))
    return rows


def _grade_one(grader: Grader, exercise: Exercise, code: str) -> Verdict:
    """One submission's verdict; whatever it does (an invalid result included), and even a bug
    of ours while judging it, the other submissions are still graded."""
    try:
        return grader.grade(exercise, code)
    except Exception as exc:
        return Verdict(
            Status.INTERNAL_ERROR,
            f"the check itself failed: {type(exc).__name__}: {exc}",
            notes=[f"this is a bug in pttutor, not in the submission; {REPORT_BUG}"],
        )


def grade_summary(rows: Sequence[GradeRow]) -> dict[str, int]:
    """Counts; `total` leaves out exercises skipped here (a CUDA exercise on a CPU runner)."""
    skipped = sum(r.status == Status.SKIPPED.value for r in rows)
    return {
        "passed": sum(r.passed for r in rows),
        "total": len(rows) - skipped,
        "failed": sum(
            r.status not in (Status.PASSED.value, MISSING, Status.SKIPPED.value) for r in rows
        ),
        "missing": sum(r.status == MISSING for r in rows),
        "skipped": skipped,
    }


def grade_json(
    rows: Sequence[GradeRow], unmatched: Sequence[tuple[Path, str]], base: Path
) -> dict[str, Any]:
    """The documented, stable shape of `pttutor grade --json` (see docs/authoring.md)."""
    return {
        "format": JSON_FORMAT_VERSION,
        "results": [_row_json(row, base) for row in rows],
        "summary": grade_summary(rows),
        "unmatched": [{"file": _relative(p, base), "reason": why} for p, why in unmatched],
    }


def _row_json(row: GradeRow, base: Path) -> dict[str, Any]:
    if row.verdict is not None:
        result = verdict_json(row.ref, row.verdict)
    else:
        result = verdict_json(row.ref, Verdict(Status.FAILED, row.summary))
        result["status"] = row.status
    result["file"] = _relative(row.file, base) if row.file is not None else None
    return result


def _relative(path: Path, base: Path) -> str:
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)
