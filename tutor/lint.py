"""`pttutor lint`: find mistakes in a lesson pack before a learner (or `verify`) runs into them.

The loader already rejects what the schema forbids; lint adds what a schema cannot see, without
running any code (so it is instant and needs no torch): a check that names a variable the
solution never defines, a starter that already is the solution, an exception name with a typo,
a Markdown code fence left open (which swallows the rest of the text), an exercise with no hint.
Every problem prints as `file:line: message`, like the loader's; warnings say `warning:`.
"""

from __future__ import annotations

import ast
import builtins
import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

from .loader import ORDER_FILE, lesson_files, line_of, load_pack
from .parsing import parse_expression, parse_module
from .predict import Unreadable, read_prediction
from .rules import harness_reach, judge_rules, names_defined_as_functions, self_raised
from .schema import Check, Exercise, Lesson

# What the sandbox puts in every namespace besides builtins (see tutor/sandbox/child/_ptt_job.py).
INJECTED = frozenset({"device", "__name__", "__builtins__", "given"})  # given: checks only
BUILTIN_NAMES = frozenset(dir(builtins))
BUILTIN_EXCEPTIONS = frozenset(
    name
    for name in dir(builtins)
    if isinstance(getattr(builtins, name), type)
    and issubclass(getattr(builtins, name), BaseException)
)
# Exceptions PyTorch code raises that are not built-ins (a check matches on the class name).
OTHER_EXCEPTIONS = frozenset(
    {
        "OutOfMemoryError",  # torch.OutOfMemoryError, torch.cuda.OutOfMemoryError
        "AcceleratorError",  # torch.AcceleratorError (torch >= 2.8)
        "DeferredCudaCallError",
        "LinAlgError",  # torch.linalg.LinAlgError
        "UnpicklingError",  # torch.load(weights_only=True) refusing a pickle
        "PicklingError",
        "JSONDecodeError",
    }
)
KNOWN_EXCEPTIONS = BUILTIN_EXCEPTIONS | OTHER_EXCEPTIONS
# Textual renders Markdown with markdown-it; an unclosed fence parses the same in every preset.
_MARKDOWN = MarkdownIt("commonmark").enable("table")
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # only for line numbers


@dataclass(frozen=True)
class LintProblem:
    path: Path
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


def lint_pack(root: Path) -> list[LintProblem]:
    """Every problem in the pack under `root`: the loader's, then the semantic ones, by file."""
    pack = load_pack(root)
    problems = [LintProblem(p.path, p.line, p.message) for p in pack.problems]
    if root.is_dir() and not lesson_files(root):
        problems.append(LintProblem(root, 0, "no lesson files (*.yaml or *.yml) here"))
    problems += _lint_order(root / ORDER_FILE)
    for lesson in pack.lessons:
        path = pack.sources[lesson.id]
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        problems += lint_lesson(lesson, _Locator(path, node))
    return sorted(problems, key=lambda p: (str(p.path), p.line))


class _Locator:
    """Turns a location inside a lesson (`exercises.0.task`) into a problem at its YAML line."""

    def __init__(self, path: Path, node: yaml.Node | None) -> None:
        self.path = path
        self.node = node

    def problem(
        self, loc: Sequence[object], message: str, *, warning: bool = False, offset: int = 0
    ) -> LintProblem:
        """`offset` counts lines into a `|` block (a fence inside a long `task`, say)."""
        line = line_of(self.node, loc)
        if offset and _is_literal_block(self.node, loc):
            line += offset
        where = ".".join(str(part) for part in loc)
        return LintProblem(self.path, line, f"{where}: {message}" if where else message, warning)


def _is_literal_block(node: yaml.Node | None, loc: Sequence[object]) -> bool:
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if 0 <= part < len(node.value) else None
        else:
            return False
    return isinstance(node, yaml.ScalarNode) and node.style == "|"


def lint_lesson(lesson: Lesson, at: _Locator) -> list[LintProblem]:
    problems = list(_lint_markdown(at, ("intro",), lesson.intro))
    for i, exercise in enumerate(lesson.exercises):
        problems += _lint_exercise(exercise, at, ("exercises", i))
    return problems


