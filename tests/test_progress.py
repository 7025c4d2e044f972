"""The progress store: round trip, atomic saves under SIGKILL, damaged and future files moved
aside (never overwritten), a load that never raises, starter changes, and the solution rule."""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tutor.loader import LessonPack, load_pack
from tutor.progress import (
    FILE_NAME,
    FORMAT_VERSION,
    ExerciseState,
    Progress,
    ProgressNotSaved,
    Resume,
)
from tutor.solution import FAILED_RUNS_TO_UNLOCK, Access, solution_access, solution_diff

LESSON = """\
id: basics
title: Basics
intro: Names hold values.
exercises:
  - id: three
    title: Make three
    task: Set `x` to 3.
    starter: |
      x = 0
    solution: |
      x = 3
    checks:
      - expr: x
  - id: four
    title: Make four
    task: Set `y` to 4.
    starter: |
      y = 0
    solution: |
      y = 4
    checks:
      - expr: y
"""

OTHER = """\
id: more
title: More
intro: More names.
exercises:
  - id: five
    title: Make five
    task: Set `z` to 5.
    starter: |
      z = 0
    solution: |
      z = 5
    checks:
      - expr: z
"""


def make_pack(root: Path, lesson: str = LESSON) -> LessonPack:
    root.mkdir(parents=True, exist_ok=True)
    (root / "basics.yaml").write_text(lesson, encoding="utf-8")
    (root / "more.yaml").write_text(OTHER, encoding="utf-8")
    (root / "ORDER").write_text("basics\nmore\n", encoding="utf-8")
    pack = load_pack(root)
    assert not pack.problems, pack.problems
    return pack


@pytest.fixture
def pack(tmp_path: Path) -> LessonPack:
    return make_pack(tmp_path / "pack")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def backups(home: Path) -> list[Path]:
    return sorted(home.glob(f"{FILE_NAME}.*.bak"))


# ----------------------------------------------------------------- round trip


def test_round_trip_keeps_everything(pack: LessonPack, home: Path) -> None:
    (lesson, three), (_, four) = pack.exercises()[:2]
    progress = Progress.load(home)
    assert progress.exercises == {} and progress.messages == []
    assert progress.remember_code(lesson, three, "x = 3  # é ✓\n")
    progress.record_result(lesson, three, passed=False)
    progress.record_result(lesson, three, passed=True)
    progress.state("basics/three").hints_shown = 1
    progress.state("basics/four").solution_seen = True
    progress.last = "basics/four"
    progress.theme = "textual-light"
    progress.save()

    again = Progress.load(home)
    assert again.messages == [] and again.blocked is None
    assert again.exercises == progress.exercises
    assert again.last == "basics/four" and again.theme == "textual-light"
    assert again.code_for(lesson, three) == "x = 3  # é ✓\n"
    assert again.code_for(lesson, four) == "y = 0\n"  # untouched: the starter
    assert again.is_done(lesson, three) and not again.is_done(lesson, four)
    data = json.loads((home / FILE_NAME).read_text(encoding="utf-8"))
    assert data["version"] == FORMAT_VERSION
    assert data["exercises"]["basics/three"]["failed_runs"] == 1


def test_remember_code_reports_changes_and_stores_the_starter_as_none(
    pack: LessonPack, home: Path
) -> None:
    lesson, three = pack.exercises()[0]
    progress = Progress.load(home)
    assert not progress.remember_code(lesson, three, three.starter)
    assert progress.peek("basics/three") is None  # merely looking creates nothing
    assert progress.remember_code(lesson, three, "x = 1\n")
    assert not progress.remember_code(lesson, three, "x = 1\n")
    assert progress.remember_code(lesson, three, three.starter)  # back to the starter
    state = progress.peek("basics/three")
    assert state is not None and state.code is None and state.starter is None


def test_lesson_states(pack: LessonPack, home: Path) -> None:
    lesson = pack.lessons[0]
    three, four = lesson.exercises
    progress = Progress.load(home)
    assert progress.lesson_state(lesson) == "new"
    progress.state("basics/three").hints_shown = 1
    assert progress.lesson_state(lesson) == "started"
    progress.record_result(lesson, three, passed=True)
    progress.record_result(lesson, four, passed=True)
    assert progress.lesson_state(lesson) == "done"
    assert progress.counts(pack) == (2, 3)
    assert progress.first_unfinished(pack) == (pack.lessons[1], pack.lessons[1].exercises[0])


def test_unknown_fields_are_ignored(home: Path) -> None:
    entry = {"done": True, "from_the_future": [1, 2]}
    (home / FILE_NAME).write_text(
        json.dumps({"version": 1, "exercises": {"basics/three": entry}, "extra": 1}),
        encoding="utf-8",
    )
    progress = Progress.load(home)
    assert progress.messages == []
    assert progress.exercises["basics/three"] == ExerciseState(done=True)


