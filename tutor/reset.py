"""Resetting progress (one exercise, one lesson, or everything), always with a backup first.

Shared by `pttutor reset` and the app's command palette, so both forget the same things and both
keep the old file: a reset is the one operation that throws the learner's work away on purpose,
so it must be recoverable from disk. If the new file cannot be written, nothing is forgotten.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .progress import Progress, exercise_key
from .schema import Exercise, Lesson


@dataclass(frozen=True)
class ResetScope:
    """What a reset forgets: `keys` are the progress entries that exist for it now."""

    title: str  # "lesson Basics (basics)", "exercise basics/three", "everything"
    keys: tuple[str, ...]
    everything: bool = False


def scope_everything(progress: Progress) -> ResetScope:
    return ResetScope("everything", tuple(progress.exercises), everything=True)


def scope_lesson(progress: Progress, lesson: Lesson) -> ResetScope:
    # By prefix, so entries of exercises the pack no longer has go too.
    prefix = f"{lesson.id}/"
    keys = tuple(k for k in progress.exercises if k.startswith(prefix))
    return ResetScope(f"lesson {lesson.title} ({lesson.id})", keys)


def scope_exercise(progress: Progress, lesson: Lesson, exercise: Exercise) -> ResetScope:
    key = exercise_key(lesson, exercise)
    return ResetScope(f"exercise {key}", (key,) if key in progress.exercises else ())


def describe(progress: Progress, scope: ResetScope) -> str:
    """What would be lost, in words: '2 done, your code in 3 exercises, 1 hint shown'."""
    states = [progress.exercises[k] for k in scope.keys if k in progress.exercises]
    done = sum(s.done for s in states)
    code = sum(s.code is not None for s in states)
    hints = sum(s.hints_shown for s in states)
    parts = []
    if done:
        parts.append(f"{done} done")
    if code:
        parts.append(f"your code in {code} exercise{'s' if code != 1 else ''}")
    if hints:
        parts.append(f"{hints} hint{'s' if hints != 1 else ''} shown")
    return ", ".join(parts) or "only run counts"


def is_empty(scope: ResetScope) -> bool:
    return not scope.keys


def nothing_to_reset(scope: ResetScope) -> str:
    where = "" if scope.everything else f" in {scope.title}"
    return f"Nothing to reset: you have no saved progress{where}."


def reset(progress: Progress, scope: ResetScope) -> Path | None:
    """Back up the file, forget the scope and save. Returns the backup (None: no file existed).

    Raises OSError when the backup or the save fails; the progress in memory is then unchanged.
    """
    if is_empty(scope) and not scope.everything:
        return None
    backup = progress.backup()
    last = progress.last
    removed = progress.forget(scope.keys)
    if scope.everything:
        progress.last = None
    try:
        progress.save()
    except OSError:
        progress.exercises.update(removed)
        progress.last = last
        if backup is not None:  # the file was not replaced, so its copy is not needed
            with contextlib.suppress(OSError):
                backup.unlink()
        raise
    return backup


def reset_command(
    progress: Progress,
    scope: ResetScope,
    *,
    yes: bool,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """`pttutor reset`: ask (unless `yes`), reset, say where the backup is. 0 done or nothing to
    do, 1 declined or failed; never a traceback."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    for message in progress.messages:
        print(f"pttutor: {message}", file=stderr)
    if is_empty(scope):
        print(nothing_to_reset(scope), file=stdout)
        return 0
    if not yes:
        print(
            f"Reset {scope.title}? This forgets {describe(progress, scope)}; "
            f"a backup of {progress.path.name} is kept. [y/N] ",
            end="",
            file=stdout,
            flush=True,
        )
        answer = stdin.readline()
        if not answer.endswith("\n"):
            print(file=stdout)  # end of input: finish the prompt's line
        if answer.strip().lower() not in ("y", "yes"):
            print("Nothing was reset.", file=stdout)
            return 1
    try:
        backup = reset(progress, scope)
    except OSError as exc:
        print(f"pttutor: could not reset {scope.title}: {exc}", file=stderr)
        return 1
    kept = f" Your previous progress is kept in {backup}." if backup else ""
    print(f"Reset {scope.title}.{kept}", file=stdout)
    return 0
