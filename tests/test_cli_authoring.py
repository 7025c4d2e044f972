"""The authoring and teaching commands (lint, schema, grade), config.toml and --python, and
--lessons with a pack outside the package, through `main()` and the real sandbox."""

from __future__ import annotations

import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tutor.cli import main
from tutor.paths import shipped_lessons_dir
from tutor.sandbox.probe import probe_interpreter

from .conftest import MINI_LESSON

CLEAN = MINI_LESSON + "    hints:\n      - A vector has no single gradient to start from.\n"
GOOD_DOUBLE = "y = x * 2\ny.sum().backward()\n"
GOOD_BOOM = "v = torch.ones(3, requires_grad=True)\n(v * 2).backward()\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """A lesson pack in a directory of its own, far from the package's `lessons/`."""
    root = tmp_path / "elsewhere" / "course-pack"
    root.mkdir(parents=True)
    (root / "mini.yaml").write_text(CLEAN, encoding="utf-8")
    return root


@pytest.fixture
def no_torch(tmp_path: Path) -> Path:
    """An 'interpreter' that fails the way a Python without torch does."""
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named torch' >&2\nexit 1\n")
    fake.chmod(0o755)
    return fake


def write_config(private_home: Path, text: str) -> Path:
    path = private_home / "config.toml"  # where conftest points PTTUTOR_CONFIG
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def solutions(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "solutions"
    for name, code in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(code, encoding="utf-8")
    root.mkdir(exist_ok=True)
    return root


# -- lint ------------------------------------------------------------------------------------


def test_lint_a_clean_pack_and_the_shipped_one(capsys, pack):
    code, out, err = run(capsys, "lint", str(pack))
    assert (code, out) == (0, "")
    assert err == f"lint: {pack}: no problems\n"
    code, _, err = run(capsys, "lint", "--lessons", str(pack))
    assert code == 0 and str(pack) in err
    code, out, err = run(capsys, "lint")
    assert code == 0 and str(shipped_lessons_dir()) in err


def test_lint_errors_exit_1_warnings_exit_0_unless_strict(capsys, pack):
    text = MINI_LESSON.replace("      - expr: y\n", "      - expr: yy\n")
    (pack / "mini.yaml").write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "lint", str(pack))
    line = text.splitlines().index("      - expr: yy") + 1
    assert code == 1
    assert out.splitlines() == [
        f"{pack / 'mini.yaml'}:{line}: exercises.0.checks.0.expr: 'yy' is not defined by the "
        "setup or the solution, so the reference has no value to compare with",
        f"{pack / 'mini.yaml'}:{text.splitlines().index('  - id: boom') + 1}: warning: "
        "exercises.1: no hints: add at least one under `hints:`",
    ]
    assert err == f"lint: {pack}: 1 error(s), 1 warning(s)\n"

    (pack / "mini.yaml").write_text(MINI_LESSON, encoding="utf-8")  # only the warning left
    code, _, _ = run(capsys, "lint", str(pack))
    assert code == 0
    code, out, _ = run(capsys, "lint", str(pack), "--strict", "--json")
    assert code == 1
    assert json.loads(out) == {
        "format": 1,
        "problems": [
            {
                "file": str(pack / "mini.yaml"),
                "line": MINI_LESSON.splitlines().index("  - id: boom") + 1,
                "severity": "warning",
                "message": "exercises.1: no hints: add at least one under `hints:`",
            }
        ],
    }


def test_lint_a_directory_that_is_not_there(capsys, tmp_path):
    code, out, err = run(capsys, "lint", str(tmp_path / "nope"))
    assert (code, out) == (2, "")
    assert err == f"pttutor: {tmp_path / 'nope'}: not a directory\n"


# -- schema ----------------------------------------------------------------------------------


def test_schema_is_json_schema_of_the_models(capsys):
    code, out, _ = run(capsys, "schema")
    assert code == 0
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "pttutor lesson"
    assert set(schema["required"]) == {"id", "title", "intro", "exercises"}
    defs = schema["$defs"]
    assert {"Exercise", "Check"} <= set(defs)
    for model in (schema, defs["Exercise"], defs["Check"]):
        assert model["additionalProperties"] is False  # a typo is an error, as in the loader
        assert model["description"]
        for name, prop in model["properties"].items():
            assert prop.get("description"), f"{name} has no description for editors"
    assert schema["properties"]["exercises"]["items"] == {"$ref": "#/$defs/Exercise"}
    assert defs["Check"]["oneOf"] == [
        {"required": ["expr"]},
        {"required": ["raises"]},
        {"required": ["stdout"]},
    ]
    assert defs["Exercise"]["properties"]["id"]["pattern"] == "^[a-z0-9][a-z0-9_-]*$"


