"""`pttutor verify` runs every exercise's shortcuts (which must fail) and alternatives (which must
pass): on shipped exercises, one per class of shortcut that used to pass, and on the puzzle pack
in tests/data/puzzles, written with functions under test, rules and a pack lib."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tutor.cli import main

PUZZLES = Path(__file__).resolve().parent / "data" / "puzzles"

# One shipped exercise per class of shortcut, and the checks that now catch it.
SHORTCUT_CLASSES = {
    "hooks/forward-hook": {  # the values computed without any hook
        "the activations computed by hand, no hook registered": {
            "uses register_forward_hook",
            "one forward hook on each ReLU, none elsewhere",
            "the hooks record the next forward pass too",
        },
        "hooks registered, but the values stored by hand": {
            "the hooks record the next forward pass too"
        },
    },
    "predict/gather": {  # indexing where the task teaches gather
        "advanced indexing instead of gather": {"uses gather"},
        "the task's actions, typed in": {"chosen"},
    },
    "autograd/blitz": {  # x.grad set by hand, backward() never called
        "the gradient written into x.grad by hand, backward() never called": {"uses backward"},
    },
    "save-load/save-and-load": {  # torch.save({}) and a deepcopy
        # passed while the code started from setup's seed: model2 began with model's weights
        "a fresh model2 that never loads the file, torch.load and load_state_dict only named": {
            "model2.state_dict()",
            "pred",
        },
        "an empty file saved, and the model copied in memory instead of loaded": {
            "model_weights.pth holds model's state_dict",
            "uses torch.load",
            "uses load_state_dict",
        },
        "model itself used as model2, with the name model pointed at another module afterwards": {
            "model2 is a new model"
        },
    },
    "backward-vector/second-backward": {  # `raise RuntimeError("<the expected text>")`
        "the expected error raised by hand": {"raises RuntimeError"},
    },
    "tensor-ops/indexing": {  # hard-coded result values
        "the answers for the task's scores, typed in": {"col1", "last_row", "block", "positives"},
    },
}


def verify(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["verify", "--json", "--device", "cpu", *argv])
    return code, json.loads(capsys.readouterr().out)


def failed_checks(rows: list[dict]) -> dict[str, set[str]]:
    return {row["why"]: set(row["failed"]) for row in rows}


def test_each_class_of_shortcut_fails_on_a_shipped_exercise_and_alternatives_pass(capsys):
    code, report = verify(capsys, *SHORTCUT_CLASSES)
    results = {row["exercise"]: row for row in report["results"]}
    assert {ref: row["result"] for ref, row in results.items()} == dict.fromkeys(
        SHORTCUT_CLASSES, "ok"
    ), [row["message"] for row in results.values()]
    assert code == 0
    for ref, expected in SHORTCUT_CLASSES.items():
        row = results[ref]
        assert failed_checks(row["shortcuts"]) == expected, ref
        assert all(s["status"] == "failed" and s["ok"] for s in row["shortcuts"])
        assert row["alternatives"], f"{ref} shows no correct alternative"
        assert all(a["status"] == "passed" and a["ok"] for a in row["alternatives"]), ref


LESSON = """\
id: mini
title: Mini
intro: "# Mini"
exercises:
  - id: double
    title: Double
    task: Set `y` to `x * 2`.
    setup: |
      import torch
      x = torch.arange(3.0) if trial == 0 else torch.randn(3)
    starter: |
      y = x
    solution: |
      y = x * 2
    checks:
      - expr: y
    hints: [Multiply.]
    shortcuts:
      - why: SHORTCUT_WHY
        code: |
          SHORTCUT_CODE
    alternatives:
      - why: ALTERNATIVE_WHY
        code: |
          ALTERNATIVE_CODE
