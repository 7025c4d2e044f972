"""Finding a run's processes from the host: pids inside a run's PID namespace are not host pids,
so tests tag what a snippet starts (a command-line token or a process name) and look for it."""

from __future__ import annotations

import os
import time


def tagged(tag: str) -> list[int]:
    """Live host processes named `tag` (prctl PR_SET_NAME) or with `tag` on their command line."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            with open(f"/proc/{entry}/stat") as f:
                zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except OSError:
            continue
        if (comm == tag[:15] or tag.encode() in cmdline) and not zombie:
            found.append(int(entry))
    return found


def gone_within(tag: str, timeout: float = 10.0) -> bool:
    """True once no live process carries `tag`, polling until `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not tagged(tag):
            return True
        time.sleep(0.05)
    return not tagged(tag)
