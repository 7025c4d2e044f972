"""Architecture rules: the UI process never imports torch; domain code never imports Textual;
the sandbox child imports only the standard library, torch and numpy."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import tutor

PACKAGE = Path(tutor.__file__).parent
DOMAIN_MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages([str(PACKAGE)], prefix="tutor.")
    if not m.name.startswith("tutor.ui") and m.name != "tutor.__main__"
)


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    import json

    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_domain_modules_never_import_textual():
    assert "tutor.cli" in DOMAIN_MODULES and "tutor.grader" in DOMAIN_MODULES
    imports = "\n".join(f"import {name}" for name in DOMAIN_MODULES)
    loaded = _modules_after(imports)
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}
    assert "torch" not in loaded


def test_list_and_checking_never_import_torch():
    code = (
        "from tutor.cli import main\n"
        "main(['list'])\n"
        "from tutor.loader import load_pack\n"
        "from tutor.paths import shipped_lessons_dir\n"
        "from tutor.checker import check_run\n"
        "from tutor.compare import compare\n"
        "from tutor.grader import Grader\n"
        "from tutor.sandbox.runner import ColdRunner, RunRequest\n"
        "r = ColdRunner().run(RunRequest(code='import torch\\ny = torch.ones(2)', exprs=('y',)))\n"
        "assert r.values['y'].shape == (2,), r\n"
    )
    assert "torch" not in _modules_after(code)


def test_the_app_never_imports_torch():
    code = (
        "import asyncio\n"
        "from tutor.loader import load_pack\n"
        "from tutor.paths import shipped_lessons_dir\n"
        "from tutor.ui.app import TutorApp\n"
        "import sys\n"
        "async def main():\n"
        "    app = TutorApp(load_pack(shipped_lessons_dir()), python=sys.executable)\n"
        "    async with app.run_test(size=(120, 40)) as pilot:\n"
        "        await pilot.pause()\n"
        "asyncio.run(main())\n"
    )
    loaded = _modules_after(code)
    assert "textual" in loaded
    assert "torch" not in loaded


CHILD_DIR = PACKAGE / "sandbox" / "child"


def test_the_sandbox_child_is_standalone():
    """Every module of the child directory imports only the stdlib, torch, numpy and siblings."""
    siblings = {p.stem for p in CHILD_DIR.glob("*.py")}
    assert "__main__" in siblings and not (CHILD_DIR / "__init__.py").exists()
    imported = set()
    for path in CHILD_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: the child must not use relative imports"
                imported.add((node.module or "").split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"__future__"} - siblings
    assert third_party == {"torch", "numpy"}
    assert all(name.startswith("_ptt_") for name in siblings - {"__main__"}), (
        "child modules are named _ptt_* so that none shadows a module learner code imports"
    )
