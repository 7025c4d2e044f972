"""Shared fixtures: a private data directory for every test, and a real sandbox runner."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tutor.sandbox.pool import WarmRunner
from tutor.sandbox.runner import ColdRunner, Runner


@pytest.fixture(autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never read or write the real user's progress, nor read their config.toml, from a test."""
    home = tmp_path_factory.mktemp("pttutor-home")
    monkeypatch.setenv("PTTUTOR_HOME", str(home))
    monkeypatch.setenv("PTTUTOR_CONFIG", str(home / "config.toml"))  # absent unless written
    return home


@pytest.fixture(scope="session", params=["warm", "cold"])
def runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    """Each end-to-end test runs through both runners: the warm pool and a fresh interpreter."""
    made: Runner = WarmRunner(spares=2) if request.param == "warm" else ColdRunner()
    yield made
    made.close()


@pytest.fixture
def write_pack(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """Write {file name: YAML text} into a fresh lesson directory and return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "pack"
        root.mkdir(exist_ok=True)
        for name, text in files.items():
            (root / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return root

    return write


MINI_LESSON = """\
id: mini
title: A tiny lesson
intro: |
  # Tiny
  Multiply by two.
exercises:
  - id: double
    title: Double it
    task: Set `y` to `x * 2`.
    setup: |
      import torch
      x = torch.arange(4.0, requires_grad=True)
    starter: |
      y = x
    solution: |
      y = x * 2
      y.sum().backward()
    checks:
      - expr: y
      - expr: x.grad
        expect: [2.0, 2.0, 2.0, 2.0]
    hints:
      - Multiply.
  - id: boom
    title: See an error
    task: Call backward on a vector.
    setup: |
      import torch
    starter: |
      v = torch.ones(3, requires_grad=True)
    solution: |
      v = torch.ones(3, requires_grad=True)
      (v * 2).backward()
    checks:
      - raises: RuntimeError
        match: "grad can be implicitly created only for scalar outputs"
"""
