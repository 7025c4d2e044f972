"""The app's start-up: time from launching `pttutor` in a pseudo-terminal to its first frame on
screen, and the UI process's peak memory, with the warm pool starting in the background (a
separate process, not counted).

    python benchmarks/startup.py [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import pty
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FOOTER_MARK = b"Help"  # the footer's last key: once it is on screen, the frame is drawn


def _peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _uses_torch(pid: int) -> bool:
    with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
        return "libtorch" in f.read()


def one_run(settle: float, home: str) -> dict[str, float]:
    """Launch `pttutor` in a real pseudo-terminal (120x40) and watch for the first frame."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "PTTUTOR_HOME": home, "TERM": "xterm-256color"}
    launched = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tutor"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""
    first_frame = None
    deadline = launched + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
            if FOOTER_MARK in seen:
                first_frame = time.monotonic() - launched
                break
    if first_frame is None:
        proc.kill()
        raise SystemExit("the app drew no frame within 60 s")
    settle_until = time.monotonic() + settle  # the zygote imports torch meanwhile
    while time.monotonic() < settle_until:
        if select.select([master], [], [], 0.05)[0]:
            with contextlib.suppress(OSError):
                os.read(master, 65536)
    rss = _peak_rss_mb(proc.pid)
    torch_in_ui = _uses_torch(proc.pid)
    os.write(master, b"\x11")  # ctrl+q
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.close(master)
    if torch_in_ui:
        raise SystemExit("the UI process loaded torch")
    return {"first_frame_s": first_frame, "peak_rss_mb": rss}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="seconds to keep the app open after the first frame",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        runs = [one_run(args.settle, home) for _ in range(args.runs)]
    frames = [r["first_frame_s"] for r in runs]
    report = {
        "first_frame_p50_s": round(statistics.median(frames), 3),
        "first_frame_max_s": round(max(frames), 3),
        "peak_rss_mb_max": round(max(r["peak_rss_mb"] for r in runs), 1),
        "runs": args.runs,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"first frame: p50 {report['first_frame_p50_s']} s, "
            f"max {report['first_frame_max_s']} s ({args.runs} launches)"
        )
        print(f"UI process peak RSS: {report['peak_rss_mb_max']} MB (torch not imported)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
