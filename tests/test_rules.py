"""Source rules, the harness guard and the origin of expected exceptions: pure `ast`, no torch."""

from __future__ import annotations

import textwrap

import pytest

from tutor.loader import load_pack
from tutor.paths import shipped_lessons_dir
from tutor.rules import harness_reach, judge_rules, self_raised
from tutor.schema import Rules


def judged(code: str, **rules) -> dict[str, tuple[bool, str, tuple[str, ...]]]:
    outcomes = judge_rules(textwrap.dedent(code), Rules(**rules))
    return {o.label: (o.passed, o.message, o.details) for o in outcomes}


def test_no_rules_no_outcomes():
    assert judge_rules("x = 1", None) == []
    assert judge_rules("x = 1", Rules()) == []


def test_require_is_met_by_an_attribute_or_a_name_the_code_did_not_bind():
    assert judged("y = probs.gather(1, i)", require=["torch.gather"]) == {
        "uses torch.gather": (True, "", ())
    }
    assert judged("y = torch.gather(probs, 1, i)", require=["gather"])["uses gather"][0]
    # an import, under another name
    assert judged("from torch import gather as g\ny = g(p, 1, i)", require=["gather"])[
        "uses gather"
    ][0]
    # a helper the lesson's lib or setup defines
    assert judged("y = where(q, a, b)", require=["where"])["uses where"][0]


def test_require_is_not_met_by_comments_strings_or_a_function_of_that_name():
    code = """
    # probs.gather(1, i) would be the way
    note = "probs.gather(1, i)"
    def gather(p, i):
        return p[range(len(i)), i]
    y = gather(probs, actions)
    """
    passed, message, _ = judged(code, require=["gather"])["uses gather"]
    assert not passed
    assert message == ("your code never uses `gather`: this exercise is about it, so use it")


def test_forbid_names_every_use_with_its_line():
    code = """
    import torch
    import numpy as np
    from torch import cumsum
    y = a.cumsum(0)
    z = sum(a)
    w = torch.sum(a)
    """
    passed, message, details = judged(code, forbid=["torch.cumsum", "sum", "numpy"])[
        "does not use torch.cumsum, sum, numpy"
    ]
    assert not passed
    assert message == "line 3: imports numpy, which `numpy` rules out; this exercise forbids it"
    assert details == (
        "line 4: imports cumsum from torch: `torch.cumsum` is forbidden",
        "line 5: uses `torch.cumsum`",
        "line 6: uses `sum`",
        "line 7: uses `sum`",
    )


def test_forbid_spares_comments_strings_and_the_learners_own_names():
    code = """
    # torch.cumsum(a) is what we may not use
    label = "a.cumsum(0)"
    def cumsum(a):
        total = a[None, :] * (arange(len(a))[:, None] >= arange(len(a))[None, :])
        return total @ ones(len(a))
    result = cumsum(x)
    """
    assert judged(code, forbid=["torch.cumsum"]) == {"does not use torch.cumsum": (True, "", ())}


def test_a_builtin_is_shadowed_only_by_a_top_level_def_before_its_use():
    before = "def sum(a):\n    return a @ ones(len(a))\ny = sum(x)\n"
    assert judged(before, forbid=["sum"])["does not use sum"][0]
    after = "y = sum(x)\ndef sum(a):\n    return a\n"
    assert judged(after, forbid=["sum"])["does not use sum"][1].startswith("line 1: uses `sum`")
    elsewhere = "def f():\n    sum = 0\n    return sum\ny = sum(x)\n"
    assert judged(elsewhere, forbid=["sum"])["does not use sum"][1].startswith("line 4:")


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("for i in range(3):\n    pass\n", "line 1: a for loop"),
        ("while x:\n    x -= 1\n", "line 1: a while loop"),
        ("y = [v * 2 for v in x]\n", "line 1: a list comprehension"),
        ("y = {v for v in x}\n", "line 1: a set comprehension"),
        ("y = {v: v for v in x}\n", "line 1: a dict comprehension"),
        ("y = tuple(v for v in x)\n", "line 1: a generator expression"),
        ("y = list(map(abs, x))\n", "line 1: `map` loops over the items"),
        ("y = list(filter(None, x))\n", "line 1: `filter` loops over the items"),
        ("import functools\ny = functools.reduce(f, x)\n", "line 2: `.reduce` loops"),
        ("from functools import reduce\n", "line 1: imports `reduce`, a loop in disguise"),
        ("y = x.apply_(abs)\n", "line 1: `.apply_` loops over the items"),
        ("def f(n):\n    return f(n - 1) if n else 0\n", "line 1: recursion: `f` calls itself"),
        ("f = lambda n: f(n - 1) if n else 0\n", "line 1: recursion: `f` calls itself"),
        ("def f(n):\n    return g(n)\ndef g(n):\n    return f(n)\n", "line 1: recursion: `f`"),
    ],
)
def test_no_loops_finds_every_kind_of_loop(code, what):
    passed, message, _ = judged(code, no_loops=True)["no loops"]
    assert not passed
    assert message.startswith(what)