def test_the_schema_accepts_every_shipped_lesson_and_rejects_mistakes(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    run(capsys, "schema")
    validator = jsonschema.Draft202012Validator(json.loads(run(capsys, "schema")[1]))
    for path in sorted(shipped_lessons_dir().glob("*.yaml")):
        lesson = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(lesson)), path
    lesson = yaml.safe_load(MINI_LESSON)
    lesson["exercises"][0]["hintz"] = []
    lesson["exercises"][1]["checks"][0]["expr"] = "v"  # now both raises and expr
    lesson["id"] = "Mini"
    messages = " | ".join(e.message for e in validator.iter_errors(lesson))
    assert "'hintz' was unexpected" in messages
    assert "does not match" in messages  # the id pattern
    assert "is valid under each of" in messages  # two kinds in one check


# -- grade -----------------------------------------------------------------------------------


def test_grade_scores_a_directory_and_prints_the_documented_json(capsys, pack, tmp_path):
    sols = solutions(
        tmp_path,
        {"mini__double.py": GOOD_DOUBLE, "notes.py": "# not an exercise\n", "README.md": "hi"},
    )
    code, out, err = run(capsys, "grade", str(sols), "--lessons", str(pack), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["format"] == 1
    assert report["summary"] == {"passed": 1, "total": 2, "failed": 0, "missing": 1, "skipped": 0}
    assert report["unmatched"] == [{"file": "notes.py", "reason": "not named LESSON__EXERCISE.py"}]
    double, boom = report["results"]
    assert double["exercise"] == "mini/double" and double["status"] == "passed"
    assert double["file"] == "mini__double.py" and double["format"] == 1
    assert {"checks", "notes", "error", "stdout", "device", "torch", "seconds"} <= set(double)
    assert boom == {
        **boom,
        "exercise": "mini/boom",
        "status": "missing",
        "passed": False,
        "file": None,
        "summary": "no file: mini__boom.py or mini/boom.py",
        "checks": [],
    }
    assert "ignoring" in err and "notes.py" in err


def test_grade_a_full_directory_in_lesson_folders_passes(capsys, pack, tmp_path):
    sols = solutions(tmp_path, {"mini/double.py": GOOD_DOUBLE, "mini/boom.py": GOOD_BOOM})
    code, out, _ = run(capsys, "grade", str(sols), "--lessons", str(pack))
    assert code == 0, out
    assert re.search(r"✓ mini/double\s+passed\s+all 2 checks passed\s+\[mini/double.py\]", out)
    assert out.rstrip().endswith("grade: 2/2 passed (0 failed, 0 missing, 0 skipped)")


def test_grade_table_names_the_failed_checks(capsys, pack, tmp_path):
    sols = solutions(tmp_path, {"mini__double.py": "y = x * 3\n"})
    code, out, _ = run(capsys, "grade", str(sols), "mini/double", "--lessons", str(pack))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("✗ mini/double  failed")
    assert lines[1].startswith("      ✗ y: ")
    assert "mini/boom" not in out  # only what was asked for
    assert lines[-1] == "grade: 0/1 passed (1 failed, 0 missing, 0 skipped)"


def test_grade_bad_input_exits_2(capsys, pack, tmp_path):
    code, _, err = run(capsys, "grade", str(tmp_path / "nope"), "--lessons", str(pack))
    assert code == 2 and err == f"pttutor: {tmp_path / 'nope'}: not a directory\n"
    sols = solutions(tmp_path, {"mini__double.py": GOOD_DOUBLE, "mini/double.py": GOOD_DOUBLE})
    code, _, err = run(capsys, "grade", str(sols), "--lessons", str(pack))
    assert code == 2 and err.startswith("pttutor: two files for mini/double:")
    code, _, err = run(capsys, "grade", str(sols), "mini/nope", "--lessons", str(pack))
    assert code == 2 and "did you mean mini/" in err
    (pack / "broken.yaml").write_text("id: [\n", encoding="utf-8")
    code, _, err = run(capsys, "grade", str(tmp_path), "--lessons", str(pack))
    assert code == 2
    assert err.splitlines()[-1] == f"pttutor: 1 problem(s) in the lesson pack {pack}"


def test_grade_ids_with_underscores_and_unknown_names(capsys, write_pack, tmp_path):
    lesson = MINI_LESSON.replace("id: mini", "id: my_mini").replace("id: double", "id: x__2")
    root = write_pack({"mini.yaml": lesson})
    sols = solutions(tmp_path, {"my_mini__x__2.py": GOOD_DOUBLE, "mnii__boom.py": GOOD_BOOM})
    code, out, err = run(capsys, "grade", str(sols), "--lessons", str(root), "--json")
    report = json.loads(out)
    assert "ignoring" in err and "mnii__boom.py" in err
    assert [r["status"] for r in report["results"]] == ["passed", "missing"]
    assert report["unmatched"][0]["file"] == "mnii__boom.py"
    assert "did you mean my_mini" in report["unmatched"][0]["reason"]
    assert code == 1


# -- --python and config.toml ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["check", "verify", "grade"])
def test_an_interpreter_without_torch_fails_early_in_one_line(
    capsys, pack, tmp_path, no_torch, command
):
    answer = tmp_path / "a.py"
    answer.write_text(GOOD_DOUBLE)
    args = {
        "check": ["check", "mini/double", "--file", str(answer)],
        "verify": ["verify"],
        "grade": ["grade", str(solutions(tmp_path, {"mini__double.py": GOOD_DOUBLE}))],
    }[command]
    code, out, err = run(capsys, *args, "--lessons", str(pack), "--python", str(no_torch))
    assert (code, out) == (2, "")  # stopped before checking anything: no report at all
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"pttutor: {no_torch} cannot start PyTorch (")
    assert "No module named torch" in err and "pass --python" in err


