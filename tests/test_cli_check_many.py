"""`pttutor check A=FILE B=FILE ...`: several files through one pool, in order, one exit code."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tutor import cli
from tutor.cli import _in_order, main

from .conftest import MINI_LESSON

GOOD_DOUBLE = "y = x * 2\ny.sum().backward()\n"
BAD_DOUBLE = "y = x * 3\n"


@pytest.fixture
def pack(write_pack) -> Path:
    return write_pack({"mini.yaml": MINI_LESSON})


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name, text in {"good": GOOD_DOUBLE, "bad": BAD_DOUBLE}.items():
        made[name] = tmp_path / f"{name}.py"
        made[name].write_text(text, encoding="utf-8")
    return made


@pytest.fixture
def pools(monkeypatch: pytest.MonkeyPatch) -> list[cli.WarmRunner]:
    """Every warm pool the command starts."""
    started: list[cli.WarmRunner] = []

    class CountedRunner(cli.WarmRunner):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(cli, "WarmRunner", CountedRunner)
    return started


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_several_pairs_share_one_pool_and_fail_if_any_fails(capsys, pack, files, pools):
    code, out, _ = run(
        capsys,
        "check",
        f"mini/double={files['bad']}",
        f"mini/double={files['good']}",
        "--lessons",
        str(pack),
        "--device",
        "cpu",
    )
    assert code == 1, out
    assert len(pools) == 1
    first, second = out.index(f"[{files['bad']}]"), out.index(f"[{files['good']}]")
    assert first < second  # the order given, whichever finished first
    assert f"mini/double [{files['bad']}]: Not yet" in out
    assert f"mini/double [{files['good']}]: Passed" in out
    assert out.rstrip().endswith("check: 1/2 files passed")


def test_json_is_a_list_in_order_and_all_passing_exits_0(capsys, pack, files, pools):
    code, out, _ = run(
        capsys,
        "check",
        f"mini/double={files['good']}",
        f"mini={files['good']}",  # a lesson alone names its first exercise
        "--lessons",
        str(pack),
        "--device",
        "cpu",
        "--json",
    )
    assert code == 0, out
    rows = json.loads(out)
    assert [(r["exercise"], r["file"], r["passed"]) for r in rows] == [
        ("mini/double", str(files["good"]), True),
        ("mini/double", str(files["good"]), True),
    ]
    assert all(r["format"] == 1 and r["status"] == "passed" for r in rows)
    assert len(pools) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mini/double={good}", "mini/dbl={good}"], "did you mean mini/double"),
        (["mini/double={good}", "mini/double"], "mini/double: give LESSON/EXERCISE=FILE pairs"),
        (["mini/double={good}", "mini/double="], "give LESSON/EXERCISE=FILE pairs"),
        (["mini/double={good}", "mini/double={missing}"], "cannot read"),
        (["mini/double", "mini/boom", "--file", "{good}"], "--file goes with one"),
        (["mini/double={good}", "--file", "{good}"], "--file goes with one"),
    ],
)
def test_bad_input_is_one_line_and_runs_nothing(
    capsys, pack, files, pools, tmp_path, argv, message
):
    values = {"good": files["good"], "missing": tmp_path / "nope.py"}
    argv = [a.format(**values) for a in argv]
    code, out, err = run(capsys, "check", *argv, "--lessons", str(pack))
    assert code == 2 and out == ""
    assert err.startswith("pttutor: ") and message in err and err.count("\n") == 1
    assert pools == []  # nothing started: bad input costs no PyTorch start


def test_in_order_yields_in_the_items_order_while_running_them_at_once():
    """Item 0 cannot finish before item 1 has: only concurrent work gets past it, and the
    results still come in the items' order."""
    second_done = threading.Event()

    def work(item: int) -> int:
        if item == 0:
            assert second_done.wait(timeout=30), "items did not run at the same time"
        else:
            second_done.set()
        return item * 10

    assert list(_in_order(work, [0, 1, 2], workers=2)) == [0, 10, 20]
    assert list(_in_order(lambda i: i + 1, [1, 2, 3], workers=1)) == [2, 3, 4]