def test_a_file_with_only_a_version_is_empty_progress(home: Path) -> None:
    (home / FILE_NAME).write_text('{"version": 1, "last": "basics/three"}', encoding="utf-8")
    progress = Progress.load(home)
    assert progress.messages == [] and progress.exercises == {}
    assert progress.last == "basics/three"


def test_resume_device_last_and_theme_round_trip(home: Path) -> None:
    progress = Progress.load(home)
    progress.last, progress.theme, progress.device = "basics/four", "textual-light", "cuda"
    progress.resume = Resume("basics/four", (3, 7), editor_scroll=12, lesson_scroll=40)
    progress.save()
    data = json.loads((home / FILE_NAME).read_text(encoding="utf-8"))
    assert data["device"] == "cuda"
    assert data["resume"] == {
        "exercise": "basics/four",
        "cursor": [3, 7],
        "editor_scroll": 12,
        "lesson_scroll": 40,
    }
    again = Progress.load(home)
    assert again.messages == []
    assert (again.last, again.theme, again.device) == ("basics/four", "textual-light", "cuda")
    assert again.resume == progress.resume
    assert Resume.from_json({"exercise": "a/b"}) == Resume("a/b", (0, 0), 0, 0)


@pytest.mark.parametrize(
    "extra",
    [
        {"last": 5, "theme": ["dark"], "device": "gpu", "resume": []},
        {"device": None, "resume": {"exercise": 3}},
        {"resume": {"exercise": "a/b", "cursor": [1]}},
        {"resume": {"exercise": "a/b", "cursor": "1,2"}},
        {"resume": {"exercise": "a/b", "cursor": [1, -1]}},
        {"resume": {"exercise": "a/b", "cursor": [True, 0]}},
        {"resume": {"exercise": "a/b", "editor_scroll": -1}},
        {"resume": {"exercise": "a/b", "lesson_scroll": 1.5}},
    ],
)
def test_a_bad_setting_is_dropped_and_the_progress_kept(home: Path, extra: dict) -> None:
    """Where the learner was, and their choices, are worth less than their work: a bad value
    there is forgotten alone, without moving the file aside."""
    entry = {"done": True}
    data = {"version": 1, "exercises": {"basics/three": entry}, **extra}
    (home / FILE_NAME).write_text(json.dumps(data), encoding="utf-8")
    progress = Progress.load(home)
    assert progress.messages == [] and not backups(home)
    assert progress.exercises["basics/three"] == ExerciseState(done=True)
    assert (progress.last, progress.theme, progress.device, progress.resume) == (None,) * 4


def test_failed_runs_are_counted(pack: LessonPack, home: Path) -> None:
    lesson, three = pack.exercises()[0]
    progress = Progress.load(home)
    for _ in range(3):
        progress.record_result(lesson, three, passed=False)
    assert progress.state("basics/three").failed_runs == 3
    assert solution_access(progress.state("basics/three")).access is Access.CONFIRM


# ------------------------------------------------------ atomic saves, SIGKILL

CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tutor.loader import load_pack
    from tutor.progress import Progress

    home, pack_dir = Path(sys.argv[1]), Path(sys.argv[2])
    pairs = load_pack(pack_dir).exercises()
    progress = Progress.load(home)
    if progress.messages:
        print("MESSAGES", progress.messages, flush=True)
        sys.exit(3)
    state = progress.peek("basics/three")
    n = int(state.code.split()[2]) if state and state.code else 0
    filler = "# " + "padding " * 8000 + "\\n"  # ~64 KB per exercise: saves take a while
    while True:
        n += 1
        for lesson, exercise in pairs:
            progress.remember_code(lesson, exercise, f"# save {n}\\n" + filler)
        progress.last = f"{pairs[n % len(pairs)][0].id}/{pairs[n % len(pairs)][1].id}"
        progress.save()
        print(n, flush=True)  # printed only once the save has returned
    """
)


def saved_counter(progress: Progress) -> int:
    """The save number every exercise's code carries; all must agree (no half-saved state)."""
    numbers = {int((s.code or "").split()[2]) for s in progress.exercises.values()}
    assert len(numbers) == 1, f"exercises from different saves: {numbers}"
    return numbers.pop()


def read_line(stream, timeout: float) -> str:  # type: ignore[no-untyped-def]
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "the saving child printed nothing"
    return stream.readline()