def _lint_exercise(exercise: Exercise, at: _Locator, loc: tuple[object, ...]) -> list[LintProblem]:
    problems: list[LintProblem] = []
    if not exercise.solution.strip():
        problems.append(at.problem((*loc, "solution"), "the solution is empty"))
    elif _same_code(exercise.starter, exercise.solution):
        problems.append(
            at.problem(
                (*loc, "starter"),
                "the starter is the solution: it passes before the learner starts",
            )
        )
    if not exercise.hints:
        problems.append(at.problem(loc, "no hints: add at least one under `hints:`", warning=True))
    problems += _lint_markdown(at, (*loc, "task"), exercise.task)
    for k, hint in enumerate(exercise.hints):
        problems += _lint_markdown(at, (*loc, "hints", k), hint)
    defined = defined_names(exercise.pack_lib, exercise.setup, exercise.solution)
    for j, check in enumerate(exercise.checks):
        problems += _lint_check(check, at, (*loc, "checks", j), defined)
    problems += _lint_code_rules(exercise, at, loc)
    if exercise.predict is not None:
        problems += _lint_predict(exercise, at, loc)
    return problems


def _lint_predict(exercise: Exercise, at: _Locator, loc: tuple[object, ...]) -> list[LintProblem]:
    """A predict-first item: the question must name what the snippet defines, and the solution,
    shortcuts and alternatives must be predictions the tutor can read (a shortcut that cannot be
    read fails without testing anything)."""
    spec = exercise.predict
    assert spec is not None
    problems: list[LintProblem] = []
    where = (*loc, "predict")
    defined = defined_names(exercise.pack_lib, exercise.setup, spec.snippet)
    if defined is not None:
        unknown = sorted(free_names(spec.ask) - defined - BUILTIN_NAMES - INJECTED)
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            problems.append(
                at.problem(
                    (*where, "ask"),
                    f"{names} {'is' if len(unknown) == 1 else 'are'} not defined by the setup or "
                    "the snippet, so the truth would be a NameError",
                )
            )
    for finding in harness_reach(spec.snippet)[:1]:
        problems.append(
            at.problem(
                (*where, "snippet"),
                f"{finding} reaches into the tutor's own machinery: it would be blocked",
            )
        )
    problems += _lint_markdown(at, (*where, "explain"), spec.explain)
    readable: list[tuple[tuple[object, ...], str, str]] = [
        (("solution",), exercise.solution, "the solution"),
        *(
            (("shortcuts", i, "code"), v.code, "this shortcut")
            for i, v in enumerate(exercise.shortcuts)
        ),
        *(
            (("alternatives", i, "code"), v.code, "this alternative")
            for i, v in enumerate(exercise.alternatives)
        ),
    ]
    for place, code, what in readable:
        reading = read_prediction(code)
        if isinstance(reading, Unreadable):
            problems.append(
                at.problem((*loc, *place), f"{what} is not a prediction: {reading.message}")
            )
    if not exercise.shortcuts:
        problems.append(
            at.problem(
                loc,
                "no shortcuts: add a plausible wrong prediction (a wrong mental model) under "
                "`shortcuts:`, which verify proves fails",
                warning=True,
            )
        )
    return problems


def _lint_code_rules(
    exercise: Exercise, at: _Locator, loc: tuple[object, ...]
) -> list[LintProblem]:
    """What the static rules would say about the lesson's own code: the solution and every
    alternative must pass them, nothing may trip the harness guard."""
    problems: list[LintProblem] = []
    passing: list[tuple[tuple[object, ...], str]] = [
        (("solution",), exercise.solution),
        *((("alternatives", i, "code"), v.code) for i, v in enumerate(exercise.alternatives)),
    ]
    for where, code in passing:
        for outcome in judge_rules(code, exercise.rules):
            if not outcome.passed:
                problems.append(
                    at.problem(
                        (*loc, *where),
                        f"breaks its own rule {outcome.label!r}: {outcome.message}",
                    )
                )
        for check in exercise.checks:
            if check.raises is not None:
                for finding in self_raised(code, check.raises)[:1]:
                    problems.append(
                        at.problem(
                            (*loc, *where),
                            f"{finding}: a `raises` check does not count an exception the code "
                            "raises itself, so this can never pass",
                        )
                    )
        if exercise.function is not None and exercise.function.name not in (
            names_defined_as_functions(code)
        ):
            problems.append(
                at.problem(
                    (*loc, *where),
                    f"does not define the function under test, {exercise.function.name}()",
                )
            )
    guarded = [
        *passing,
        (("starter",), exercise.starter),
        *((("shortcuts", i, "code"), v.code) for i, v in enumerate(exercise.shortcuts)),
    ]
    for where, code in guarded:
        for finding in harness_reach(code)[:1]:
            problems.append(
                at.problem(
                    (*loc, *where),
                    f"{finding} reaches into the tutor's own machinery: it would be blocked, "
                    "never run",
                )
            )
    for i, shortcut in enumerate(exercise.shortcuts):
        if _same_code(shortcut.code, exercise.solution):
            problems.append(
                at.problem(
                    (*loc, "shortcuts", i, "code"),
                    "this shortcut is the solution: it can only pass",
                )
            )
    for i, alternative in enumerate(exercise.alternatives):
        if _same_code(alternative.code, exercise.solution):
            problems.append(
                at.problem(
                    (*loc, "alternatives", i, "code"),
                    "this alternative is the solution itself: it proves nothing",
                    warning=True,
                )
            )
    return problems


