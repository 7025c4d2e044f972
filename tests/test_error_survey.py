"""The error survey: the PyTorch messages learners ask about most, and how many are explained.

tests/data/error_survey.yaml lists them with their sources (docs/errors-survey.md tells how they
were chosen). Every `cpu` message is raised through the real sandbox (one warm pool for the
module) and must still read as surveyed, so the list cannot drift from what torch says; the
coverage figure is computed from what the explainer makes of those raised exceptions, and the
CUDA-only and other-setup messages are matched against their reported texts.
"""

from __future__ import annotations

import builtins
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from tutor.explain import explain_error, load_catalogue
from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import ExceptionInfo, Outcome, RunRequest

SURVEY_PATH = Path(__file__).with_name("data") / "error_survey.yaml"
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "errors-survey.md"
MIN_COVERAGE = 0.90  # of the messages a CPU can raise, the share the explainer must explain


class Message(BaseModel):
    """One surveyed message, as written in error_survey.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9]+([.-][a-z0-9]+)*$")
    type: str = Field(pattern=r"^[A-Za-z_]\w*$")
    bases: tuple[str, ...] = ()
    text: str = Field(min_length=1)
    text_is_prefix: bool = False
    public_text: str | None = None
    where: Literal["cpu", "cuda", "other"]
    source: str = Field(pattern=r"^https://\S+$")
    note: str | None = None
    snippet: str | None = None
    entry: str | None

    def exception(self) -> ExceptionInfo:
        """The reported exception, for messages no machine here can raise."""
        bases = self.bases or tuple(c.__name__ for c in getattr(builtins, self.type).__mro__)
        return ExceptionInfo(type=self.type, module="", bases=bases, message=self.text)


@functools.cache
def survey() -> tuple[Message, ...]:
    data = yaml.safe_load(SURVEY_PATH.read_text(encoding="utf-8"))
    return tuple(Message.model_validate(m) for m in data["messages"])


def on_cpu() -> list[Message]:
    return [m for m in survey() if m.where == "cpu"]


def masked(text: str) -> str:
    """Numbers and addresses masked: process ids, object addresses and sizes vary by machine."""
    return re.sub(r"0x[0-9a-fA-F]+|\d+", "N", text)


@pytest.fixture(scope="module")
def raised() -> Iterator[dict[str, ExceptionInfo | str]]:
    """What each `cpu` snippet raises in the sandbox: the exception, or why there is none."""
    runner = WarmRunner()
    found: dict[str, ExceptionInfo | str] = {}
    try:
        for message in on_cpu():
            assert message.snippet is not None
            result = runner.run(RunRequest(code=message.snippet, device="cpu", timeout=30))
            if result.outcome is not Outcome.COMPLETED:
                found[message.id] = f"{result.outcome.value}: {result.detail}"
            else:
                found[message.id] = result.exception or "the snippet raised nothing"
        yield found
    finally:
        runner.close()


def _exception(raised: dict[str, ExceptionInfo | str], message: Message) -> ExceptionInfo:
    got = raised[message.id]
    assert isinstance(got, ExceptionInfo), f"{message.id}: {got}"
    return got


def _ids(messages: list[Message]) -> list[Any]:
    return [pytest.param(m, id=m.id) for m in messages]


# -- the list itself ------------------------------------------------------------------------------


def test_the_survey_is_a_well_formed_list_of_about_a_hundred_messages():
    messages = survey()
    assert len(messages) >= 100
    ids = [m.id for m in messages]
    assert len(ids) == len(set(ids))
    catalogue = load_catalogue()
    for m in messages:
        assert (m.snippet is not None) == (m.where == "cpu"), m.id
        assert m.entry is None or catalogue.entry(m.entry) is not None, m.id
        if m.bases:
            assert m.bases[0] == m.type and m.bases[-1] == "object", m.id
        elif m.where != "cpu":  # a raised CPU message brings its own classes
            assert isinstance(getattr(builtins, m.type, None), type), f"{m.id}: give its bases"
    assert len(on_cpu()) >= 70


def test_the_doc_lists_every_surveyed_message_and_no_other():
    doc = DOC_PATH.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([a-z0-9.-]+)` \|", doc, flags=re.M))
    assert listed == {m.id for m in survey()}


# -- every CPU message, raised for real -----------------------------------------------------------


@pytest.mark.parametrize("message", _ids(on_cpu()))
def test_each_cpu_message_is_raised_as_surveyed(raised, message: Message):
    got = _exception(raised, message)
    assert got.type == message.type
    text, expected = masked(got.message), masked(message.text)
    if message.text_is_prefix:
        assert text.startswith(expected), got.message[: len(message.text) + 40]
    else:
        assert text == expected
    assert got.frames, "the sandbox reports the learner's own lines"


@pytest.mark.parametrize("message", _ids(list(survey())))
def test_each_message_finds_its_entry(raised, message: Message):
    got = _exception(raised, message) if message.where == "cpu" else message.exception()
    explained = explain_error(got)
    assert (explained.id if explained else None) == message.entry, (
        f"{got.headline()[:100]!r} is explained by {explained and explained.id!r}, "
        f"not {message.entry!r}"
    )


# -- the coverage figure --------------------------------------------------------------------------


def _coverage(raised: dict[str, ExceptionInfo | str]) -> tuple[int, int]:
    messages = on_cpu()
    explained = [m for m in messages if explain_error(_exception(raised, m)) is not None]
    return len(explained), len(messages)


def test_the_explainer_covers_at_least_90_percent_of_the_cpu_messages(raised):
    covered, total = _coverage(raised)
    assert covered / total >= MIN_COVERAGE, f"{covered} of {total} CPU messages explained"


def test_the_doc_states_the_measured_coverage(raised):
    covered, total = _coverage(raised)
    others = [m for m in survey() if m.where != "cpu"]
    known = sum(explain_error(m.exception()) is not None for m in others)
    doc = DOC_PATH.read_text(encoding="utf-8")
    assert f"**{covered} of {total}** messages a CPU can raise" in doc
    assert f"**{known} of {len(others)}** messages that need a GPU or another setup" in doc