def test_sigkill_in_the_middle_of_saving_loses_nothing(
    pack: LessonPack, home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "saver.py"
    script.write_text(CHILD, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    rng = random.Random(5)
    acknowledged = 0
    for _ in range(20):
        child = subprocess.Popen(
            [sys.executable, str(script), str(home), str(pack.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            first = read_line(child.stdout, timeout=60)
            assert first.strip().isdigit(), first + child.stderr.read()  # type: ignore[union-attr]
            time.sleep(rng.uniform(0.0, 0.15))
        finally:
            child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        lines = [first, *rest.splitlines()]
        acknowledged = max(acknowledged, *(int(x) for x in lines if x.strip()))

        progress = Progress.load(home)  # must parse: never a torn file
        assert progress.messages == []
        counter = saved_counter(progress)
        # The last save that returned is on disk, or the one in flight when the kill came.
        assert acknowledged <= counter <= acknowledged + 1
        acknowledged = counter
    assert acknowledged > 20
    assert not backups(home)


def test_stale_temp_files_of_a_crashed_save_are_swept(home: Path) -> None:
    old = home / f".{FILE_NAME}.abc123.tmp"
    young = home / f".{FILE_NAME}.def456.tmp"
    for path in (old, young):
        path.write_text('{"half": ', encoding="utf-8")
    long_ago = time.time() - 2 * 3600
    os.utime(old, (long_ago, long_ago))
    Progress.load(home)  # no progress file: nothing to sweep next to
    Progress(home / FILE_NAME, last="basics/three").save()
    Progress.load(home)
    assert not old.exists()
    assert young.exists()  # may belong to a save in progress in another pttutor


# ---------------------------------------------- damaged and future-version files


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        '{"version": 1, "exercises": []}',
        '{"version": 1, "exercises": {"a/b": 5}}',
        '{"version": 1, "exercises": {"a/b": {"failed_runs": "many"}}}',
        '{"version": 1, "exercises": {"a/b": {"done": 1}}}',
        '{"version": 1, "exercises": {"a/b": {"failed_runs": true}}}',  # true is not a count
        '{"version": 1, "exercises": {"a/b": {"hints_shown": false}}}',
        '{"version": 1, "exercises": {"a/b": {"updated": true}}}',
        '{"version": 0}',
        '{"version": true}',
        "[" * 100_000,
    ],
)
def test_a_damaged_file_is_moved_aside_with_a_message(home: Path, content: str) -> None:
    path = home / FILE_NAME
    path.write_text(content, encoding="utf-8")
    progress = Progress.load(home)
    assert progress.exercises == {} and progress.blocked is None
    assert (progress.last, progress.theme, progress.device, progress.resume) == (None,) * 4
    (message,) = progress.messages
    assert "could not be read" in message and "moved to" in message
    (backup,) = backups(home)
    assert str(backup) in message
    assert re.fullmatch(rf"{re.escape(FILE_NAME)}\.\d{{8}}-\d{{6}}\.bak", backup.name)
    assert backup.read_text(encoding="utf-8") == content  # kept byte for byte
    assert not path.exists()
    progress.save()  # starting afresh writes a new file; the backup stays
    assert backup.read_text(encoding="utf-8") == content


@pytest.mark.parametrize(
    "content, reason",
    [
        ("[1, 2]", "it is not a JSON object"),
        ('{"version": 1, "exercises": []}', "'exercises' is not an object"),
        ('{"version": 1, "exercises": {"a/b": 5}}', "exercise 'a/b': an exercise entry is int"),
        (
            '{"version": 1, "exercises": {"a/b": {"failed_runs": true}}}',
            "exercise 'a/b': 'failed_runs' is true",
        ),
        ('{"version": "1"}', "unknown format version '1'"),
    ],
)
def test_the_message_says_what_is_wrong_with_the_file(home: Path, content: str, reason: str):
    (home / FILE_NAME).write_text(content, encoding="utf-8")
    (message,) = Progress.load(home).messages
    assert f"because it could not be read ({reason}" in message


def test_backups_in_the_same_second_are_numbered(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tutor.progress.time.strftime", lambda _format: "20250102-030405")
    for _ in range(3):
        (home / FILE_NAME).write_text("{oops", encoding="utf-8")
        Progress.load(home)
    progress = Progress.load(home)
    progress.save()
    progress.backup()
    assert [p.name for p in sorted(home.glob("*.bak"))] == [
        f"{FILE_NAME}.20250102-030405-1.bak",
        f"{FILE_NAME}.20250102-030405-2.bak",
        f"{FILE_NAME}.20250102-030405.bak",
        f"{FILE_NAME}.20250102-030405.before-reset.bak",
    ]


def test_a_file_that_is_not_utf8_is_moved_aside(home: Path) -> None:
    (home / FILE_NAME).write_bytes(b'{"version": 1, "last": "\xff"}')
    progress = Progress.load(home)
    assert len(progress.messages) == 1 and len(backups(home)) == 1


def test_a_future_version_file_is_moved_aside_never_overwritten(home: Path) -> None:
    path = home / FILE_NAME
    future = json.dumps({"version": FORMAT_VERSION + 1, "exercises": {"a/b": {"done": True}}})
    path.write_text(future, encoding="utf-8")
    progress = Progress.load(home)
    (message,) = progress.messages
    assert f"newer pttutor (format {FORMAT_VERSION + 1}" in message
    assert progress.exercises == {}
    (backup,) = backups(home)
    assert backup.read_text(encoding="utf-8") == future
    progress.last = "basics/three"
    progress.save()
    assert backup.read_text(encoding="utf-8") == future
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == FORMAT_VERSION


def test_two_damaged_files_in_one_second_get_two_backups(home: Path) -> None:
    for _ in range(2):
        (home / FILE_NAME).write_text("{oops", encoding="utf-8")
        Progress.load(home)
    assert len(backups(home)) == 2


def test_load_never_raises_when_the_file_cannot_be_moved_aside(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = home / FILE_NAME
    path.write_text("{damaged", encoding="utf-8")

    def read_only(self: Path, target: Path) -> Path:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "rename", read_only)
    progress = Progress.load(home)  # must not raise
    (message,) = progress.messages
    assert "could not be moved aside (Permission denied)" in message
    assert "left untouched, and nothing will be saved until it is moved or fixed" in message
    assert progress.blocked
    progress.last = "basics/three"  # the session goes on in memory...
    with pytest.raises(ProgressNotSaved, match="not saving over it"):
        progress.save()  # ...but never writes over the file it could not read
    assert path.read_text(encoding="utf-8") == "{damaged"


def test_load_never_raises_on_an_unreadable_path(home: Path) -> None:
    (home / FILE_NAME).mkdir()  # a directory where the file should be
    progress = Progress.load(home)
    (message,) = progress.messages
    assert "because it could not be read ([Errno 21] Is a directory" in message
    assert progress.blocked is None and len(backups(home)) == 1


def test_load_of_a_missing_directory_is_empty_and_quiet(tmp_path: Path) -> None:
    progress = Progress.load(tmp_path / "nowhere" / "at all")
    assert progress.exercises == {} and progress.messages == []
    progress.save()  # creates the directory
    assert (tmp_path / "nowhere" / "at all" / FILE_NAME).exists()


# ------------------------------------------------------------ starter changes


def test_a_changed_starter_keeps_the_code_and_is_detected(pack: LessonPack, tmp_path: Path) -> None:
    home = tmp_path / "home"
    lesson, three = pack.exercises()[0]
    progress = Progress.load(home)
    progress.remember_code(lesson, three, "x = 2  # mine\n")
    progress.save()
    assert not progress.starter_changed(lesson, three)

    updated = make_pack(tmp_path / "pack2", LESSON.replace("x = 0", "x = None"))
    new_lesson, new_three = updated.exercises()[0]
    again = Progress.load(home)
    assert again.starter_changed(new_lesson, new_three)
    assert again.code_for(new_lesson, new_three) == "x = 2  # mine\n"
    # An untouched exercise simply gets the new starter, with no warning.
    new_four = updated.exercises()[1][1]
    assert not again.starter_changed(new_lesson, new_four)
    # Saving the code again records the new starter: the warning is said once.
    again.remember_code(new_lesson, new_three, "x = 2  # mine, again\n")
    assert not again.starter_changed(new_lesson, new_three)


# ------------------------------------------------- backup and forget (resets)


def test_backup_copies_the_file_and_forget_returns_what_it_dropped(home: Path) -> None:
    progress = Progress.load(home)
    assert progress.backup() is None  # nothing on disk yet
    progress.state("basics/three").done = True
    progress.save()
    copy = progress.backup()
    assert copy is not None and copy.read_bytes() == (home / FILE_NAME).read_bytes()
    assert copy.name.endswith(".before-reset.bak")
    dropped = progress.forget(["basics/three", "not/there"])
    assert list(dropped) == ["basics/three"] and progress.exercises == {}


# -------------------------------------------------------------- the solution


def test_solution_access_rule() -> None:
    assert solution_access(None).access is Access.LOCKED
    assert solution_access(None).runs_to_go == FAILED_RUNS_TO_UNLOCK
    one = ExerciseState(failed_runs=1)
    assert solution_access(one).access is Access.LOCKED
    assert "(1 more to go). A hint (f2)" in solution_access(one).locked_message("f2")
    assert solution_access(ExerciseState(failed_runs=2)).access is Access.CONFIRM
    assert solution_access(ExerciseState(done=True)).access is Access.OPEN
    assert solution_access(ExerciseState(solution_seen=True)).access is Access.OPEN


def test_solution_diff() -> None:
    assert solution_diff("x = 3\n\n", "x = 3   \n") == []  # blanks at ends are not differences
    diff = solution_diff("x = 0\nprint(x)\n", "x = 3\nprint(x)\n")
    assert diff[:2] == ["--- your code", "+++ solution"]
    assert "-x = 0" in diff and "+x = 3" in diff and " print(x)" in diff