@pytest.mark.parametrize("command", ["check", "verify", "grade"])
def test_cuda_where_there_is_none_fails_early_in_one_line(capsys, pack, tmp_path, command):
    if probe_interpreter(sys.executable).cuda_available:
        pytest.skip("this machine has CUDA")
    answer = tmp_path / "a.py"
    answer.write_text(GOOD_DOUBLE)
    args = {
        "check": ["check", "mini/double", "--file", str(answer)],
        "verify": ["verify"],
        "grade": ["grade", str(solutions(tmp_path, {"mini__double.py": GOOD_DOUBLE}))],
    }[command]
    code, out, err = run(capsys, *args, "--lessons", str(pack), "--device", "cuda")
    assert (code, out) == (2, "")
    assert err.startswith("pttutor: device cuda: no CUDA") and err.count("\n") == 1
    assert err.endswith("; use --device cpu or auto\n")


def test_python_that_is_not_there(capsys, pack, tmp_path, monkeypatch):
    code, _, err = run(capsys, "verify", "--lessons", str(pack), "--python", "no-such-python3")
    assert code == 2 and err == "pttutor: --python no-such-python3: no such command on PATH\n"
    monkeypatch.setenv("PTTUTOR_PYTHON", str(tmp_path / "missing"))
    code, _, err = run(capsys, "verify", "--lessons", str(pack))
    assert code == 2
    assert err == f"pttutor: $PTTUTOR_PYTHON {tmp_path / 'missing'}: not an executable file\n"


def test_config_python_then_env_then_flag(capsys, pack, private_home, no_torch, monkeypatch):
    config = write_config(private_home, f'python = "{no_torch}"\n')
    monkeypatch.delenv("PTTUTOR_PYTHON", raising=False)
    code, _, err = run(capsys, "verify", "--lessons", str(pack))
    assert code == 2 and f"{no_torch} cannot start PyTorch" in err  # the config's choice
    code, out, _ = run(capsys, "doctor", "--json", "--lessons", str(pack))
    findings = {f["topic"]: f for f in json.loads(out)["findings"]}
    assert findings["config file"]["value"] == str(config)
    assert findings["sandbox interpreter"]["value"] == f"{no_torch}, from python in {config}"

    monkeypatch.setenv("PTTUTOR_PYTHON", sys.executable)  # the environment beats the file
    code, out, _ = run(capsys, "verify", "--lessons", str(pack), "--device", "cpu")
    assert code == 0, out
    code, _, err = run(capsys, "verify", "--lessons", str(pack), "--python", str(no_torch))
    assert code == 2 and "cannot start PyTorch" in err  # and the flag beats the environment