def test_no_loops_passes_loop_free_code_and_ignores_strings():
    code = """
    # for i in range(n): would be a loop
    doc = "while True: pass"
    def cumsum(a):
        i = arange(len(a))
        return where(i[:, None] >= i[None, :], a[None, :], 0) @ ones(len(a))
    """
    assert judged(code, no_loops=True) == {"no loops": (True, "", ())}


@pytest.mark.parametrize(
    "code",
    [
        "f = getattr(torch, 'cum' + 'sum')",
        "eval('a.cumsum(0)')",
        "exec('y = 1')",
        "f = torch.__dict__['cumsum']",
        "import importlib",
        "from operator import methodcaller",
        "import builtins",
        "f = vars(torch)",
        "g = globals()",
        "f = __builtins__",
    ],
)
def test_where_rules_apply_the_dynamic_routes_around_them_are_refused(code):
    passed, message, _ = judged(code, forbid=["torch.cumsum"])["no run-time name lookups"]
    assert not passed and message.startswith("line 1: ")
    assert message.endswith("refused where rules apply")


def test_without_rules_dynamic_routes_are_not_judged():
    assert judge_rules("f = getattr(torch, 'zeros')", None) == []


def test_code_that_does_not_parse_gets_no_rule_outcomes():
    assert judge_rules("def (:", Rules(no_loops=True)) == []


def test_details_beyond_eight_say_how_many_more():
    code = "\n".join(f"for i{n} in x:\n    pass" for n in range(12))
    _, message, details = judged(code, no_loops=True)["no loops"]
    assert message.startswith("line 1: a for loop")
    assert len(details) == 8 and details[-1] == "and 4 more"


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("import sys\nm = sys.modules", "`sys.modules`"),
        ("import sys as s\nf = s._getframe(1)", "`sys._getframe`"),
        ("from sys import modules", "`sys.modules`"),
        ("x = torch.serialization.sys.modules", "`sys.modules`"),
        ("import gc\nobjs = gc.get_objects()", "`gc.get_objects`"),
        ("import ctypes", "`import ctypes`"),
        ("import os\nos.write(5, b'x')", "`os.write`"),
        ("import os\nf = os.fdopen(5, 'wb')", "`os.fdopen`"),
        ("from os import dup2", "`os.dup2`"),
        ("import socket", "`import socket`"),
        ("import inspect\nf = inspect.currentframe()", "`inspect.currentframe`"),
        ("g = f.f_back.f_globals", "`.f_back`"),
        ("g = fn.__globals__", "`.__globals__`"),
        ("c = fn.__code__", "`.__code__`"),
        ("k = object.__subclasses__()", "`.__subclasses__`"),
        ("t = e.__traceback__.tb_frame", "`.tb_frame`"),
        ("import _ptt_wire", "`_ptt_wire`"),
        ("m = __import__('_ptt_job')", "the string '_ptt_job'"),
        ("import sys\na = sys.argv", "`sys.argv`"),
        ("f = open('/proc/self/fd/5', 'wb')", "the string '/proc/self/fd/5'"),
    ],
)
def test_the_harness_guard_refuses_what_reaches_into_the_tutor(code, what):
    [first, *_] = harness_reach(code)
    assert first.what == what


def test_the_harness_guard_leaves_ordinary_code_alone():
    code = """
    import os
    import sys
    import torch
    from torch import nn
    model = nn.Sequential(nn.Linear(2, 2))
    names = [n for n, _ in model.named_modules()]
    count = len(list(model.modules()))
    os.path.exists("model.pth")
    print(sys.version, file=sys.stderr)
    # sys.modules in a comment is fine
    """
    assert harness_reach(textwrap.dedent(code)) == []


