"""docs/authoring.md, tried for real: every lesson it shows lints and verifies, its CI script runs,
and a new user's flow works end to end: write a two-exercise pack in a temporary directory, lint
it, verify it, list it, open it in the app, and grade a solutions directory against it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tutor.cli import main
from tutor.lint import lint_pack
from tutor.loader import load_pack

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
WORKFLOW_MARK = "# .github/workflows/"


def fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```\n", GUIDE, re.S | re.M)


def guide_lessons() -> list[str]:
    return [block for block in fenced("yaml") if not block.startswith(WORKFLOW_MARK)]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_yaml_example_in_the_guide_is_a_lesson_that_lints_and_verifies(tmp_path, capsys):
    lessons = guide_lessons()
    assert len(lessons) >= 6, "docs/authoring.md lost its examples"
    for i, text in enumerate(lessons):
        (tmp_path / f"example{i}.yaml").write_text(text, encoding="utf-8")
    pack = load_pack(tmp_path)
    assert pack.problems == []
    assert [str(p) for p in lint_pack(tmp_path)] == []
    code, out, _ = run(capsys, "verify", "--lessons", str(tmp_path), "--device", "cpu", "--json")
    report = json.loads(out)
    problems = [r for r in report["results"] if r["result"] == "problem"]
    assert problems == [] and code == 0
    assert [r["exercise"] for r in report["results"] if r["result"] == "skipped"] == [
        "cookbook-gpu/to-gpu"
    ]

    # The guide promises a worked example of every kind of check and option.
    exercises = [e for _, e in pack.exercises()]
    checks = [c for e in exercises for c in e.checks]
    shown = {
        "expr against the reference": any(c.expr and not c.has_expect for c in checks),
        "expect": any(c.has_expect for c in checks),
        "tolerance": any(c.rtol is not None or c.atol is not None for c in checks),
        "exact": any(c.exact for c in checks),
        "raises + match": any(c.raises and c.match for c in checks),
        "stdout": any(c.stdout and not c.regex for c in checks),
        "regex": any(c.stdout and c.regex for c in checks),
        "requires: cuda (exercise)": any(e.requires == "cuda" for e in exercises),
        "requires: cuda (check)": any(c.requires == "cuda" for c in checks),
        "setup": any(e.setup for e in exercises),
        "seed": any("seed" in e.model_fields_set for e in exercises),
        "timeout": any("timeout" in e.model_fields_set for e in exercises),
    }
    assert [kind for kind, present in shown.items() if not present] == []


def test_the_guide_points_editors_at_the_schema():
    first = guide_lessons()[0]
    assert first.startswith("# yaml-language-server: $schema=lesson.schema.json\n")
    assert "pttutor schema > mypack/lesson.schema.json" in GUIDE


def test_the_guides_ci_workflow_grades_with_pttutor():
    [workflow] = [b for b in fenced("yaml") if b.startswith(WORKFLOW_MARK)]
    steps = yaml.safe_load(workflow)["jobs"]["grade"]["steps"]
    commands = [step.get("run", "") for step in steps]
    assert "pttutor lint lessons" in commands
    assert "pttutor grade solutions --lessons lessons --device cpu" in commands


# -- a new user, from the docs alone ----------------------------------------------------------

NEW_LESSON = """\
# yaml-language-server: $schema=lesson.schema.json
id: reductions
title: Sums and means
intro: |
  # Reducing a tensor
  `t.sum()` adds every element; `t.sum(dim=0)` adds down the columns.

  ```python
  t = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
  t.sum(dim=0)   # tensor([4., 6.])
  ```
exercises:
  - id: column-sums
    title: Sum the columns
    task: Set `s` to the sum of each column of `m`.
    setup: |
      import torch
      m = torch.randn(4, 3)
    starter: |
      s = m.sum()
    solution: |
      s = m.sum(dim=0)
    checks:
      - expr: s
        explain: One sum per column is a tensor of 3 values.
    hints:
      - "`dim=0` reduces over the rows."

  - id: empty-mean
    title: The mean of integers
    task: Take the mean of an integer tensor and read the error.
    setup: |
      import torch
    starter: |
      print(torch.tensor([1.0, 2.0]).mean())
    solution: |
      print(torch.tensor([1, 2]).mean())
    checks:
      - raises: RuntimeError
        match: "mean\\\\(\\\\)"
    hints:
      - "`torch.tensor([1, 2])` holds integers."
