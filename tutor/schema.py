"""The lesson format: pydantic models that YAML lesson files are validated against.

Lessons are data (principle 6): everything an exercise needs lives in its YAML. These models are
the single source of truth for the format; `docs/lessons.md` documents them.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64),
]
"""Lesson and exercise ids: what users type after `--lesson`, lower-case, digits, `-` and `_`."""

Requirement = Literal["cuda"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    """One thing the tutor verifies after the learner's code ran.

    Exactly one of `expr`, `raises` or `stdout` says what is checked:

    * `expr`: a Python expression evaluated in the learner's namespace after their code ran,
      compared with the same expression after the reference solution ran (or with `expect`).
    * `raises`: the learner's code must raise this exception type (a class name such as
      `RuntimeError`; subclasses count), with a message matching the regex `match`.
    * `stdout`: text the printed output must contain (a regex when `regex: true`).
    """

    model_config = ConfigDict(
        # Editors validating YAML against `pttutor schema` learn "exactly one kind" too.
        json_schema_extra={
            "oneOf": [{"required": ["expr"]}, {"required": ["raises"]}, {"required": ["stdout"]}]
        }
    )

    expr: str | None = Field(
        default=None,
        description="A Python expression evaluated after the code ran, compared with the same "
        "expression after the reference solution ran (or with `expect`).",
    )
    expect: Any = Field(
        default=None,
        description="A literal to compare `expr` with instead of the reference value: a number "
        "or nested list for a tensor, a list for a torch.Size, a dtype or device name, null.",
    )
    raises: str | None = Field(
        default=None,
        description="The exception class the code must raise, such as RuntimeError "
        "(subclasses count).",
    )
    match: str | None = Field(
        default=None, description="A regex the `raises` exception's message must contain."
    )
    stdout: str | None = Field(
        default=None, description="Text the printed output must contain (a regex with `regex`)."
    )
    regex: bool = Field(default=False, description="Treat `stdout` as a regular expression.")
    name: str | None = Field(default=None, description="Label shown to the learner.")
    rtol: float | None = Field(
        default=None, ge=0, description="Relative tolerance (default: torch's per dtype)."
    )
    atol: float | None = Field(
        default=None, ge=0, description="Absolute tolerance (default: torch's per dtype)."
    )
    exact: bool = Field(default=False, description="Values must be equal bit for bit.")
    requires: Requirement | None = Field(
        default=None, description="`cuda`: skipped, with a note, where there is no GPU."
    )
    explain: str | None = Field(
        default=None, description="What to look at when this check fails, shown to the learner."
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        kinds = [k for k in ("expr", "raises", "stdout") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "a check needs exactly one of `expr`, `raises` or `stdout`"
                + (f" (got {', '.join(kinds)})" if kinds else "")
            )
        if self.has_expect and self.expr is None:
            raise ValueError("`expect` belongs to an `expr` check")
        if self.match is not None and self.raises is None:
            raise ValueError("`match` belongs to a `raises` check")
        for pattern in (self.match, self.stdout if self.regex else None):
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        if self.expr is not None:
            try:
                compile(self.expr, "<check>", "eval")
            except SyntaxError as exc:
                raise ValueError(f"`expr` is not a Python expression: {exc.msg}") from None
        return self

    @property
    def kind(self) -> Literal["expr", "raises", "stdout"]:
        if self.expr is not None:
            return "expr"
        return "raises" if self.raises is not None else "stdout"

    @property
    def has_expect(self) -> bool:
        """True when the YAML gave `expect`, even `expect: null` (the value must be None)."""
        return "expect" in self.model_fields_set

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        if self.expr is not None:
            return self.expr
        if self.raises is not None:
            return f"raises {self.raises}"
        return f"prints {self.stdout!r}"


class Exercise(_Strict):
    """One task: starter code for the editor, a reference solution, and the checks."""

    id: Identifier = Field(description="Unique within the lesson: LESSON/EXERCISE names it.")
    title: str = Field(min_length=1, description="Shown in the lesson list.")
    task: str = Field(min_length=1, description="Markdown shown above the editor.")
    setup: str = Field(default="", description="Hidden code run before the learner's code.")
    starter: str = Field(description="What the editor starts with: runs, but is wrong.")
    solution: str = Field(min_length=1, description="The reference solution.")
    checks: list[Check] = Field(min_length=1, description="What is verified, in order.")
    hints: list[str] = Field(
        default_factory=list, description="Markdown hints, revealed one at a time."
    )
    requires: Requirement | None = Field(
        default=None, description="`cuda`: the exercise is skipped, with a note, without a GPU."
    )
    timeout: float = Field(default=10.0, gt=0, le=600, description="Seconds the code may run.")
    seed: int = Field(default=0, description="Seed for random, numpy and torch.")
    inspect: list[str] = Field(
        default_factory=list,
        description="Expressions naming the nn.Modules the structure view shows (default: every "
        "module the code left in its namespace).",
    )
    sample_input: str | None = Field(
        default=None,
        description="An expression for an input to run the models on, so the structure view "
        "shows each module's output shape (a tuple is passed as several arguments).",
    )
    graph: str | None = Field(
        default=None,
        description="An expression for the tensor whose autograd graph the graph view shows "
        "(default: `loss` or `out`, else the last scalar with a grad_fn).",
    )

    @field_validator("inspect")
    @classmethod
    def _inspect_compiles(cls, names: list[str]) -> list[str]:
        for name in names:
            _expression(name, "`inspect`")
        return names

    @field_validator("sample_input", "graph")
    @classmethod
    def _expression_compiles(cls, expr: str | None) -> str | None:
        if expr is not None:
            _expression(expr, "this field")
        return expr

    @field_validator("setup", "solution")
    @classmethod
    def _code_compiles(cls, code: str) -> str:
        # The starter may be broken on purpose; setup and solution never are.
        try:
            compile(code, "<lesson code>", "exec")
        except SyntaxError as exc:
            raise PydanticCustomError(
                "code_syntax",
                "Python syntax error on line {lineno} of this code: {msg}",
                {"lineno": exc.lineno or 1, "msg": exc.msg},
            ) from None
        return code

    def fingerprint(self) -> str:
        """A hash of everything that decides the reference result: cache keys use it."""
        payload = json.dumps(
            {
                "setup": self.setup,
                "solution": self.solution,
                "checks": [c.expr for c in self.checks],
                "seed": self.seed,
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def starter_fingerprint(self) -> str:
        return hashlib.sha256(self.starter.encode()).hexdigest()[:16]


def _expression(expr: str, what: str) -> None:
    try:
        compile(expr, "<lesson>", "eval")
    except SyntaxError as exc:
        raise ValueError(f"{what}: {expr!r} is not a Python expression: {exc.msg}") from None


class Lesson(_Strict):
    """A pttutor lesson: one YAML file of a lesson pack (see docs/authoring.md)."""

    id: Identifier = Field(
        description="What users type (pttutor --lesson ID): lower-case letters, digits, - and _."
    )
    title: str = Field(min_length=1, description="Shown in the lesson list.")
    intro: str = Field(min_length=1, description="Markdown that teaches the idea.")
    exercises: list[Exercise] = Field(min_length=1, description="The exercises, in order.")

    @model_validator(mode="after")
    def _unique_exercise_ids(self) -> Lesson:
        seen: set[str] = set()
        for exercise in self.exercises:
            if exercise.id in seen:
                raise ValueError(f"exercise id {exercise.id!r} is used twice")
            seen.add(exercise.id)
        return self

    def exercise(self, exercise_id: str) -> Exercise | None:
        return next((e for e in self.exercises if e.id == exercise_id), None)


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def lesson_json_schema() -> dict[str, Any]:
    """The lesson format as JSON Schema, for editors (`pttutor schema`); generated, never edited."""
    schema = Lesson.model_json_schema()
    schema["title"] = "pttutor lesson"
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
