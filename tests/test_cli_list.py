"""`pttutor list`: a lesson's exercise ids, titles and states (text and JSON), one stderr line
when a damaged progress file is moved aside, and plurals that read right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tutor.cli import main, plural

from .conftest import MINI_LESSON


@pytest.fixture
def pack(write_pack) -> Path:  # type: ignore[no-untyped-def]
    return write_pack({"mini.yaml": MINI_LESSON})


def run(capsys, *argv: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_progress(home: Path, data: object) -> None:
    (home / "progress.json").write_text(json.dumps(data), encoding="utf-8")


def test_list_lesson_shows_exercise_ids_titles_and_states(capsys, pack, private_home) -> None:  # type: ignore[no-untyped-def]
    write_progress(
        private_home,
        {"version": 1, "last": None, "exercises": {"mini/double": {"code": "y = x\n"}}},
    )
    code, out, err = run(capsys, "list", "mini", "--lessons", str(pack))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "A tiny lesson (mini): 0 of 2 exercises done"
    assert re.fullmatch(r"… mini/double\s+Double it", lines[1])
    assert re.fullmatch(r"  mini/boom\s+\S.*", lines[2])
    code, out, _ = run(capsys, "list", "mini", "--lessons", str(pack), "--json")
    (lesson,) = json.loads(out)["lessons"]
    assert lesson["exercise_list"][0] == {
        "id": "mini/double",
        "title": "Double it",
        "state": "started",
    }
    assert [e["state"] for e in lesson["exercise_list"]] == ["started", "new"]


def test_list_json_includes_the_exercises_of_every_lesson(capsys, pack) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, "list", "--lessons", str(pack), "--json")
    assert code == 0
    (lesson,) = json.loads(out)["lessons"]
    assert lesson["exercises"] == 2  # the count stays as it was
    assert [e["id"] for e in lesson["exercise_list"]] == ["mini/double", "mini/boom"]


def test_list_of_an_unknown_lesson_suggests(capsys, pack) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, "list", "mnii", "--lessons", str(pack))
    assert code == 2 and out == ""
    assert err == "pttutor: unknown lesson: 'mnii'; did you mean mini?\n"


def test_a_damaged_progress_file_moved_aside_is_one_stderr_line(capsys, pack, private_home) -> None:  # type: ignore[no-untyped-def]
    (private_home / "progress.json").write_text("{not json", encoding="utf-8")
    code, out, err = run(capsys, "list", "--lessons", str(pack))
    assert code == 0 and "0 of 2 exercises done" in out
    (moved,) = private_home.glob("progress.json.*.bak")
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("pttutor: Your progress file was moved to ")
    assert str(moved) in lines[0]
    code, _, err = run(capsys, "list", "--lessons", str(pack))
    assert err == ""  # said once: the file is gone now


def test_plurals() -> None:
    assert plural(1, "lesson") == "1 lesson"
    assert plural(0, "problem") == "0 problems"
    assert plural(2, "exercise") == "2 exercises"


def test_list_counts_read_right_for_one(capsys, write_pack) -> None:  # type: ignore[no-untyped-def]
    one = MINI_LESSON.split("  - id: boom")[0]
    root = write_pack({"mini.yaml": one})
    code, out, _ = run(capsys, "list", "--lessons", str(root))
    assert code == 0
    assert "(0/1 exercise)" in out and "0 of 1 exercise done" in out