def _lint_check(
    check: Check, at: _Locator, loc: tuple[object, ...], defined: set[str] | None
) -> list[LintProblem]:
    problems: list[LintProblem] = []
    if check.expr is not None and defined is not None:
        unknown = sorted(free_names(check.expr) - defined - BUILTIN_NAMES - INJECTED)
        if unknown:
            names = ", ".join(repr(n) for n in unknown)
            problems.append(
                at.problem(
                    (*loc, "expr"),
                    f"{names} {'is' if len(unknown) == 1 else 'are'} not defined by the setup or "
                    "the solution, so the reference has no value to compare with",
                )
            )
    if check.raises is not None:
        problems += _lint_raises(check.raises, at, (*loc, "raises"))
    for option in ("rtol", "atol", "exact"):
        if option in check.model_fields_set and check.expr is None:
            problems.append(
                at.problem((*loc, option), "only an `expr` check uses this", warning=True)
            )
    if "regex" in check.model_fields_set and check.stdout is None:
        problems.append(
            at.problem((*loc, "regex"), "only a `stdout` check uses this", warning=True)
        )
    if check.explain:
        problems += _lint_markdown(at, (*loc, "explain"), check.explain)
    return problems


def _lint_raises(name: str, at: _Locator, loc: tuple[object, ...]) -> list[LintProblem]:
    if not all(part.isidentifier() for part in name.split(".")):
        return [at.problem(loc, f"{name!r} is not an exception class name")]
    short = name.rsplit(".", 1)[-1]
    if short in KNOWN_EXCEPTIONS:
        return []
    close = difflib.get_close_matches(short, sorted(KNOWN_EXCEPTIONS), n=1)
    return [
        at.problem(
            loc,
            f"{name!r} is not a built-in or known PyTorch exception"
            + (f"; did you mean {close[0]}?" if close else ""),
            warning=True,
        )
    ]


def _lint_markdown(at: _Locator, loc: tuple[object, ...], text: str) -> Iterator[LintProblem]:
    try:
        tokens = _MARKDOWN.parse(text)
    except Exception as exc:  # markdown-it is lenient; a crash is still worth a line
        yield at.problem(loc, f"Markdown does not parse: {exc}")
        return
    lines = text.splitlines()
    for token in tokens:
        if token.type != "fence" or not token.map:
            continue
        start, end = token.map
        last = lines[end - 1].lstrip(" \t>") if start < end - 1 < len(lines) else ""
        closed = len(last.rstrip()) >= len(token.markup) and set(last.rstrip()) == {token.markup[0]}
        if not closed:
            yield at.problem(
                loc,
                f"the code block opened with {token.markup} is never closed "
                "(the rest of the text would render as code)",
                offset=start,
            )


def _lint_order(order: Path) -> list[LintProblem]:
    if not order.is_file():
        return []
    seen: dict[str, int] = {}
    problems = []
    for number, raw in enumerate(order.read_text(encoding="utf-8").splitlines(), 1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        if entry in seen:
            problems.append(
                LintProblem(
                    order, number, f"{entry!r} is listed twice (first on line {seen[entry]})", True
                )
            )
        seen.setdefault(entry, number)
    return problems


def _same_code(a: str, b: str) -> bool:
    """Equal as Python (comments and layout aside), or as text where one does not parse."""
    try:
        return ast.dump(parse_module(a)) == ast.dump(parse_module(b))
    except SyntaxError:
        return a.strip() == b.strip()


def defined_names(*sources: str) -> set[str] | None:
    """Every name the code binds anywhere (assignment, import, def, for, with, except, ...).

    Generous on purpose (a name bound inside a function counts): lint must not cry wolf.
    None when a `from x import *` makes the answer unknowable.
    """
    names: set[str] = set()
    for source in sources:
        try:
            tree = parse_module(source)
        except SyntaxError:
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                for alias in node.names:
                    if alias.name == "*":
                        return None
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.MatchMapping) and node.rest:
                names.add(node.rest)
    return names


def free_names(expr: str) -> set[str]:
    """Names an expression reads from its namespace (not those its own lambdas bind)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(parse_expression(expr)):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return loaded - bound
