"""The user's settings file, `config.toml`: which interpreter, device and lesson pack to use.

Learners often have PyTorch (with the right CUDA build) in another environment than the one
pttutor was installed in; writing `python = "..."` once beats passing `--python` every time.
Precedence, highest first: the command-line flag, the environment (`PTTUTOR_PYTHON`), this
file, the built-in default. Unknown keys are errors, like unknown fields in a lesson, so a typo
never silently does nothing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 installs tomli (see pyproject.toml)
    import tomli as tomllib

CONFIG_ENV = "PTTUTOR_CONFIG"
DEVICES = ("auto", "cpu", "cuda")
KEYS = ("python", "device", "lessons")


class ConfigError(ValueError):
    """The settings file exists but is wrong: the message starts with its path."""


@dataclass(frozen=True)
class Config:
    path: Path  # where it was looked for (it may not exist)
    exists: bool = False
    python: str | None = None
    device: str | None = None
    lessons: Path | None = None


def config_path() -> Path:
    """`$PTTUTOR_CONFIG`, else `config.toml` in the platform's user config directory."""
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_config_path

    return user_config_path("pttutor", appauthor=False) / "config.toml"


def load_config(path: Path | None = None) -> Config:
    """Read the settings file; a missing file is an empty config, a broken one a ConfigError."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (the keys are {', '.join(KEYS)})")
    values = {key: _string(path, key, data[key]) for key in KEYS if key in data}
    device = values.get("device")
    if device is not None and device not in DEVICES:
        raise ConfigError(f"{path}: device must be one of {', '.join(DEVICES)}, not {device!r}")
    python = values.get("python")
    if python is not None and os.sep in python:
        python = str(_relative_to(path, python))  # a path; a bare name is looked up on PATH
    lessons = values.get("lessons")
    return Config(
        path,
        exists=True,
        python=python,
        device=device,
        lessons=_relative_to(path, lessons) if lessons is not None else None,
    )


def _string(path: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {key} must be a non-empty string")
    return value


def _relative_to(config: Path, value: str) -> Path:
    # `~` works, and a relative path means relative to the file, not to wherever pttutor runs.
    target = Path(value).expanduser()
    return target if target.is_absolute() else config.parent / target