def test_config_device_and_lessons(capsys, pack, private_home, tmp_path):
    write_config(private_home, f'device = "cpu"\nlessons = "{pack}"\n')
    code, out, _ = run(capsys, "list")
    assert code == 0 and out.startswith("  mini ")  # the config's pack, not the shipped one
    answer = tmp_path / "a.py"
    answer.write_text(GOOD_DOUBLE)
    code, out, _ = run(capsys, "check", "mini/double", "--file", str(answer), "--json")
    assert code == 0 and json.loads(out)["device"] == "cpu"
    code, out, _ = run(capsys, "list", "--lessons", str(shipped_lessons_dir()))
    assert "tensors" in out  # a flag beats the file


def test_config_paths_are_relative_to_the_file(capsys, pack, tmp_path, monkeypatch):
    config = pack.parent / "settings" / "pttutor.toml"
    config.parent.mkdir()
    config.write_text('lessons = "../course-pack"\n', encoding="utf-8")
    monkeypatch.setenv("PTTUTOR_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "list", "--json")
    assert code == 0 and json.loads(out)["lessons"][0]["id"] == "mini"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('pyhton = "python3"\n', "unknown key 'pyhton' (the keys are python, device, lessons)"),
        ('device = "gpu"\n', "device must be one of auto, cpu, cuda, not 'gpu'"),
        ("lessons = 3\n", "lessons must be a non-empty string"),
        ("device = \n", "invalid TOML: "),
    ],
)
def test_a_broken_config_is_one_line(capsys, private_home, text, message):
    config = write_config(private_home, text)
    code, out, err = run(capsys, "list")
    assert (code, out) == (2, "")
    assert err.startswith(f"pttutor: {config}: {message}") and err.count("\n") == 1


# -- --lessons DIR everywhere ----------------------------------------------------------------


def test_every_command_takes_a_pack_outside_the_package(capsys, pack, tmp_path, monkeypatch):
    answer = tmp_path / "a.py"
    answer.write_text(GOOD_DOUBLE)
    sols = solutions(tmp_path, {"mini/double.py": GOOD_DOUBLE, "mini/boom.py": GOOD_BOOM})
    where = ["--lessons", str(pack), "--device", "cpu"]
    assert run(capsys, "list", *where)[0] == 0
    assert run(capsys, "check", "mini/double", "--file", str(answer), *where)[0] == 0
    assert run(capsys, "verify", *where)[0] == 0
    assert run(capsys, "lint", *where)[0] == 0
    assert run(capsys, "grade", str(sols), *where)[0] == 0
    out = run(capsys, "doctor", "--json", *where)[1]
    findings = {f["topic"]: f for f in json.loads(out)["findings"]}
    assert findings["lessons"] == {
        "topic": "lessons",
        "value": f"{pack} (1 lesson, 2 exercises)",
        "ok": True,
        "fix": None,
    }
    # The app: everything up to the first frame, with the pack it was given.
    from tutor.ui.app import TutorApp

    opened: list[tuple[Path, tuple[str, str | None] | None]] = []
    monkeypatch.setattr(
        TutorApp, "run", lambda self: opened.append((self.pack.root, self.start_at))
    )
    assert main(["--lessons", str(pack), "--lesson", "mini/boom"]) == 0
    assert opened == [(pack, ("mini", "boom"))]
    assert main(["--lesson", "mini", "--lessons", str(pack)]) == 0  # options in any order


def test_doctor_flags_a_pack_with_problems(capsys, pack):
    (pack / "broken.yaml").write_text("id: [\n", encoding="utf-8")
    code, out, _ = run(capsys, "doctor", "--lessons", str(pack))
    assert code == 1
    assert "✗ lessons" in out and "1 problem(s)" in out
    assert f"run `pttutor lint {pack}` to see them" in out