"""

GOOD = {
    "reductions__column-sums.py": "s = m.sum(dim=0)\n",
    "reductions/empty-mean.py": "torch.tensor([3, 4]).mean()\n",
}


def _new_pack(tmp_path: Path, capsys) -> Path:
    pack = tmp_path / "my-course"
    pack.mkdir()
    (pack / "reductions.yaml").write_text(NEW_LESSON, encoding="utf-8")
    (pack / "ORDER").write_text("reductions\n", encoding="utf-8")
    code, schema, _ = run(capsys, "schema")
    assert code == 0
    (pack / "lesson.schema.json").write_text(schema, encoding="utf-8")
    return pack


def _solutions(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "student"
    for name, code in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(code, encoding="utf-8")
    return root


def test_a_new_user_writes_lints_verifies_lists_opens_and_grades_a_pack(
    tmp_path, capsys, monkeypatch
):
    pack = _new_pack(tmp_path, capsys)

    code, out, err = run(capsys, "lint", str(pack))
    assert (code, out, err) == (0, "", f"lint: {pack}: no problems\n")

    code, out, _ = run(capsys, "verify", "--lessons", str(pack), "--device", "cpu")
    assert code == 0, out
    assert "2 ok, 0 problems" in out

    code, out, _ = run(capsys, "list", "--lessons", str(pack))
    assert code == 0
    assert re.search(r"reductions\s+Sums and means\s+\(0/2 exercises\)", out)

    # `pttutor --lessons DIR` opens the real app on the new pack (headless here).
    from tutor.ui.app import TutorApp

    seen: list[str | None] = []

    async def look(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        position = pilot.app.position
        seen.append(position.key if position else None)
        pilot.app.exit()

    real_run = TutorApp.run
    monkeypatch.setattr(
        TutorApp, "run", lambda self: real_run(self, headless=True, size=(100, 30), auto_pilot=look)
    )
    assert main(["--lessons", str(pack), "--device", "cpu"]) == 0
    assert seen == ["reductions/column-sums"]

    # One right, one wrong (it does not raise), then both right.
    student = _solutions(tmp_path, {**GOOD, "reductions/empty-mean.py": "x = 1\n"})
    code, out, _ = run(capsys, "grade", str(student), "--lessons", str(pack), "--device", "cpu")
    assert code == 1
    assert "✓ reductions/column-sums  passed" in out
    assert "✗ reductions/empty-mean   failed" in out
    assert out.rstrip().endswith("grade: 1/2 passed (1 failed, 0 missing, 0 skipped)")

    (student / "reductions" / "empty-mean.py").write_text(GOOD["reductions/empty-mean.py"])
    code, out, _ = run(capsys, "grade", str(student), "--lessons", str(pack), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["summary"] == {"passed": 2, "total": 2, "failed": 0, "missing": 0, "skipped": 0}

    # The shape the guide documents is the shape grade prints.
    [documented] = [json.loads(b) for b in fenced("json")]
    assert documented.keys() == report.keys()
    assert documented["summary"].keys() == report["summary"].keys()
    for result in documented["results"]:
        assert result.keys() <= report["results"][0].keys()


def test_the_guides_grading_script_runs(tmp_path, capsys):
    [script] = [b for b in fenced("sh") if b.startswith("#!/bin/sh\n# grade.sh")]
    pack = _new_pack(tmp_path, capsys)
    (tmp_path / "lessons").symlink_to(pack)
    student = _solutions(tmp_path, GOOD)
    (tmp_path / "grade.sh").write_text(script, encoding="utf-8")
    # `pttutor` on PATH is this checkout, whatever is installed.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "pttutor"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tutor "$@"\n')
    shim.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }

    def grade(solutions: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "grade.sh", str(solutions)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = grade(student)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-3:] == [
        "    passed  reductions/column-sums",
        "    passed  reductions/empty-mean",
        "score: 2/2",
    ]
    (student / "reductions" / "empty-mean.py").unlink()
    done = grade(student)
    assert done.returncode == 1
    assert done.stdout.splitlines()[-2:] == ["   missing  reductions/empty-mean", "score: 1/2"]
    done = grade(tmp_path / "nobody")
    assert done.returncode == 2 and "not a directory" in done.stderr


def test_the_guides_lessons_match_the_schema_editors_use(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    code, schema, _ = run(capsys, "schema")
    assert code == 0
    validator = jsonschema.Draft202012Validator(json.loads(schema))
    for text in [*guide_lessons(), NEW_LESSON]:
        assert not list(validator.iter_errors(yaml.safe_load(text))), text[:60]
