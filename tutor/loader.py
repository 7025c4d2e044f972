"""Load a lesson pack (a directory of YAML files) into validated `Lesson` objects.

Bad input never raises: every problem becomes a `LoadProblem` that prints as `file:line: what is
wrong`, and the lessons that are fine still load (principle 6).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .schema import PACK_FILE, Exercise, Lesson, PackSettings

LESSON_SUFFIXES = (".yaml", ".yml")
# libyaml's parser when PyYAML was built with it: several times faster on a whole pack.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ORDER_FILE = "ORDER"


@dataclass(frozen=True)
class LoadProblem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class LessonPack:
    """The lessons of one directory, in teaching order, plus what could not be loaded."""

    root: Path
    lessons: list[Lesson] = field(default_factory=list)
    problems: list[LoadProblem] = field(default_factory=list)
    sources: dict[str, Path] = field(default_factory=dict)
    settings: PackSettings = field(default_factory=PackSettings)  # pack.yaml, if there is one

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)

    def exercises(self) -> list[tuple[Lesson, Exercise]]:
        return [(lesson, ex) for lesson in self.lessons for ex in lesson.exercises]

    def resolve(self, ref: str) -> tuple[Lesson, Exercise | None]:
        """Find `LESSON` or `LESSON/EXERCISE`; raise `UnknownId` naming the closest ids."""
        lesson_id, _, exercise_id = ref.strip().partition("/")
        lesson = self.lesson(lesson_id)
        if lesson is None:
            raise UnknownId("lesson", lesson_id, [x.id for x in self.lessons])
        if not exercise_id:
            return lesson, None
        exercise = lesson.exercise(exercise_id)
        if exercise is None:
            raise UnknownId(
                f"exercise in lesson {lesson.id!r}",
                exercise_id,
                [e.id for e in lesson.exercises],
                prefix=f"{lesson.id}/",
            )
        return lesson, exercise


class UnknownId(LookupError):
    """An id the user typed that names nothing; the message suggests the closest ids."""

    def __init__(self, what: str, wanted: str, known: Sequence[str], prefix: str = "") -> None:
        close = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
        if not close:
            close = [k for k in known if k.startswith(wanted[:1])][:3] or list(known[:3])
        hint = ", ".join(prefix + c for c in close)
        super().__init__(
            f"unknown {what}: {wanted!r}" + (f"; did you mean {hint}?" if hint else "")
        )


def load_pack(root: Path) -> LessonPack:
    """Load every lesson file under `root`, ordered by `ORDER` (one id per line) or file name."""
    pack = LessonPack(root=root)
    if not root.is_dir():
        pack.problems.append(LoadProblem(root, 0, "lesson directory not found"))
        return pack
    settings, problems = load_pack_settings(root / PACK_FILE)
    pack.problems.extend(problems)
    pack.settings = settings or PackSettings()
    for path in lesson_files(root):
        lesson, problems = load_lesson_file(path)
        pack.problems.extend(problems)
        if lesson is None:
            continue
        for exercise in lesson.exercises:
            exercise.attach_lib(pack.settings.lib)
        if lesson.id in pack.sources:
            pack.problems.append(
                LoadProblem(
                    path,
                    1,
                    f"lesson id {lesson.id!r} is already used by {pack.sources[lesson.id].name}",
                )
            )
            continue
        pack.sources[lesson.id] = path
        pack.lessons.append(lesson)
    _apply_order(pack)
    return pack


def lesson_files(root: Path) -> list[Path]:
    """The lesson files of a pack directory, by name (`pack.yaml` holds settings, not a lesson)."""
    return sorted(
        p
        for p in root.iterdir()
        if p.suffix in LESSON_SUFFIXES and p.is_file() and p.name != PACK_FILE
    )


def load_pack_settings(path: Path) -> tuple[PackSettings | None, list[LoadProblem]]:
    """`pack.yaml`, validated like a lesson; an absent file means the defaults."""
    if not path.is_file():
        return PackSettings(), []
    data, problems = _read_yaml(path)
    if problems:
        return None, problems
    if data is None:
        return PackSettings(), []
    if not isinstance(data, dict):
        return None, [LoadProblem(path, 1, f"{PACK_FILE} must be a mapping, such as `lib: |`")]
    return _validated(PackSettings, data, path)


def _read_yaml(path: Path) -> tuple[Any, list[LoadProblem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [LoadProblem(path, 0, f"cannot read: {exc}")]
    try:
        return yaml.load(text, Loader=_FAST_LOADER), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [LoadProblem(path, line, f"invalid YAML: {problem}")]


def _validated(model: Any, data: dict[str, Any], path: Path) -> tuple[Any, list[LoadProblem]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        # Only a broken file pays for a second parse, the one that knows line numbers.
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_FAST_LOADER)
        return None, [
            LoadProblem(path, _error_line(node, err), _describe(err)) for err in exc.errors()
        ]


def _apply_order(pack: LessonPack) -> None:
    order_path = pack.root / ORDER_FILE
    if not order_path.is_file():
        return
    wanted: list[str] = []
    for number, raw in enumerate(order_path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if pack.lesson(line) is None:
            pack.problems.append(LoadProblem(order_path, number, f"no lesson has id {line!r}"))
        else:
            wanted.append(line)
    rank = {lesson_id: i for i, lesson_id in enumerate(wanted)}
    pack.lessons.sort(key=lambda lesson: rank.get(lesson.id, len(rank)))


def load_lesson_file(path: Path) -> tuple[Lesson | None, list[LoadProblem]]:
    data, problems = _read_yaml(path)
    if problems:
        return None, problems
    if not isinstance(data, dict):
        return None, [
            LoadProblem(
                path, 1, "a lesson file must be a mapping with id, title, intro and exercises"
            )
        ]
    return _validated(Lesson, data, path)


def _error_line(node: yaml.Node | None, err: Any) -> int:
    line = line_of(node, err["loc"], at_key=err["type"] == "extra_forbidden")
    if err["type"] == "code_syntax":  # point into the code block, not at its first line
        line += int(err["ctx"]["lineno"]) - 1
    return line


def _describe(err: object) -> str:
    assert isinstance(err, dict)
    loc = ".".join(str(part) for part in err["loc"] if not _is_validator_tag(part))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; see docs/lessons.md)"
    return f"{loc}: {message}" if loc else message


def _is_validator_tag(part: object) -> bool:
    # pydantic puts validator names like 'function-after[...]' into some locations.
    return isinstance(part, str) and "[" in part


def line_of(node: yaml.Node | None, loc: Sequence[object], *, at_key: bool = False) -> int:
    """The 1-based line of the YAML node that `loc` (a pydantic error location) points at.

    `at_key`: the line of the last key itself rather than of its value (an unknown field's
    value may be a block that starts lines later)."""
    best = node.start_mark.line + 1 if node is not None else 1
    key_line: int | None = None
    for part in loc:
        if node is None or _is_validator_tag(part):
            continue
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    key_line = best = key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            child = node.value[part]
            key_line = None
        if child is None:
            break
        node = child
        best = _content_line(node)
    return key_line if at_key and key_line is not None else best


def _content_line(node: yaml.Node) -> int:
    # A block scalar (`|`) starts on the indicator line; its content begins one line later.
    if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">"):
        return node.start_mark.line + 2
    return node.start_mark.line + 1
