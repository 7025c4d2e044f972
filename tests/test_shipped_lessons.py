"""The shipped lesson pack, verified for real: every reference solution passes and every starter
fails, through the real sandbox (`pttutor verify`), and the documented example is valid."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.loader import load_pack
from tutor.paths import shipped_lessons_dir

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_pack_loads_cleanly():
    pack = load_pack(shipped_lessons_dir())
    assert pack.problems == []
    assert len(pack.lessons) >= 18
    assert len(pack.exercises()) >= 60


@pytest.mark.slow
def test_pttutor_verify_passes_on_the_shipped_pack(capsys):
    code = main(["verify", "--json", "--device", "cpu"])
    report = json.loads(capsys.readouterr().out)
    problems = [r for r in report["results"] if r["result"] == "problem"]
    assert problems == [], "\n".join(f"{r['exercise']}: {r['message']}" for r in problems)
    assert code == 0
    summary = report["summary"]
    assert summary["lessons"] >= 18 and summary["exercises"] >= 60
    skipped = [r for r in report["results"] if r["result"] == "skipped"]
    assert all("CUDA" in r["message"] for r in skipped)
    # Every shortcut failed and every alternative passed (else its row would be a problem).
    variants = [
        v for r in report["results"] for v in r.get("shortcuts", []) + r.get("alternatives", [])
    ]
    assert all(v["ok"] for v in variants)
    ran = {r["exercise"] for r in report["results"] if r["result"] == "ok"}
    with_shortcut = {r["exercise"] for r in report["results"] if r.get("shortcuts")}
    assert ran <= with_shortcut, f"verified without a shortcut: {sorted(ran - with_shortcut)}"


def test_every_shipped_exercise_has_a_shortcut_that_verify_proves_fails():
    pack = load_pack(shipped_lessons_dir())
    bare = [
        f"{lesson.id}/{e.id}"
        for lesson in pack.lessons
        for e in lesson.exercises
        if not e.shortcuts
    ]
    assert bare == []


def test_the_documented_example_is_a_valid_lesson(tmp_path, capsys):
    text = (ROOT / "docs" / "lessons.md").read_text(encoding="utf-8")
    example = re.search(r"## A complete example\n\n```yaml\n(.*?)\n```\n", text, re.S)
    assert example, "docs/lessons.md lost its complete example"
    (tmp_path / "example.yaml").write_text(example.group(1), encoding="utf-8")
    pack = load_pack(tmp_path)
    assert pack.problems == []
    assert main(["verify", "--lessons", str(tmp_path), "--device", "cpu"]) == 0
    assert "2 ok, 0 problems" in capsys.readouterr().out
