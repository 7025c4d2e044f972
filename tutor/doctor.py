"""`pttutor doctor`: what this installation can do, and what to try where something is missing.

It asks the sandbox interpreter itself (through one real sandboxed run), so what it reports is
what a learner's snippet will get: torch version, CUDA device, and how tightly it is confined.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from .config import Config
from .loader import load_pack
from .sandbox.pool import WarmRunner
from .sandbox.runner import Outcome, RunRequest


@dataclass(frozen=True)
class Finding:
    topic: str
    value: str
    ok: bool = True
    fix: str | None = None  # what to try when not ok


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


MIN_TORCH = (2, 1)


def diagnose(
    python: str,
    data_dir: Path,
    lessons_dir: Path,
    config: Config | None = None,
    python_source: str | None = None,
) -> list[Finding]:
    """Every fact doctor reports, in the order it prints them."""
    textual = _version("textual")
    findings = [
        Finding("pttutor", _version("pttutor")),
        Finding("UI Python", f"{platform.python_version()} ({sys.executable})"),
        Finding(
            "textual",
            textual,
            textual != "not installed",
            "reinstall pttutor: pip install -e ." if textual == "not installed" else None,
        ),
    ]
    if config is not None:
        findings.append(
            Finding("config file", f"{config.path}" + ("" if config.exists else " (none)"))
        )
    source = f", from {python_source}" if python_source else ""
    runner = WarmRunner(python, spares=1)
    try:
        info = runner.interpreter_info(timeout=180)
        if not info.usable:
            findings.append(
                Finding(
                    "sandbox interpreter",
                    f"{python}{source}",
                    False,
                    info.error or "install torch in it, or pass --python PATH",
                )
            )
            return findings + _local_findings(data_dir, lessons_dir)
        findings += [
            Finding("sandbox interpreter", f"{python} (Python {info.python_version}{source})"),
            _torch_finding(info.torch_version),
            Finding(
                "CUDA",
                info.describe_cuda(),
                True,
                None
                if info.cuda_available or info.cuda_build is None
                else "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES",
            ),
        ]
        result = runner.run(RunRequest(code="pass", device="cpu", timeout=30))
    finally:
        runner.close()
    if result.outcome is not Outcome.COMPLETED:
        findings.append(
            Finding(
                "sandboxed run",
                f"{result.outcome.value}: {result.detail}",
                False,
                "run `pttutor check` on a lesson and report the output",
            )
        )
    else:
        sandbox = result.sandbox or {}
        level = result.sandbox_level or "none"
        missing = "; ".join(sandbox.get("missing", [])) or None
        layers = [f"Landlock ABI {sandbox.get('landlock_abi', 0)}"]
        if sandbox.get("namespaces"):
            layers.append("namespaces")
        findings.append(
            Finding(
                "sandbox",
                f"{level} ({', '.join(layers)})" + (f"; missing: {missing}" if missing else ""),
                level == "full",
                None if level == "full" else _sandbox_fix(sandbox),
            )
        )
    return findings + _local_findings(data_dir, lessons_dir)


def _sandbox_fix(sandbox: dict[str, object]) -> str:
    if not sandbox.get("filesystem"):
        return (
            "a Linux kernel with Landlock enabled (5.13+, 6.12+ for every rule) confines snippets; "
            "rlimits, a private directory and timeouts still apply"
        )
    if not sandbox.get("namespaces"):
        return (
            "unprivileged user namespaces give each run its own network, /tmp and processes "
            "(on Ubuntu: sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor "
            "profile for this Python); without them pttutor sweeps what runs leave behind"
        )
    return "a newer Linux kernel (Landlock ABI 6+) adds TCP blocking and signal scoping"


def _torch_finding(version: str | None) -> Finding:
    try:
        major, minor = (int(part) for part in (version or "").split(".")[:2])
    except ValueError:
        return Finding("torch", version or "?")
    if (major, minor) >= MIN_TORCH:
        return Finding("torch", version or "?")
    wanted = ".".join(map(str, MIN_TORCH))
    return Finding(
        "torch",
        f"{version} (pttutor needs {wanted} or newer)",
        False,
        f"pip install 'torch>={wanted}' in that interpreter, or pass --python PATH",
    )


def _lessons_finding(lessons_dir: Path) -> Finding:
    if not lessons_dir.is_dir():
        return Finding("lessons", f"{lessons_dir} (not found)", False, "pass --lessons DIR")
    pack = load_pack(lessons_dir)
    lessons, exercises = len(pack.lessons), len(pack.exercises())
    value = (
        f"{lessons_dir} ({lessons} lesson{'' if lessons == 1 else 's'}, "
        f"{exercises} exercise{'' if exercises == 1 else 's'})"
    )
    if not pack.problems:
        return Finding("lessons", value)
    return Finding(
        "lessons",
        f"{value}; {len(pack.problems)} problem(s)",
        False,
        f"run `pttutor lint {lessons_dir}` to see them",
    )


def _local_findings(data_dir: Path, lessons_dir: Path) -> list[Finding]:
    writable = _writable(data_dir)
    size = shutil.get_terminal_size(fallback=(0, 0))
    colours = os.environ.get("COLORTERM") or os.environ.get("TERM", "unknown")
    small = 0 < size.columns < 80 or 0 < size.lines < 24
    shape = f"{size.columns}x{size.lines}" if size.columns else "not a terminal (piped)"
    return [
        _lessons_finding(lessons_dir),
        Finding(
            "data directory",
            str(data_dir),
            writable,
            None if writable else "set PTTUTOR_HOME to a writable directory",
        ),
        Finding(
            "terminal",
            f"{shape}, {colours}",
            not small,
            "pttutor needs at least 80x24" if small else None,
        ),
    ]


def _writable(path: Path) -> bool:
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return os.access(probe, os.W_OK)


def as_json(findings: list[Finding]) -> list[dict[str, object]]:
    return [asdict(f) for f in findings]
