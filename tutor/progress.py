"""The learner's progress and code, kept in one versioned JSON file written atomically.

Nothing the learner typed is ever lost (principle 5): code is saved before every run, when
switching exercises and on quit. A corrupt or future-version file is moved aside, never
silently overwritten; if even that fails, the file is left alone and saving is refused.
`Progress.load` never raises: the app and the CLI must start whatever state the disk is in.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .loader import LessonPack
from .schema import Exercise, Lesson

FORMAT_VERSION = 1
FILE_NAME = "progress.json"
STALE_TEMP_SECONDS = 3600.0  # a temp file this old is left over from a crash mid-save

# What each field of an exercise entry may hold; anything else means the file was damaged.
_BOOL = (bool,)
_INT = (int,)
_TEXT = (str, type(None))
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "done": _BOOL,
    "code": _TEXT,
    "starter": _TEXT,
    "failed_runs": _INT,
    "hints_shown": _INT,
    "solution_seen": _BOOL,
    "updated": (int, float),
}


def exercise_key(lesson: Lesson, exercise: Exercise) -> str:
    return f"{lesson.id}/{exercise.id}"


class ProgressNotSaved(OSError):
    """Saving was refused because it would overwrite a file that could not be moved aside."""


class _NewerFormat(Exception):
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def _fits(value: object, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False  # JSON true is not a count
    return isinstance(value, kinds)


@dataclass
class ExerciseState:
    done: bool = False
    code: str | None = None  # None: the learner has not edited it (the starter applies)
    starter: str | None = None  # fingerprint of the starter the code was written against
    failed_runs: int = 0
    hints_shown: int = 0
    solution_seen: bool = False
    updated: float = 0.0

    @classmethod
    def from_json(cls, data: object) -> ExerciseState:
        """Unknown fields are ignored (a newer pttutor of the same format may add some); a known
        field of the wrong type raises ValueError, because the file was damaged or hand-edited."""
        if not isinstance(data, dict):
            raise ValueError(f"an exercise entry is {type(data).__name__}, not an object")
        values: dict[str, Any] = {}
        for name, kinds in _FIELD_TYPES.items():
            if name in data:
                if not _fits(data[name], kinds):
                    raise ValueError(f"{name!r} is {json.dumps(data[name])[:40]}")
                values[name] = data[name]
        return cls(**values)

    @property
    def touched(self) -> bool:
        """The learner did something here: edited, ran, asked for a hint or the solution."""
        return bool(
            self.done
            or self.code is not None
            or self.failed_runs
            or self.hints_shown
            or self.solution_seen
        )


@dataclass(frozen=True)
class Resume:
    """Where the learner was in the exercise `last` names: the editor's cursor and the scroll
    positions of the editor and the lesson text, so a restart reopens exactly there."""

    exercise: str
    cursor: tuple[int, int] = (0, 0)
    editor_scroll: int = 0
    lesson_scroll: int = 0

    @classmethod
    def from_json(cls, data: object) -> Resume | None:
        """None for anything malformed: a lost cursor position is not worth refusing the file."""
        if not isinstance(data, dict) or not isinstance(data.get("exercise"), str):
            return None
        cursor = data.get("cursor", [0, 0])
        editor, lesson = data.get("editor_scroll", 0), data.get("lesson_scroll", 0)
        if not isinstance(cursor, list) or len(cursor) != 2:
            return None
        if not all(_fits(n, _INT) and n >= 0 for n in (*cursor, editor, lesson)):
            return None
        return cls(data["exercise"], (cursor[0], cursor[1]), editor, lesson)

    def to_json(self) -> dict[str, Any]:
        return {
            "exercise": self.exercise,
            "cursor": list(self.cursor),
            "editor_scroll": self.editor_scroll,
            "lesson_scroll": self.lesson_scroll,
        }


DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Progress:
    path: Path
    exercises: dict[str, ExerciseState] = field(default_factory=dict)
    last: str | None = None
    theme: str | None = None  # the learner's Textual theme, if they picked one
    device: str | None = None  # the device the learner last switched to in the app
    resume: Resume | None = None  # where in `last` the learner was
    messages: list[str] = field(default_factory=list)  # what happened while loading
    blocked: str | None = None  # why save() refuses: a bad file could not be moved aside

    @classmethod
    def load(cls, directory: Path) -> Progress:
        """The progress in `directory`; never raises. Problems end up in `messages`."""
        progress = cls(Path(directory) / FILE_NAME)
        try:
            text = progress.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return progress
        except (OSError, ValueError) as exc:  # unreadable, a directory, not UTF-8
            progress._move_aside(f"it could not be read ({exc})")
            return progress
        try:
            progress._parse(text)
        except _NewerFormat as newer:
            progress._clear()
            progress._move_aside(
                f"it was written by a newer pttutor (format {newer.version}, "
                f"this one reads {FORMAT_VERSION})"
            )
        except Exception as exc:  # ValueError, TypeError, RecursionError from json: damaged
            progress._clear()
            progress._move_aside(f"it could not be read ({exc})")
        progress._sweep_temp_files()
        return progress

    def _parse(self, text: str) -> None:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("it is not a JSON object")
        version = data.get("version")
        if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
            raise _NewerFormat(version)
        if version != FORMAT_VERSION or isinstance(version, bool):
            raise ValueError(f"unknown format version {version!r}")
        exercises = data.get("exercises", {})
        if not isinstance(exercises, dict):
            raise ValueError("'exercises' is not an object")
        parsed = {}
        for key, entry in exercises.items():
            try:
                parsed[str(key)] = ExerciseState.from_json(entry)
            except ValueError as exc:
                raise ValueError(f"exercise {key!r}: {exc}") from None
        self.exercises = parsed
        last, theme = data.get("last"), data.get("theme")
        self.last = last if isinstance(last, str) else None
        self.theme = theme if isinstance(theme, str) else None
        device = data.get("device")
        self.device = device if device in DEVICES else None
        self.resume = Resume.from_json(data.get("resume"))

    def _clear(self) -> None:
        self.exercises = {}
        self.last = None
        self.theme = None
        self.device = None
        self.resume = None

    def _free_name(self, label: str = "") -> Path:
        """`progress.json.<stamp>[.label].bak`, numbered if that name is taken."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        tail = f".{label}" if label else ""
        target = self.path.with_name(f"{self.path.name}.{stamp}{tail}.bak")
        n = 1
        while target.exists() or target.is_symlink():
            target = self.path.with_name(f"{self.path.name}.{stamp}-{n}{tail}.bak")
            n += 1
        return target

    def _move_aside(self, why: str) -> None:
        try:
            target = self._free_name()
            self.path.rename(target)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.blocked = f"{self.path} {why} and could not be moved aside ({reason})"
            self.messages.append(
                f"Your progress file {self.path} was not loaded because {why}, and it could not "
                f"be moved aside ({reason}). It is left untouched, and nothing will be saved "
                "until it is moved or fixed; your work this session stays in memory."
            )
            return
        self.messages.append(
            f"Your progress file was moved to {target} because {why}; starting afresh."
        )

    def _sweep_temp_files(self) -> None:
        """Remove temp files that a crash in the middle of a save left behind (old ones only:
        a younger one may belong to another pttutor saving right now)."""
        with contextlib.suppress(OSError):
            now = time.time()
            for tmp in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                with contextlib.suppress(OSError):
                    if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                        tmp.unlink()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"version": FORMAT_VERSION, "last": self.last}
        if self.theme is not None:
            data["theme"] = self.theme
        if self.device is not None:
            data["device"] = self.device
        if self.resume is not None:
            data["resume"] = self.resume.to_json()
        data["exercises"] = {k: asdict(v) for k, v in sorted(self.exercises.items())}
        return data

    def save(self) -> None:
        """Write the whole file atomically; raises OSError (ProgressNotSaved when blocked)."""
        if self.blocked:
            raise ProgressNotSaved(f"not saving over it: {self.blocked}")
        text = json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n"
        write_atomic(self.path, text)

    def backup(self, label: str = "before-reset") -> Path | None:
        """Copy the file on disk to a timestamped name next to it; None if there is no file."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        target = self._free_name(label)
        write_atomic(target, data)
        return target

    def forget(self, keys: Iterable[str]) -> dict[str, ExerciseState]:
        """Drop these exercises' states (in memory) and return them, so a caller can undo."""
        return {key: state for key in list(keys) if (state := self.exercises.pop(key, None))}

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
        """Record the editor's text; True when it changed (the caller then saves).

        Code equal to the starter is stored as None, so a later pack update of the starter
        reaches a learner who never changed it (or reset it)."""
        key = exercise_key(lesson, exercise)
        existing = self.peek(key)
        if code == (existing.code if existing and existing.code is not None else exercise.starter):
            return False
        state = self.state(key)
        if code == exercise.starter:
            state.code, state.starter = None, None
        else:
            state.code, state.starter = code, exercise.starter_fingerprint()
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
        states = [self.peek(exercise_key(lesson, e)) for e in lesson.exercises]
        if all(s is not None and s.done for s in states):
            return "done"
        return "started" if any(s is not None and s.touched for s in states) else "new"

    def first_unfinished(self, pack: LessonPack) -> tuple[Lesson, Exercise] | None:
        for lesson, exercise in pack.exercises():
            if not self.is_done(lesson, exercise):
                return lesson, exercise
        return None

    def counts(self, pack: LessonPack) -> tuple[int, int]:
        pairs = pack.exercises()
        return sum(self.is_done(lesson, ex) for lesson, ex in pairs), len(pairs)
