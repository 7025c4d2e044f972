"""The project's own promises: README commands match CI, lint and types are clean.

Ruff and mypy run as `python -m` of the interpreter running the tests, at the versions the `test`
extra pins (another version may disagree about what is clean), with their caches in a temporary
directory so that the suite writes nothing into the checkout.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup)


def test_ci_runs_the_readme_test_command():
    app_command, test_command = _readme_commands()
    assert app_command.endswith("&& pttutor")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci, "CI must run exactly the README's test command"


def pinned_version(package: str) -> str:
    """The exact version the `test` extra pins `package` to."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for requirement in pyproject["project"]["optional-dependencies"]["test"]:
        name, _, version = requirement.partition("==")
        if name.strip() == package:
            return version.strip()
    raise AssertionError(f"the test extra does not pin {package} with ==")


def tool(package: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m package args` from the repository root, at the pinned version."""
    installed = metadata.version(package)
    assert installed == pinned_version(package), (
        f"{package} {installed} is installed, the test extra pins {pinned_version(package)}: "
        "python -m pip install -e '.[test]'"
    )
    command = [sys.executable, "-m", package, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    done = tool("ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr
    done = tool("ruff", "format", "--check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_type_checks(tmp_path: Path):
    done = tool("mypy", "--cache-dir", str(tmp_path / "mypy-cache"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found")
