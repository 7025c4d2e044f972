"""The lesson format and the loader's `file:line: what is wrong` messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tutor.loader import UnknownId, load_lesson_file, load_pack
from tutor.schema import Check

from .conftest import MINI_LESSON


def test_a_valid_lesson_loads(write_pack):
    pack = load_pack(write_pack({"mini.yaml": MINI_LESSON}))
    assert pack.problems == []
    lesson = pack.lesson("mini")
    assert lesson is not None
    assert [e.id for e in lesson.exercises] == ["double", "boom"]
    assert lesson.exercises[1].checks[0].kind == "raises"


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"expr": "x", "stdout": "a"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"stdout": "a", "expect": 1}, "`expect` belongs to an `expr` check"),
        ({"raises": "RuntimeError", "match": "("}, "bad regex"),
        ({"expr": "x +"}, "not a Python expression"),
        ({"stdout": "a", "match": "b"}, "`match` belongs to a `raises` check"),
    ],
)
def test_bad_checks_are_rejected(fields, message):
    with pytest.raises(ValidationError, match=message):
        Check(**fields)


def test_expect_null_is_an_expectation():
    assert Check(expr="x", expect=None).has_expect
    assert not Check(expr="x").has_expect


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\ntitle: [unclosed\nintro: x\n", encoding="utf-8")
    lesson, problems = load_lesson_file(path)
    assert lesson is None
    assert len(problems) == 1
    text = str(problems[0])
    assert text.startswith(f"{path}:")
    assert "invalid YAML" in text


def test_schema_error_points_at_the_offending_line(write_pack):
    bad = MINI_LESSON.replace("      - expr: y\n", "      - expr: y\n        exat: true\n")
    root = write_pack({"mini.yaml": bad})
    pack = load_pack(root)
    assert pack.lessons == []
    [problem] = pack.problems
    line = bad.splitlines().index("        exat: true") + 1
    assert problem.line == line
    assert "exat" in problem.message and "unknown field" in problem.message


def test_a_broken_solution_is_reported_with_its_line(write_pack):
    bad = MINI_LESSON.replace("      y = x * 2\n", "      y = x *\n")
    pack = load_pack(write_pack({"mini.yaml": bad}))
    [problem] = pack.problems
    assert "solution" in problem.message
    assert problem.line == bad.splitlines().index("      y = x *") + 1


def test_other_lessons_still_load_next_to_a_broken_one(write_pack):
    other = MINI_LESSON.replace("id: mini", "id: other")
    pack = load_pack(write_pack({"a.yaml": "id: [", "b.yaml": other}))
    assert [lesson.id for lesson in pack.lessons] == ["other"]
    assert len(pack.problems) == 1 and pack.problems[0].path.name == "a.yaml"


def test_duplicate_ids_and_order_file(write_pack):
    second = MINI_LESSON.replace("id: mini", "id: second")
    root = write_pack(
        {
            "a.yaml": MINI_LESSON,
            "b.yaml": MINI_LESSON,
            "c.yaml": second,
            "ORDER": "second\nmini\nnope\n",
        }
    )
    pack = load_pack(root)
    assert [lesson.id for lesson in pack.lessons] == ["second", "mini"]
    messages = [str(p) for p in pack.problems]
    assert any("already used" in m and "b.yaml:1:" in m for m in messages)
    assert any("ORDER:3: no lesson has id 'nope'" in m for m in messages)


def test_duplicate_exercise_ids_are_rejected(write_pack):
    bad = MINI_LESSON.replace("id: boom", "id: double")
    pack = load_pack(write_pack({"mini.yaml": bad}))
    assert "used twice" in pack.problems[0].message


def test_unknown_ids_suggest_the_closest(write_pack):
    pack = load_pack(write_pack({"mini.yaml": MINI_LESSON}))
    with pytest.raises(UnknownId, match="did you mean mini"):
        pack.resolve("mnii")
    with pytest.raises(UnknownId, match="did you mean mini/double"):
        pack.resolve("mini/doubel")
    assert pack.resolve("mini/boom")[1].id == "boom"


def test_missing_directory_is_a_problem_not_a_crash(tmp_path: Path):
    pack = load_pack(tmp_path / "nowhere")
    assert pack.lessons == [] and "not found" in pack.problems[0].message
