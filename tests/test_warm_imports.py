"""The zygote's pre-imports: fork-safe, and enough that no shipped solution imports much more.

The zygote forks every spare, so what it imports must start no thread (a thread does not
survive fork) and create no CUDA context (a forked child cannot use it). And what it leaves out,
every run pays: a lesson whose solution pulls in a new part of torch shows up here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.sandbox.runner import CHILD_SCRIPT

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "benchmarks" / "warm_imports.py"
MAX_NEW_MODULES = 5  # a run may still import a few small modules; not a part of torch

# In a fresh interpreter: torch and numpy as the zygote gets them, then the pre-imports, with
# every path to a CUDA context watched.
FORK_SAFETY = """
import json, os, sys
sys.path.insert(0, sys.argv[1])
import _ptt_boot
torch, np = _ptt_boot.import_torch(warm=False)
calls = []
real_lazy_init = torch.cuda._lazy_init
def watched_lazy_init(*args, **kwargs):
    calls.append("torch.cuda._lazy_init")
    return real_lazy_init(*args, **kwargs)
torch.cuda._lazy_init = watched_lazy_init
before = sorted(os.listdir("/proc/self/task"))
_ptt_boot.import_torch(warm=True)
import _ptt_slips
_ptt_slips.prepare(torch)  # the zygote works out the typo search's names too
after = sorted(os.listdir("/proc/self/task"))
print(json.dumps({
    "before": before,
    "after": after,
    "cuda_calls": calls,
    "cuda_initialized": torch.cuda.is_initialized(),
    "missing": [name for name in _ptt_boot.WARM_IMPORTS if name not in sys.modules],
}))
"""


@pytest.fixture(scope="module")
def fork_safety() -> dict:
    out = subprocess.run(
        [sys.executable, "-I", "-c", FORK_SAFETY, str(CHILD_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs /proc")
def test_the_pre_imports_start_no_thread(fork_safety: dict) -> None:
    assert fork_safety["after"] == fork_safety["before"]


def test_the_pre_imports_create_no_cuda_context(fork_safety: dict) -> None:
    assert fork_safety["cuda_calls"] == []
    assert fork_safety["cuda_initialized"] is False


def test_every_pre_import_exists(fork_safety: dict) -> None:
    """A misspelt name would be skipped silently (an older torch may lack one): not here."""
    assert fork_safety["missing"] == []


@pytest.mark.slow
def test_no_shipped_solution_imports_a_part_of_torch_on_run() -> None:
    """Each solution runs in a fork of a zygote-like interpreter; what it adds to sys.modules
    is what every learner pays on each Run. Add what shows up here to WARM_IMPORTS."""
    out = subprocess.run(
        [sys.executable, str(PROFILE), "profile", "--json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = json.loads(out.stdout)["exercises"]
    assert len(rows) > 50  # the whole curriculum ran, not an empty pack
    assert [r["ref"] for r in rows if r["error"]] == []
    heavy = {r["ref"]: r["modules"] for r in rows if len(r["modules"]) > MAX_NEW_MODULES}
    assert heavy == {}, "run `python benchmarks/warm_imports.py profile`"
