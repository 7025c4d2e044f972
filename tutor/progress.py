"""The learner's progress and code, kept in one versioned JSON file written atomically.

Nothing the learner typed is ever lost (principle 5): code is saved before every run, when
switching exercises and on quit. A corrupt or future-version file is moved aside, never
silently overwritten.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .loader import LessonPack
from .schema import Exercise, Lesson

FORMAT_VERSION = 1
FILE_NAME = "progress.json"


def exercise_key(lesson: Lesson, exercise: Exercise) -> str:
    return f"{lesson.id}/{exercise.id}"


@dataclass
class ExerciseState:
    done: bool = False
    code: str | None = None  # None: the learner has not edited it (the starter applies)
    starter: str | None = None  # fingerprint of the starter the code was written against
    failed_runs: int = 0
    hints_shown: int = 0
    updated: float = 0.0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExerciseState:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class Progress:
    path: Path
    exercises: dict[str, ExerciseState] = field(default_factory=dict)
    last: str | None = None
    messages: list[str] = field(default_factory=list)  # what happened while loading

    @classmethod
    def load(cls, directory: Path) -> Progress:
        path = directory / FILE_NAME
        progress = cls(path)
        if not path.exists():
            return progress
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            version = data.get("version")
            if isinstance(version, int) and version > FORMAT_VERSION:
                progress._move_aside(f"it was written by a newer pttutor (format {version})")
                return progress
            if version != FORMAT_VERSION:
                raise ValueError(f"unknown format version {version!r}")
            progress.exercises = {
                str(k): ExerciseState.from_json(v) for k, v in data.get("exercises", {}).items()
            }
            last = data.get("last")
            progress.last = last if isinstance(last, str) else None
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            progress.exercises = {}
            progress._move_aside(f"it could not be read ({exc})")
        return progress

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.{stamp}.bak")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.{stamp}-{n}.bak")
            n += 1
        self.path.rename(target)
        self.messages.append(
            f"Your progress file was moved to {target} because {why}; starting afresh."
        )

    def save(self) -> None:
        data = {
            "version": FORMAT_VERSION,
            "last": self.last,
            "exercises": {k: asdict(v) for k, v in sorted(self.exercises.items())},
        }
        write_atomic(self.path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")

    def state(self, key: str) -> ExerciseState:
        return self.exercises.setdefault(key, ExerciseState())

    def peek(self, key: str) -> ExerciseState | None:
        return self.exercises.get(key)

    def code_for(self, lesson: Lesson, exercise: Exercise) -> str:
        state = self.peek(exercise_key(lesson, exercise))
        return state.code if state and state.code is not None else exercise.starter

    def starter_changed(self, lesson: Lesson, exercise: Exercise) -> bool:
        """True when the learner's saved code was written against a different starter."""
        state = self.peek(exercise_key(lesson, exercise))
        return bool(
            state
            and state.code is not None
            and state.starter is not None
            and state.starter != exercise.starter_fingerprint()
        )

    def remember_code(self, lesson: Lesson, exercise: Exercise, code: str) -> bool:
        """Record the editor's text; True when it changed (the caller then saves)."""
        key = exercise_key(lesson, exercise)
        state = self.state(key)
        if code == (state.code if state.code is not None else exercise.starter):
            return False
        state.code = code
        state.starter = exercise.starter_fingerprint()
        state.updated = time.time()
        return True

    def record_result(self, lesson: Lesson, exercise: Exercise, passed: bool) -> None:
        state = self.state(exercise_key(lesson, exercise))
        if passed:
            state.done = True
        else:
            state.failed_runs += 1
        state.updated = time.time()

    def is_done(self, lesson: Lesson, exercise: Exercise) -> bool:
        state = self.peek(exercise_key(lesson, exercise))
        return bool(state and state.done)

    def lesson_state(self, lesson: Lesson) -> str:
        """'done', 'started' or 'new'."""
        done = [self.is_done(lesson, e) for e in lesson.exercises]
        if all(done):
            return "done"
        touched = any(
            (s := self.peek(exercise_key(lesson, e))) and (s.code is not None or s.failed_runs)
            for e in lesson.exercises
        )
        return "started" if any(done) or touched else "new"

    def first_unfinished(self, pack: LessonPack) -> tuple[Lesson, Exercise] | None:
        for lesson, exercise in pack.exercises():
            if not self.is_done(lesson, exercise):
                return lesson, exercise
        return None

    def counts(self, pack: LessonPack) -> tuple[int, int]:
        pairs = pack.exercises()
        return sum(self.is_done(lesson, ex) for lesson, ex in pairs), len(pairs)
