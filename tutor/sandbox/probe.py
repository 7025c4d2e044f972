"""Ask the sandbox interpreter what it has: Python and torch versions, CUDA and its device.

Runs a throw-away subprocess (never imports torch here). CUDA is checked through NVML
(`PYTORCH_NVML_BASED_CUDA_CHECK=1`) so the probe itself never initialises a CUDA context.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

_PROBE = r"""
import json, os, platform, sys
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
info = {"python": platform.python_version(), "executable": sys.executable}
try:
    import torch
except Exception as exc:
    info["error"] = f"{type(exc).__name__}: {exc}"
else:
    info["torch"] = torch.__version__
    info["cuda_build"] = torch.version.cuda
    info["cuda"] = bool(torch.cuda.is_available())
    if info["cuda"]:
        info["device_name"] = torch.cuda.get_device_name(0)
print(json.dumps(info))
"""


@dataclass(frozen=True)
class InterpreterInfo:
    python: str  # the path that was probed
    python_version: str | None = None
    torch_version: str | None = None
    cuda_build: str | None = None
    cuda_available: bool = False
    device_name: str | None = None
    error: str | None = None  # why this interpreter cannot run snippets

    @property
    def usable(self) -> bool:
        return self.error is None and self.torch_version is not None

    def describe_cuda(self) -> str:
        if self.cuda_available:
            return f"CUDA available: {self.device_name}"
        if self.cuda_build is None:
            return "no CUDA: this torch build is CPU-only"
        return f"no CUDA device visible (torch built for CUDA {self.cuda_build})"


def probe_interpreter(python: str, timeout: float = 120.0) -> InterpreterInfo:
    try:
        done = subprocess.run(
            [python, "-I", "-c", _PROBE],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return InterpreterInfo(python, error=f"cannot run {python}: {exc}")
    try:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return InterpreterInfo(python, error=f"{python} failed: {tail}")
    error = data.get("error")
    if error:
        error = f"{python} cannot import torch ({error}); install it there or pass --python"
    return InterpreterInfo(
        python,
        python_version=data.get("python"),
        torch_version=data.get("torch"),
        cuda_build=data.get("cuda_build"),
        cuda_available=bool(data.get("cuda")),
        device_name=data.get("device_name"),
        error=error,
    )