"""


def mini(shortcut: tuple[str, str], alternative: tuple[str, str]) -> str:
    return (
        LESSON.replace("SHORTCUT_WHY", shortcut[0])
        .replace("SHORTCUT_CODE", shortcut[1])
        .replace("ALTERNATIVE_WHY", alternative[0])
        .replace("ALTERNATIVE_CODE", alternative[1])
    )


def test_verify_reports_shortcuts_that_fail_and_alternatives_that_pass(capsys, write_pack):
    pack = write_pack(
        {
            "mini.yaml": mini(
                ("hard-coded", "y = torch.tensor([0.0, 2.0, 4.0])"), ("sum", "y = x + x")
            )
        }
    )
    code, report = verify(capsys, "--lessons", str(pack))
    [row] = report["results"]
    assert code == 0 and row["result"] == "ok"
    assert row["message"] == (
        "solution passes, starter fails (failed), shortcuts fail (1), alternatives pass (1)"
    )
    assert row["shortcuts"] == [
        {
            "why": "hard-coded",
            "status": "failed",
            "ok": True,
            "summary": "1 of 1 check failed",
            "failed": ["y"],
        }
    ]
    assert row["alternatives"][0]["status"] == "passed" and row["alternatives"][0]["ok"]


def test_a_shortcut_that_passes_or_an_alternative_that_fails_is_a_problem(capsys, write_pack):
    pack = write_pack(
        {"mini.yaml": mini(("not a shortcut at all", "y = 2 * x"), ("a wrong one", "y = x + 1"))}
    )
    code = main(["verify", "--device", "cpu", "--lessons", str(pack)])
    out = capsys.readouterr().out
    assert code == 1
    assert (
        "✗ mini/double" in out
        and "shortcut 1 (not a shortcut at all) passes; it must fail" in out
        and "alternative 1 (a wrong one) does not pass: 1 of 1 check failed (y)" in out
    )


def test_the_puzzle_pack_verifies_and_each_kind_of_shortcut_fails(capsys):
    code, report = verify(capsys, "--lessons", str(PUZZLES))
    results = {row["exercise"]: row for row in report["results"]}
    assert [row["message"] for row in results.values() if row["result"] != "ok"] == []
    assert code == 0
    assert failed_checks(results["puzzles/cumsum"]["shortcuts"]) == {
        "a loop": {"no loops"},
        "the library call": {"does not use torch, numpy, sum, cumsum, tril, triu"},
        "the answer to the task's example, hard-coded": {"cumsum() on 20 inputs"},
    }
    assert failed_checks(results["puzzles/diag"]["shortcuts"]) == {
        "the library call": {"does not use torch, numpy, diag, diagonal, trace"},
        "a comprehension": {"no loops"},
        # a learner global named like the lib's helper is not what the check calls
        "a wrong answer, and the check's helper rebound to say yes": {
            "diag agrees with the diagonal on integer matrices",
            "diag() on 20 inputs",
        },
    }
    assert failed_checks(results["puzzles/bincount"]["shortcuts"]) == {
        "the library call, reached through getattr": {"no run-time name lookups"},
        "a loop": {"no loops"},
        "counts for the task's example, hard-coded": {"bincount() on 24 inputs"},
    }
    assert results["puzzles/cumsum"]["alternatives"][0]["status"] == "passed"


def test_a_puzzle_answer_is_told_which_input_it_gets_wrong(capsys, tmp_path):
    answer = tmp_path / "answer.py"
    answer.write_text("def bincount(a, j):\n    return ones(j)\n", encoding="utf-8")
    code = main(
        [
            "check",
            "--device",
            "cpu",
            "--lessons",
            str(PUZZLES),
            "puzzles/bincount",
            "--file",
            str(answer),
            "--json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    function = next(c for c in report["checks"] if c["name"] == "bincount() on 24 inputs")
    assert function["message"].startswith("bincount(a, j) is wrong for input 1 of 24: ")
    assert function["details"][0] == "input: a = tensor([]), j = 1"
    assert function["details"][1:3] == ["expected: tensor([0])", "got: tensor([1])"]
    assert [(c["name"], c["status"]) for c in report["checks"][1:]] == [
        (
            "does not use torch, numpy, sum, bincount, histc, scatter_add, index_add, "
            "count_nonzero",
            "passed",
        ),
        ("no loops", "passed"),
    ]


def test_the_guides_worked_puzzle_is_the_tested_pack():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "authoring.md").read_text(
        encoding="utf-8"
    )
    [lib] = re.findall(r"^```yaml pack\.yaml\n(.*?)^```\n", guide, re.S | re.M)
    [puzzle] = re.findall(r"^```yaml puzzles\.yaml\n(.*?)^```\n", guide, re.S | re.M)
    assert lib == (PUZZLES / "pack.yaml").read_text(encoding="utf-8")
    assert puzzle in (PUZZLES / "puzzles.yaml").read_text(encoding="utf-8")
    assert puzzle.startswith("  - id: cumsum\n")
