"""`tutor.lint`: each rule, on a small bad pack, gives exactly one `file:line: message`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tutor.lint import defined_names, free_names, lint_pack
from tutor.paths import shipped_lessons_dir

GOOD = """\
id: demo
title: Demo
intro: |
  # Demo
  Some text.

  ```python
  x = 1
  ```
exercises:
  - id: double
    title: Double it
    task: Set `y` to `x * 2`.
    setup: |
      import torch
      x = torch.arange(4.0)
    starter: |
      y = x
    solution: |
      y = x * 2
    checks:
      - expr: y
      - expr: "[v * 2 for v in x.tolist()] == y.tolist()"
        expect: true
      - expr: len(y) == 4 and device is not None
        expect: true
    hints:
      - Multiply.
"""


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing `needle` (so tests survive edits)."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def lint(tmp_path: Path, files: dict[str, str]) -> list[str]:
    return [str(p) for p in lint_pack(write(tmp_path / "pack", files))]


def test_a_good_lesson_is_clean(tmp_path):
    assert lint(tmp_path, {"demo.yaml": GOOD}) == []


def test_the_shipped_pack_lints_clean():
    assert [str(p) for p in lint_pack(shipped_lessons_dir())] == []


def test_schema_problems_come_from_the_loader(tmp_path):
    text = GOOD.replace("    hints:\n", "    hintz:\n")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'hintz:')}: exercises.0.hintz: unknown field "
        "(check the spelling; see docs/lessons.md)"
    ]


def test_lesson_ids_are_unique_across_the_pack(tmp_path):
    root = tmp_path / "pack"
    assert lint(tmp_path, {"a.yaml": GOOD, "b.yaml": GOOD}) == [
        f"{root / 'b.yaml'}:1: lesson id 'demo' is already used by a.yaml"
    ]


def test_order_entries_must_name_lessons_and_appear_once(tmp_path):
    root = tmp_path / "pack"
    order = "# teaching order\ndemo\nmissing\ndemo\n"
    assert lint(tmp_path, {"demo.yaml": GOOD, "ORDER": order}) == [
        f"{root / 'ORDER'}:3: no lesson has id 'missing'",
        f"{root / 'ORDER'}:4: warning: 'demo' is listed twice (first on line 2)",
    ]


def test_an_exercise_without_hints_is_a_warning(tmp_path):
    text = GOOD.replace("    hints:\n      - Multiply.\n", "")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, '- id: double')}: warning: exercises.0: no hints: "
        "add at least one under `hints:`"
    ]


@pytest.mark.parametrize("starter", ["y = x * 2", "# try this\ny = (x  *  2)"])
def test_a_starter_that_is_the_solution(tmp_path, starter):
    text = GOOD.replace("    starter: |\n      y = x\n", "    starter: |\n")
    text = text.replace(
        "    starter: |\n", "    starter: |\n" + textwrap.indent(starter + "\n", " " * 6)
    )
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'starter:') + 1}: exercises.0.starter: the starter "
        "is the solution: it passes before the learner starts"
    ]


def test_a_blank_solution(tmp_path):
    text = GOOD.replace("    solution: |\n      y = x * 2\n", '    solution: "\\n"\n')
    text = text.replace("      - expr: y\n", "      - expr: x\n")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text})[0] == (
        f"{root / 'demo.yaml'}:{line_of(text, 'solution:')}: exercises.0.solution: "
        "the solution is empty"
    )


def test_a_check_must_name_what_the_solution_defines(tmp_path):
    text = GOOD.replace("      - expr: y\n", "      - expr: yy.sum() + z\n")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'expr: yy')}: exercises.0.checks.0.expr: 'yy', 'z' "
        "are not defined by the setup or the solution, so the reference has no value to compare "
        "with"
    ]


def test_names_bound_anywhere_in_setup_or_solution_count():
    code = textwrap.dedent(
        """
        import torch.nn as nn
        import numpy
        from math import pi as PI
        def f(): local = 1
        class Net: pass
        for i, j in []: pass
        with open('x') as handle: pass
        try: pass
        except Exception as err: pass
        if (w := 3): pass
        """
    )
    names = defined_names(code)
    assert names is not None
    assert {"nn", "numpy", "PI", "f", "local", "Net", "i", "j", "handle", "err", "w"} <= names
    assert defined_names("from torch import *") is None  # unknowable: no expr findings
    assert free_names("sorted(k for k in d) + (lambda a: a + b)(1)") == {"sorted", "d", "b"}


def test_a_star_import_turns_the_name_rule_off(tmp_path):
    text = GOOD.replace("      import torch\n", "      from torch import *\n      import torch\n")
    text = text.replace("      - expr: y\n", "      - expr: tensor(1.0) + y\n")
    assert lint(tmp_path, {"demo.yaml": text}) == []


def test_raises_must_be_a_class_name(tmp_path):
    text = GOOD.replace(
        "      - expr: y\n", '      - raises: "Runtime Error"\n        match: "boom"\n'
    )
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'raises:')}: exercises.0.checks.0.raises: "
        "'Runtime Error' is not an exception class name"
    ]


def test_an_unknown_exception_is_a_warning_with_a_suggestion(tmp_path):
    text = GOOD.replace("      - expr: y\n", "      - raises: RuntimeErorr\n")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'raises:')}: warning: exercises.0.checks.0.raises: "
        "'RuntimeErorr' is not a built-in or known PyTorch exception; did you mean RuntimeError?"
    ]


@pytest.mark.parametrize(
    "name", ["RuntimeError", "torch.OutOfMemoryError", "UnpicklingError", "KeyError"]
)
def test_known_exceptions_are_fine(tmp_path, name):
    text = GOOD.replace("      - expr: y\n", f"      - raises: {name}\n")
    assert lint(tmp_path, {"demo.yaml": text}) == []


def test_an_unclosed_fence_in_the_intro_points_at_the_fence(tmp_path):
    text = GOOD.replace("  x = 1\n  ```\n", "  x = 1\n")
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, '```python')}: intro: the code block opened with "
        "``` is never closed (the rest of the text would render as code)"
    ]


def test_an_unclosed_fence_in_a_task_or_hint(tmp_path):
    text = GOOD.replace(
        "    task: Set `y` to `x * 2`.\n",
        "    task: |\n      Set `y` to `x * 2`:\n      ~~~python\n      y = ...\n",
    ).replace("      - Multiply.\n", '      - "```y = x * 2"\n')
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, '~~~python')}: exercises.0.task: the code block "
        "opened with ~~~ is never closed (the rest of the text would render as code)",
        f"{root / 'demo.yaml'}:{line_of(text, '```y = x')}: exercises.0.hints.0: the code block "
        "opened with ``` is never closed (the rest of the text would render as code)",
    ]


def test_an_unclosed_fence_in_a_checks_explanation(tmp_path):
    text = GOOD.replace(
        "      - expr: y\n",
        "      - expr: y\n        explain: |\n          Compare with:\n          ```python\n"
        "          y = x * 2\n",
    )
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, '```python', nth=2)}: exercises.0.checks.0.explain: "
        "the code block opened with ``` is never closed (the rest of the text would render as "
        "code)"
    ]


def test_options_that_do_nothing_are_warnings(tmp_path):
    text = GOOD.replace(
        "      - expr: y\n", "      - stdout: hi\n        atol: 0.1\n      - raises: KeyError\n"
    ).replace("        expect: true\n", "        expect: true\n        regex: true\n", 1)
    root = tmp_path / "pack"
    assert lint(tmp_path, {"demo.yaml": text}) == [
        f"{root / 'demo.yaml'}:{line_of(text, 'atol:')}: warning: exercises.0.checks.0.atol: "
        "only an `expr` check uses this",
        f"{root / 'demo.yaml'}:{line_of(text, 'regex:')}: warning: exercises.0.checks.2.regex: "
        "only a `stdout` check uses this",
    ]


def test_an_empty_directory_has_no_lessons(tmp_path):
    root = tmp_path / "pack"
    root.mkdir()
    assert [str(p) for p in lint_pack(root)] == [
        f"{root}:0: no lesson files (*.yaml or *.yml) here"
    ]
