"""`pttutor reset [LESSON[/EXERCISE]] [--all] [--yes]`: asks first, keeps a backup, one-line
errors, and the domain functions behind it (tutor/reset.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.loader import load_pack
from tutor.progress import FILE_NAME, Progress
from tutor.reset import describe, reset, scope_everything, scope_exercise, scope_lesson

from .test_progress import LESSON, OTHER


@pytest.fixture
def pack(write_pack) -> Path:  # type: ignore[no-untyped-def]
    return write_pack({"basics.yaml": LESSON, "more.yaml": OTHER, "ORDER": "basics\nmore\n"})


@pytest.fixture
def home(private_home: Path) -> Path:
    """PTTUTOR_HOME, with some progress in both lessons."""
    progress = Progress(private_home / FILE_NAME)
    progress.state("basics/three").done = True
    progress.state("basics/three").code = "x = 3\n"
    progress.state("basics/four").code = "y = 'mine'\n"
    progress.state("basics/four").hints_shown = 1
    progress.state("more/five").done = True
    progress.last = "basics/four"
    progress.save()
    return private_home


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def saved(home: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((home / FILE_NAME).read_text(encoding="utf-8"))


def backups(home: Path) -> list[Path]:
    return sorted(home.glob(f"{FILE_NAME}.*.bak"))


def test_reset_a_lesson_with_yes(capsys, monkeypatch, pack: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    before = (home / FILE_NAME).read_text(encoding="utf-8")
    code, out, err = run(capsys, monkeypatch, "reset", "basics", "--yes", "--lessons", str(pack))
    assert code == 0, err
    assert set(saved(home)["exercises"]) == {"more/five"}  # the other lesson is untouched
    (backup,) = backups(home)
    assert backup.read_text(encoding="utf-8") == before
    assert out == f"Reset lesson Basics (basics). Your previous progress is kept in {backup}.\n"
    code, out, _ = run(capsys, monkeypatch, "list", "--lessons", str(pack), "--json")
    states = {row["id"]: row["state"] for row in json.loads(out)["lessons"]}
    assert states == {"basics": "new", "more": "done"}


def test_reset_asks_and_y_resets(capsys, monkeypatch, pack: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, monkeypatch, "reset", "basics", "--lessons", str(pack), stdin="y\n")
    assert code == 0
    assert out.startswith(
        "Reset lesson Basics (basics)? This forgets 1 done, your code in 2 exercises, "
        "1 hint shown; a backup of progress.json is kept. [y/N] Reset lesson Basics"
    )
    assert "basics/three" not in saved(home)["exercises"]


@pytest.mark.parametrize("answer", ["n\n", "\n", "", "maybe\n"])
def test_anything_but_yes_resets_nothing(
    capsys, monkeypatch, pack: Path, home: Path, answer: str
) -> None:  # type: ignore[no-untyped-def]
    before = (home / FILE_NAME).read_bytes()
    code, out, err = run(
        capsys, monkeypatch, "reset", "basics", "--lessons", str(pack), stdin=answer
    )
    assert code == 1 and err == ""
    assert out.endswith("[y/N] " + ("" if answer else "\n") + "Nothing was reset.\n")
    assert (home / FILE_NAME).read_bytes() == before
    assert not backups(home)


def test_reset_all_keeps_a_backup(capsys, monkeypatch, pack: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    before = (home / FILE_NAME).read_text(encoding="utf-8")
    code, out, _ = run(capsys, monkeypatch, "reset", "--all", "-y")
    assert code == 0
    assert saved(home)["exercises"] == {} and saved(home)["last"] is None
    (backup,) = backups(home)
    assert backup.read_text(encoding="utf-8") == before
    assert "Reset everything." in out and str(backup) in out


def test_reset_one_exercise(capsys, monkeypatch, pack: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, monkeypatch, "reset", "basics/four", "--yes", "--lessons", str(pack))
    assert code == 0 and out.startswith("Reset exercise basics/four.")
    assert set(saved(home)["exercises"]) == {"basics/three", "more/five"}


def test_nothing_to_reset(capsys, monkeypatch, pack: Path, private_home: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run(capsys, monkeypatch, "reset", "basics", "--lessons", str(pack))
    assert code == 0
    assert out == "Nothing to reset: you have no saved progress in lesson Basics (basics).\n"
    assert not backups(private_home) and not (private_home / FILE_NAME).exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "name what to reset (LESSON or LESSON/EXERCISE), or use --all"),
        (("basics", "--all"), "name what to reset"),
        (("basix",), "unknown lesson: 'basix'; did you mean basics?"),
        (("basics/tree",), "did you mean basics/three"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    capsys, monkeypatch, pack: Path, home: Path, argv, message
) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run(capsys, monkeypatch, "reset", *argv, "--lessons", str(pack))
    assert code == 2 and out == ""
    assert err.startswith("pttutor: ") and message in err and err.count("\n") == 1
    assert not backups(home)


def test_a_damaged_file_is_reported_and_kept(
    capsys, monkeypatch, pack: Path, private_home: Path
) -> None:  # type: ignore[no-untyped-def]
    (private_home / FILE_NAME).write_text("{oops", encoding="utf-8")
    code, out, err = run(capsys, monkeypatch, "reset", "--all", "--yes")
    assert code == 0 and out == "Nothing to reset: you have no saved progress.\n"
    assert "progress file was moved to" in err
    assert len(backups(private_home)) == 1


def test_a_failed_save_changes_nothing_and_says_why(  # type: ignore[no-untyped-def]
    capsys, monkeypatch, pack: Path, home: Path
) -> None:
    before = (home / FILE_NAME).read_bytes()

    def fail(self: Progress) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Progress, "save", fail)
    code, _, err = run(capsys, monkeypatch, "reset", "--all", "--yes")
    assert code == 1
    assert err.startswith("pttutor: could not reset everything:") and "No space left" in err
    assert "Traceback" not in err
    assert (home / FILE_NAME).read_bytes() == before
    assert not backups(home)  # the file was not touched, so its copy is not needed


def test_reset_from_a_real_terminal_process(pack: Path, home: Path) -> None:
    """The installed entry point: reads the answer from stdin, never a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "tutor", "reset", "more", "--lessons", str(pack)],
        input="y\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, PTTUTOR_HOME=str(home)),
    )
    assert done.returncode == 0, done.stderr
    assert "Reset lesson More (more)." in done.stdout and "Traceback" not in done.stderr
    assert "more/five" not in saved(home)["exercises"]


# ------------------------------------------------------------ tutor/reset.py


def test_scopes_and_a_failed_reset_leaves_memory_alone(pack: Path, home: Path) -> None:
    lessons = load_pack(pack)
    basics = lessons.lesson("basics")
    assert basics is not None
    progress = Progress.load(home)
    progress.state("basics/gone-from-the-pack").done = True  # reset by lesson prefix too
    lesson_scope = scope_lesson(progress, basics)
    assert set(lesson_scope.keys) == {"basics/three", "basics/four", "basics/gone-from-the-pack"}
    assert describe(progress, lesson_scope) == "2 done, your code in 2 exercises, 1 hint shown"
    assert scope_exercise(progress, basics, basics.exercises[0]).keys == ("basics/three",)
    assert scope_everything(progress).everything

    progress.blocked = "simulated"  # save() refuses
    with pytest.raises(OSError):
        reset(progress, scope_everything(progress))
    assert len(progress.exercises) == 4 and progress.last == "basics/four"