def test_no_shipped_solution_or_starter_trips_the_guard():
    pack = load_pack(shipped_lessons_dir())
    tripped = [
        (lesson.id, exercise.id, kind)
        for lesson, exercise in pack.exercises()
        for kind, code in [("solution", exercise.solution), ("starter", exercise.starter)]
        + [("shortcut", v.code) for v in exercise.shortcuts]
        + [("alternative", v.code) for v in exercise.alternatives]
        if harness_reach(code)
    ]
    assert tripped == []


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("raise RuntimeError('grad can be implicitly created')", "a `raise` statement"),
        ("e = RuntimeError\nx = 1", "names RuntimeError"),
        ("import torch\ne = torch.OutOfMemoryError", "names OutOfMemoryError"),
        ("err = ValueError('shapes cannot be multiplied')", "builds a ValueError with a message"),
        ("torch._check(False, lambda: 'shapes cannot be multiplied')", "`._check` raises"),
        ("gen.throw(TypeError)", "`.throw` raises"),
        ("exec('ra' + 'ise E')", "`exec` looks names up"),
    ],
)
def test_an_exception_the_code_raises_itself_is_found(code, what):
    wanted = "OutOfMemoryError" if "OutOfMemory" in code else "RuntimeError"
    [first, *_] = self_raised(code, wanted)
    assert first.what.startswith(what)


def test_an_assert_counts_only_where_an_assertion_error_is_expected():
    assert self_raised("assert False, 'no'", "AssertionError")[0].what == "an `assert` statement"
    assert self_raised("assert x.shape == (2,)", "RuntimeError") == []


def test_an_operation_that_raises_is_not_flagged():
    code = "import torch\nv = torch.ones(3, requires_grad=True)\n(v * 2).backward()\n"
    assert self_raised(code, "RuntimeError") == []


def test_the_shipped_raises_solutions_raise_through_the_library():
    pack = load_pack(shipped_lessons_dir())
    raised = {
        f"{lesson.id}/{exercise.id}": self_raised(exercise.solution, check.raises)
        for lesson, exercise in pack.exercises()
        for check in exercise.checks
        if check.raises
    }
    assert len(raised) >= 5
    assert {ref: found for ref, found in raised.items() if found} == {}


# -- lint knows the rules ---------------------------------------------------------------------

RULED = """\
id: demo
title: Demo
intro: "# Demo"
exercises:
  - id: pick
    title: Pick
    task: Pick one entry per row with gather.
    setup: |
      import torch
      probs = torch.rand(3, 4)
      actions = torch.tensor([0, 3, 1])
    starter: |
      chosen = probs[:, 0]
    solution: |
      SOLUTION
    checks:
      - expr: chosen
    hints: [Use gather.]
    rules:
      require: [gather]
      no_loops: true
    alternatives:
      - why: another way
        code: |
          ALTERNATIVE
    shortcuts:
      - why: the solution itself
        code: |
          SHORTCUT
"""

GOOD_SOLUTION = "chosen = probs.gather(1, actions[:, None])[:, 0]"


def lint_text(tmp_path, solution=GOOD_SOLUTION, alternative=None, shortcut="chosen = 0") -> list:
    from tutor.lint import lint_pack

    text = (
        RULED.replace("SOLUTION", solution)
        .replace("ALTERNATIVE", alternative or solution.replace("[:, 0]", ".squeeze(1)"))
        .replace("SHORTCUT", shortcut)
    )
    root = tmp_path / "pack"
    root.mkdir(exist_ok=True)
    (root / "demo.yaml").write_text(text, encoding="utf-8")
    return [p.message for p in lint_pack(root)]


def test_lint_accepts_a_solution_that_keeps_its_rules(tmp_path):
    assert lint_text(tmp_path) == []


def test_lint_reports_a_solution_or_alternative_that_breaks_its_own_rules(tmp_path):
    messages = lint_text(
        tmp_path,
        solution="chosen = probs[[0, 1, 2], actions]",
        alternative="chosen = probs.gather(1, torch.stack([a for a in actions])[:, None])[:, 0]",
    )
    assert messages == [
        "exercises.0.solution: breaks its own rule 'uses gather': your code never uses "
        "`gather`: this exercise is about it, so use it",
        "exercises.0.alternatives.0.code: breaks its own rule 'no loops': line 1: a list "
        "comprehension; this exercise wants no loops",
    ]


def test_lint_reports_a_shortcut_that_is_the_solution_and_code_the_guard_blocks(tmp_path):
    messages = lint_text(tmp_path, shortcut=GOOD_SOLUTION)
    assert messages == [
        "exercises.0.shortcuts.0.code: this shortcut is the solution: it can only pass"
    ]
    messages = lint_text(tmp_path, shortcut="import gc; chosen = gc.get_objects()")
    assert messages == [
        "exercises.0.shortcuts.0.code: line 1: `gc.get_objects` reaches into the tutor's own "
        "machinery: it would be blocked, never run"
    ]
