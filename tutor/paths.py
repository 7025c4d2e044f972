"""Where pttutor finds its lessons and keeps the learner's data."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "PTTUTOR_HOME"
PYTHON_ENV = "PTTUTOR_PYTHON"


def shipped_lessons_dir() -> Path:
    """The lesson pack that ships with pttutor: inside the wheel, or `lessons/` in a checkout."""
    package = Path(__file__).resolve().parent
    bundled = package / "_lessons"
    if bundled.is_dir():
        return bundled
    return package.parent / "lessons"


def data_dir() -> Path:
    """The learner's progress and code: `$PTTUTOR_HOME`, else the platform's user data dir."""
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_path

    return user_data_path("pttutor", appauthor=False)
