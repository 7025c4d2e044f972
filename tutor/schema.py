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
    PrivateAttr,
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
PythonName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)]
DottedName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
]
TORCH_DTYPES = (
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
)
"""Dtype names a check's `dtype` may state (with or without the `torch.` prefix)."""
InputDtype = Literal[
    "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"
]
"""Dtypes the tutor can generate inputs in for a function under test (numpy has them all)."""
MAX_TRIALS = 10


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
    message: str | None = Field(
        default=None,
        description="Your own failure message, shown first (the computed difference follows).",
    )
    dtype: str | None = Field(
        default=None,
        description="With `expect`: the dtype the tensor must have, such as int64 or "
        "torch.float32 (checked too).",
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
        if self.dtype is not None:
            if not self.has_expect:
                raise ValueError("`dtype` belongs to a check with `expect`")
            if self.dtype.removeprefix("torch.") not in TORCH_DTYPES:
                known = ", ".join(TORCH_DTYPES)
                raise ValueError(f"`dtype`: {self.dtype!r} is not a dtype name (one of {known})")
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


SizeOrNumber = float | PythonName


class FunctionArg(_Strict):
    """One positional argument of a function under test: a generated tensor, or a size."""

    dtype: InputDtype | None = Field(
        default=None, description="A tensor of this dtype (bool, uint8, int8..int64, float16..64)."
    )
    shape: list[Annotated[int, Field(ge=0)] | PythonName] = Field(
        default_factory=list,
        description="The tensor's shape: numbers, or names from `sizes` (`[n]`, `[2, m]`); "
        "`[]` is a 0-d tensor.",
    )
    low: SizeOrNumber | None = Field(
        default=None,
        description="Smallest value (default -9 for integers, -5.0 for floats); a number or a "
        "name from `sizes`.",
    )
    high: SizeOrNumber | None = Field(
        default=None,
        description="Values stay below this (default 10 for integers, 5.0 for floats); a "
        "number or a name from `sizes`.",
    )
    size: PythonName | None = Field(
        default=None,
        description="Instead of a tensor: pass this name's value from `sizes` as a Python int.",
    )

    @model_validator(mode="after")
    def _tensor_or_size(self) -> FunctionArg:
        if (self.dtype is None) == (self.size is None):
            raise ValueError("an argument needs exactly one of `dtype` (a tensor) or `size`")
        if self.size is not None and (self.shape or self.low is not None or self.high is not None):
            raise ValueError("a `size` argument takes no `shape`, `low` or `high`")
        return self

    def symbols(self) -> set[str]:
        """The names from `sizes` this argument uses."""
        found = {part for part in self.shape if isinstance(part, str)}
        found |= {b for b in (self.low, self.high, self.size) if isinstance(b, str)}
        return found


class FunctionSpec(_Strict):
    """A function the learner writes, called by the tutor on generated inputs."""

    name: PythonName = Field(description="The function the learner's code defines.")
    args: list[FunctionArg] = Field(
        min_length=1, max_length=8, description="One entry per positional argument."
    )
    sizes: dict[PythonName, list[Annotated[int, Field(ge=0, le=4096)]]] = Field(
        default_factory=dict,
        description="Values for each size name used in `args`, small first: inputs are tried "
        "from the smallest sizes up.",
    )
    count: int = Field(default=20, ge=1, le=200, description="How many inputs in all.")

    @model_validator(mode="after")
    def _sizes_known(self) -> FunctionSpec:
        for name, values in self.sizes.items():
            if not values:
                raise ValueError(f"`sizes.{name}` needs at least one value")
        for i, arg in enumerate(self.args):
            unknown = sorted(arg.symbols() - set(self.sizes))
            if unknown:
                raise ValueError(
                    f"args.{i} uses {', '.join(map(repr, unknown))}, which `sizes` does not define"
                )
        return self


class Rules(_Strict):
    """Source rules, judged on the submitted text before anything runs."""

    require: list[DottedName] = Field(
        default_factory=list,
        description="Calls or attributes the code must use, e.g. gather, register_forward_hook, "
        "backward (torch.gather matches by its last part).",
    )
    forbid: list[DottedName] = Field(
        default_factory=list,
        description="Calls, names, attributes or imports the code must not use, e.g. "
        "torch.cumsum (forbids .cumsum anywhere), sum, numpy.",
    )
    no_loops: bool = Field(
        default=False,
        description="No for or while loops, comprehensions, generator expressions, recursion, "
        "map, filter or reduce.",
    )

    @property
    def active(self) -> bool:
        return bool(self.require or self.forbid or self.no_loops)


class Variant(_Strict):
    """Other code for an exercise, run by `pttutor verify`: a shortcut or an alternative."""

    code: str = Field(min_length=1, description="The code, as a learner would type it.")
    why: str = Field(min_length=1, description="What it tries, in a few words.")

    @field_validator("code")
    @classmethod
    def _compiles(cls, code: str) -> str:
        return _compiled(code)


class Predict(_Strict):
    """A predict-first item: the learner reads `snippet` and predicts what `ask` will be.

    The editor holds the prediction (`prediction = 8.0`), read as a literal and never run; the
    truth comes from running `snippet` and evaluating `ask` in the sandbox.
    """

    snippet: str = Field(
        min_length=1,
        description="The code the learner reads (shown under the task); it runs in the "
        "sandbox, after `setup`, to find the truth.",
    )
    ask: str = Field(
        min_length=1,
        description="One expression evaluated after the snippet, such as x.grad, y.shape or "
        "z.dtype: what the learner predicts. If the snippet or the expression raises, the truth "
        "is that exception.",
    )
    explain: str = Field(
        min_length=1,
        description="Markdown shown with the truth once the learner has predicted, right or "
        "wrong: why it is what it is.",
    )

    @field_validator("snippet")
    @classmethod
    def _snippet_compiles(cls, code: str) -> str:
        return _compiled(code)

    @field_validator("ask")
    @classmethod
    def _ask_compiles(cls, expr: str) -> str:
        _expression(expr, "`ask`")
        return expr


class Exercise(_Strict):
    """One task: starter code for the editor, a reference solution, and the checks."""

    id: Identifier = Field(description="Unique within the lesson: LESSON/EXERCISE names it.")
    title: str = Field(min_length=1, description="Shown in the lesson list.")
    task: str = Field(min_length=1, description="Markdown shown above the editor.")
    setup: str = Field(default="", description="Hidden code run before the learner's code.")
    starter: str = Field(description="What the editor starts with: runs, but is wrong.")
    solution: str = Field(min_length=1, description="The reference solution.")
    checks: list[Check] = Field(
        default_factory=list,
        description="What is verified, in order (at least one check, or a `function`).",
    )
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
    trials: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TRIALS,
        description="How many times the code and the solution run: the visible setup, then "
        "setups with seeds drawn per run (setup sees `trial`, 0 for the visible one). Default: "
        "3 when a check compares an `expr` with the solution and there is no `function`, else 1.",
    )
    function: FunctionSpec | None = Field(
        default=None,
        description="A function the learner writes, called on generated inputs and compared "
        "with the solution's, input by input.",
    )
    rules: Rules | None = Field(
        default=None, description="Source rules: calls the code must use or must not use, loops."
    )
    shortcuts: list[Variant] = Field(
        default_factory=list,
        description="Code that must NOT pass (a hard-coded answer, skipping the taught "
        "mechanism); `pttutor verify` runs each one.",
    )
    alternatives: list[Variant] = Field(
        default_factory=list,
        description="Correct code written differently, which must pass; `pttutor verify` runs "
        "each one.",
    )
    predict: Predict | None = Field(
        default=None,
        description="A predict-first item instead of code to write: the editor holds a "
        'prediction (`prediction = 8.0`, `(2, 3)`, `"torch.float32"`, `raises("RuntimeError")`), '
        "compared with what `ask` is after `snippet` runs. `starter` is a placeholder "
        "(`prediction = ...`), `solution` the right prediction, `shortcuts` wrong ones.",
    )
    _pack_lib: str = PrivateAttr(default="")

    @model_validator(mode="after")
    def _something_to_check(self) -> Exercise:
        if self.predict is not None:
            extra = [
                name
                for name, present in (
                    ("checks", bool(self.checks)),
                    ("function", self.function is not None),
                    ("rules", self.rules is not None),
                )
                if present
            ]
            if extra:
                raise ValueError(
                    f"a `predict` item is judged on the prediction alone: remove "
                    f"{', '.join(f'`{name}`' for name in extra)}"
                )
            if self.trials not in (None, 1):
                raise ValueError("a `predict` item runs its fixed snippet once: `trials` must be 1")
            return self
        if not self.checks and self.function is None:
            raise ValueError(
                "an exercise needs at least one check under `checks` (or a `function` or `predict`)"
            )
        return self

    @property
    def task_text(self) -> str:
        """The task as the learner sees it: a predict-first item shows its snippet and asks."""
        if self.predict is None:
            return self.task
        snippet = self.predict.snippet.rstrip("\n")
        fence = "```"
        while fence in snippet:
            fence += "`"
        return (
            f"{self.task.rstrip()}\n\n**Predict:** what is `{self.predict.ask}` after this "
            "code runs? Write `prediction = ...` in the editor and run: only this code runs "
            "(your prediction is read, never run), and you see both side by side.\n\n"
            f"{fence}python\n{snippet}\n{fence}"
        )

    @property
    def pack_lib(self) -> str:
        """The pack's shared helpers (`lib` in pack.yaml), run before setup and for checks."""
        return self._pack_lib

    def attach_lib(self, lib: str) -> None:
        """Called by the loader: the pack's `lib` is part of every exercise of the pack."""
        self._pack_lib = lib

    @property
    def trial_count(self) -> int:
        """`trials`, or the default: 3 when a check compares with the solution, else 1."""
        if self.trials is not None:
            return self.trials
        compares = any(c.expr is not None and not c.has_expect for c in self.checks)
        return 3 if compares and self.function is None else 1

    @property
    def reference_is_reusable(self) -> bool:
        """One run of the solution serves every check: no seeds or inputs drawn per run."""
        return self.trial_count == 1 and self.function is None

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
        return _compiled(code)

    def fingerprint(self) -> str:
        """A hash of everything that decides the reference result: cache keys use it."""
        payload = json.dumps(
            {
                "setup": self.setup,
                "solution": self.solution,
                "checks": [c.expr for c in self.checks],
                "seed": self.seed,
                "lib": self._pack_lib,
                "trials": self.trial_count,
                "function": self.function.model_dump() if self.function else None,
                # only where present, so other exercises keep their fingerprints
                **({"predict": self.predict.model_dump()} if self.predict else {}),
            },
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def starter_fingerprint(self) -> str:
        return hashlib.sha256(self.starter.encode()).hexdigest()[:16]


def _compiled(code: str) -> str:
    try:
        compile(code, "<lesson code>", "exec")
    except SyntaxError as exc:
        raise PydanticCustomError(
            "code_syntax",
            "Python syntax error on line {lineno} of this code: {msg}",
            {"lineno": exc.lineno or 1, "msg": exc.msg},
        ) from None
    return code


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


PACK_FILE = "pack.yaml"


class PackSettings(_Strict):
    """`pack.yaml` in a lesson directory: what every lesson of the pack shares."""

    lib: str = Field(
        default="",
        description="Python helpers shared by every exercise: run before each setup, and again, "
        "out of the learner's reach, for the checks.",
    )

    @field_validator("lib")
    @classmethod
    def _lib_compiles(cls, code: str) -> str:
        return _compiled(code)


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def lesson_json_schema() -> dict[str, Any]:
    """The lesson format as JSON Schema, for editors (`pttutor schema`); generated, never edited."""
    schema = Lesson.model_json_schema()
    schema["title"] = "pttutor lesson"
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def pack_json_schema() -> dict[str, Any]:
    """The format of `pack.yaml` as JSON Schema (`pttutor schema --pack`)."""
    schema = PackSettings.model_json_schema()
    schema["title"] = "pttutor lesson pack settings"
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}
