"""Which device runs the learner's code: the CPU/CUDA toggle and what to tell the learner.

Plain logic over the grader and the interpreter probe (no widgets), so the rule "CUDA only where
the sandbox interpreter can see a GPU" lives in one place and the app only shows the notices.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.notifications import SeverityLevel

from ..grader import Grader
from ..sandbox.probe import InterpreterInfo
from .status import device_text


@dataclass(frozen=True)
class Notice:
    message: str
    severity: SeverityLevel = "information"
    title: str = ""
    timeout: float | None = None


class DeviceChoice:
    """The device setting of one grader, and what the probe said about the interpreter."""

    def __init__(self, grader: Grader, python: str, switch_key: str) -> None:
        self.grader = grader
        self.python = python
        self.switch_key = switch_key
        self.info: InterpreterInfo | None = None  # None until the probe answers
        self._want_cuda = False  # F4 was pressed before the probe answered

    def restore(self, device: str) -> None:
        """Use the device the learner switched to last time, where nothing else was asked for
        (device `auto`). CUDA needs nothing: `auto` picks it wherever the sandbox sees a GPU,
        and falls back to the CPU quietly where it does not."""
        if device == "cpu" and self.grader.device == "auto":
            self.grader.set_device("cpu")

    def effective(self) -> str:
        """The device the next run uses, as far as it is known ('cpu' while unknown)."""
        if self.grader.device != "auto":
            return self.grader.device
        if self.grader.resolved_device:
            return self.grader.resolved_device
        return "cuda" if self.info is not None and self.info.cuda_available else "cpu"

    def badge(self) -> str:
        return device_text(self.grader.device, self.grader.resolved_device, self.info)

    def toggle(self) -> Notice:
        """CUDA → CPU always works; CPU → CUDA only where the interpreter sees a GPU."""
        if self.effective() == "cuda":
            self.grader.set_device("cpu")
            return Notice("Your code now runs on the CPU.")
        if self.info is None:
            self._want_cuda = True
            return Notice(f"Checking whether {self.python} can use a CUDA GPU…")
        return self._to_cuda(self.info)

    def probed(self, info: InterpreterInfo) -> list[Notice]:
        """Take the probe's answer; finish a switch to CUDA asked for before it came."""
        self.info = info
        notices = []
        if info.error:
            notices.append(Notice(info.error, "error", "Cannot run code", 30))
        elif self.grader.device == "cuda" and not info.cuda_available:
            notices.append(
                Notice(
                    f"CUDA was asked for, but {info.describe_cuda()}. "
                    f"Press {self.switch_key} to use the CPU.",
                    "warning",
                    timeout=10,
                )
            )
        if self._want_cuda:
            self._want_cuda = False
            notices.append(self._to_cuda(info))
        return notices

    def _to_cuda(self, info: InterpreterInfo) -> Notice:
        if info.usable and info.cuda_available:
            self.grader.set_device("cuda")
            return Notice(f"Your code now runs on CUDA ({info.device_name or 'GPU'}).")
        self.grader.set_device("cpu")
        why = info.error or info.describe_cuda()
        return Notice(
            f"{why[:1].upper()}{why[1:]}. Your code keeps running on the CPU.",
            "warning",
            "No CUDA",
            10,
        )
