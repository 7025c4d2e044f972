"""The error explainer: match a learner's exception against a catalogue of common PyTorch errors.

The catalogue is data (`tutor/errors.yaml`, shipped inside the package): each entry names an
exception type, a regular expression for its message, a short explanation and the lesson that
teaches the fix (or none, where the curriculum does not teach it). Domain code: no torch, no
Textual. `explain_error` is what the checker, the plain-text report and the UI call; the first
matching entry wins.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .sandbox.runner import ExceptionInfo

CATALOGUE_PATH = Path(__file__).with_name("errors.yaml")
MATCH_FLAGS = re.DOTALL  # torch messages span lines (state_dict errors list one key per line)

_SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
_LESSON_REF = r"^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)?$"


class CatalogueError(ValueError):
    """The catalogue file is missing or invalid: a bug in pttutor, not in the learner's code."""


class Entry(BaseModel):
    """One catalogue entry, as written in errors.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_SLUG)
    type: str = Field(pattern=r"^[A-Za-z_][\w.]*$")  # class name; subclasses match via the MRO
    match: str = Field(min_length=1)  # searched in the message with MATCH_FLAGS
    explain: str = Field(min_length=1)
    # "LESSON" or "LESSON/EXERCISE"; null (written out, never left off) where no lesson teaches it
    lesson: str | None = Field(pattern=_LESSON_REF)
    reproduce: str | None = Field(default=None, min_length=1)  # a snippet that raises this error
    needs: Literal["cuda", "no-cuda", "cpu-build"] | None = None  # where the snippet can raise
    # Exact messages from reports, for errors no test machine can raise (a missing driver, a GPU
    # the build does not support): each must match `match`, and the tests check that no earlier
    # entry takes them.
    known: tuple[str, ...] = ()

    @field_validator("match")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value, MATCH_FLAGS)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
        return value

    @field_validator("explain")
    @classmethod
    def _one_paragraph(cls, value: str) -> str:
        return " ".join(value.split())

    @model_validator(mode="after")
    def _evidence(self) -> Entry:
        if self.reproduce is None and not self.known:
            raise ValueError("needs a `reproduce` snippet or at least one `known` message")
        if self.needs is not None and self.reproduce is None:
            raise ValueError("`needs` says where the `reproduce` snippet raises: add the snippet")
        for text in self.known:
            if _compile(self.match).search(text) is None:
                raise ValueError(f"known message does not match `match`: {text[:80]!r}")
        return self

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.match)

    def matches(self, error: ExceptionInfo) -> bool:
        return error.is_a(self.type) and self.pattern.search(error.message) is not None


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: tuple[Entry, ...]

    @model_validator(mode="after")
    def _unique_ids(self) -> Catalogue:
        seen: set[str] = set()
        for entry in self.entries:
            if entry.id in seen:
                raise ValueError(f"duplicate entry id {entry.id!r}")
            seen.add(entry.id)
        return self

    def entry(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def find(self, error: ExceptionInfo) -> Entry | None:
        """The first entry that matches `error`'s type (or a base class) and message."""
        return next((e for e in self.entries if e.matches(error)), None)


@dataclass(frozen=True)
class Explanation:
    """What the learner sees under their traceback: why it happened and where to learn the fix."""

    id: str
    text: str
    lesson: str | None  # "LESSON" or "LESSON/EXERCISE", as `pttutor --lesson` takes it; None
    # where the curriculum does not teach the fix

    def pointer(self) -> str | None:
        if self.lesson is None:
            return None
        return f"see lesson `{self.lesson}` (pttutor --lesson {self.lesson})"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "lesson": self.lesson}


@functools.cache
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, MATCH_FLAGS)


def parse_catalogue(text: str, source: str = "<catalogue>") -> Catalogue:
    """Validate catalogue YAML; raises CatalogueError naming the source and what is wrong."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return Catalogue.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors()
        )
        raise CatalogueError(f"{source}: {problems}") from exc


@functools.lru_cache(maxsize=4)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """The catalogue at `path` (the shipped one by default), read and validated once."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read the error catalogue {path}: {exc}") from exc
    return parse_catalogue(text, str(path))


def explain_error(error: ExceptionInfo, catalogue: Catalogue | None = None) -> Explanation | None:
    """The explanation for the learner's exception, or None when no entry matches."""
    entry = (catalogue or load_catalogue()).find(error)
    if entry is None:
        return None
    return Explanation(id=entry.id, text=entry.explain, lesson=entry.lesson)
