"""The command line: list, check and verify, their exit codes, and one-line errors."""

from __future__ import annotations

import ctypes
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main

from .conftest import MINI_LESSON


@pytest.fixture
def pack(write_pack) -> Path:
    return write_pack({"mini.yaml": MINI_LESSON})


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_prints_ids_titles_and_counts(capsys, pack):
    code, out, _ = run(capsys, "list", "--lessons", str(pack))
    assert code == 0
    assert re.search(r"mini\s+A tiny lesson\s+\(0/2 exercises\)", out)
    code, out, _ = run(capsys, "list", "--lessons", str(pack), "--json")
    assert json.loads(out)["lessons"][0] == {
        "id": "mini",
        "title": "A tiny lesson",
        "exercises": 2,
        "done": 0,
        "state": "new",
        "exercise_list": [
            {"id": "mini/double", "title": "Double it", "state": "new"},
            {"id": "mini/boom", "title": "See an error", "state": "new"},
        ],
    }


def test_unknown_ids_are_one_line_with_suggestions(capsys, pack, tmp_path):
    answer = tmp_path / "a.py"
    answer.write_text("y = x * 2\n")
    code, out, err = run(
        capsys, "check", "mnii/double", "--file", str(answer), "--lessons", str(pack)
    )
    assert code == 2 and out == ""
    assert err == "pttutor: unknown lesson: 'mnii'; did you mean mini?\n"
    code, _, err = run(capsys, "check", "mini/dbl", "--file", str(answer), "--lessons", str(pack))
    assert code == 2 and "did you mean mini/double" in err and "Traceback" not in err


def test_a_missing_file_is_bad_input(capsys, pack, tmp_path):
    code, _, err = run(
        capsys, "check", "mini/double", "--file", str(tmp_path / "nope.py"), "--lessons", str(pack)
    )
    assert code == 2 and err.startswith("pttutor: cannot read")


def test_a_broken_pack_reports_file_and_line(capsys, write_pack):
    root = write_pack({"bad.yaml": "id: [\n"})
    code, _, err = run(capsys, "list", "--lessons", str(root))
    assert code == 2
    assert f"{root / 'bad.yaml'}:" in err and "no lessons could be loaded" in err


def test_check_exit_codes_and_json(capsys, pack, tmp_path):
    good = tmp_path / "good.py"
    good.write_text("y = x * 2\ny.sum().backward()\n")
    bad = tmp_path / "bad.py"
    bad.write_text("y = x * 3\n")
    code, out, _ = run(
        capsys,
        "check",
        "mini/double",
        "--file",
        str(good),
        "--lessons",
        str(pack),
        "--device",
        "cpu",
    )
    assert code == 0, out
    assert out.startswith("mini/double: Passed")
    code, out, _ = run(
        capsys, "check", "mini/double", "--file", str(bad), "--lessons", str(pack), "--json"
    )
    assert code == 1
    report = json.loads(out)
    assert report["status"] == "failed" and report["passed"] is False
    assert report["device"] == "cpu" and report["format"] == 1
    failed = [c for c in report["checks"] if c["status"] == "failed"]
    assert failed[0]["name"] == "y" and "values differ" in failed[0]["message"]


def test_verify_proves_solutions_pass_and_starters_fail(capsys, pack):
    code, out, _ = run(capsys, "verify", "--lessons", str(pack))
    assert code == 0, out
    assert "✓ mini/double" in out and "✓ mini/boom" in out
    assert "2 ok, 0 problems" in out
    assert "verify: 1 lesson, 2 exercises on " in out  # plurals that read right


def test_verify_catches_a_starter_that_already_passes(capsys, write_pack):
    lazy = MINI_LESSON.replace("      y = x\n", "      y = x * 2\n      y.sum().backward()\n")
    root = write_pack({"mini.yaml": lazy})
    code, out, _ = run(capsys, "verify", "--lessons", str(root), "mini/double", "--json")
    assert code == 1
    report = json.loads(out)
    assert report["summary"]["problems"] == 1
    assert report["results"][0]["message"] == "the starter code already passes"


def kernel_landlock_abi() -> int:
    """The Landlock ABI this kernel offers, asked directly (0 where there is none)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    create_ruleset, version_flag = 444, 1  # the same syscall number on every architecture
    abi = libc.syscall(create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(version_flag))
    return max(int(abi), 0)


def kernel_allows_user_namespaces() -> bool:
    """Whether an unprivileged process may unshare a user and network namespace, asked in a
    fresh single-threaded interpreter (unshare refuses threaded processes)."""
    probe = (
        "import ctypes, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "sys.exit(0 if libc.unshare(0x10000000 | 0x40000000) == 0 else 1)\n"
    )
    return subprocess.run([sys.executable, "-I", "-c", probe], check=False).returncode == 0


def test_doctor_reports_the_sandbox_level_this_kernel_allows(capsys, monkeypatch):
    # TCP blocking needs Landlock ABI 4 and signal scoping ABI 6, and "full" also needs
    # namespaces (a run's own network, /tmp and processes).
    abi = kernel_landlock_abi()
    full = abi >= 6 and kernel_allows_user_namespaces()
    level = "full" if full else "partial" if abi >= 1 else "none"
    monkeypatch.setenv("COLUMNS", "100")  # a terminal big enough, whatever runs the tests
    monkeypatch.setenv("LINES", "40")
    code, out, _ = run(capsys, "doctor", "--json")
    findings = {f["topic"]: f for f in json.loads(out)["findings"]}
    assert findings["torch"]["value"]
    sandbox = findings["sandbox"]
    assert sandbox["value"].split()[0] == level, sandbox
    assert f"(Landlock ABI {abi}" in sandbox["value"], sandbox
    assert sandbox["ok"] is (level == "full")
    not_ok = [topic for topic, finding in findings.items() if not finding["ok"]]
    assert not_ok == ([] if level == "full" else ["sandbox"])
    assert code == (0 if level == "full" else 1)


def test_doctor_explains_an_interpreter_without_torch(capsys, tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    fake.chmod(0o755)
    code, out, _ = run(capsys, "doctor", "--python", str(fake))
    assert code == 1
    assert "✗ sandbox interpreter" in out and "cannot start PyTorch" in out
