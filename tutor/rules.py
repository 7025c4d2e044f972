"""Source rules, judged on the submitted text with `ast`, in the trusted parent, before any run.

Three jobs, all static and all pure (no torch, no processes):

* an exercise's `rules`: calls the code must use (`require`), must not use (`forbid`), and
  `no_loops`; where any of them applies, the dynamic routes around them (`getattr`, `eval`,
  `__dict__`, ...) are refused too;
* the harness guard, on for every exercise: code that reaches into the tutor's own machinery
  (`sys.modules`, frames, raw file descriptors, `_ptt_` names) is refused, never run;
* the origin of an expected exception: a `raise` the learner wrote does not count.

The learner's process can forge whatever it reports, so none of this may be decided there.
Comments and strings never count as use; every finding names its line.
"""

from __future__ import annotations

import ast
import builtins
import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .parsing import parse_module
from .schema import Rules

BUILTIN_NAMES = frozenset(dir(builtins))

# Ways to reach a name without writing it, refused wherever a rule applies.
DYNAMIC_NAMES = frozenset(
    {
        "getattr",
        "setattr",
        "delattr",
        "eval",
        "exec",
        "compile",
        "__import__",
        "vars",
        "globals",
        "locals",
        "__builtins__",
        "breakpoint",
    }
)
DYNAMIC_ATTRIBUTES = frozenset(
    {
        "__dict__",
        "__builtins__",
        "__getattribute__",
        "__getattr__",
        "__import__",
        "attrgetter",
        "methodcaller",
        "import_module",
    }
)
DYNAMIC_MODULES = frozenset({"builtins", "importlib", "operator"})

# no_loops: Python-level iteration that is not spelled as a loop statement.
LOOP_CALLS = frozenset({"map", "filter", "reduce", "accumulate", "starmap"})
LOOP_METHODS = frozenset({"reduce", "accumulate", "starmap", "apply_", "map_", "map2_"})

# The harness guard: what no exercise needs and what reaches the tutor's own machinery.
GUARD_MODULE_ATTRIBUTES = {
    "sys": frozenset(
        {
            "modules",
            "_getframe",
            "argv",
            "settrace",
            "setprofile",
            "_current_frames",
            "addaudithook",
        }
    ),
    "gc": frozenset({"get_objects", "get_referrers", "get_referents"}),
    "os": frozenset(
        {"write", "writev", "pwrite", "pwritev", "sendfile", "dup", "dup2", "fdopen", "open"}
    ),
    "posix": frozenset(
        {"write", "writev", "pwrite", "pwritev", "sendfile", "dup", "dup2", "fdopen", "open"}
    ),
    "inspect": frozenset({"currentframe", "stack", "trace", "getouterframes"}),
}
GUARD_MODULES = frozenset({"ctypes", "_ctypes", "socket", "_socket", "posix"})
GUARD_ATTRIBUTES = frozenset(
    {
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "tb_frame",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "__globals__",
        "__code__",
        "__closure__",
        "__subclasses__",
        "ctypeslib",
    }
)
GUARD_MARK = "_ptt_"
GUARD_STRINGS = ("/proc/", "/dev/fd")

# Library helpers that raise an exception carrying the caller's own message.
RAISING_HELPERS = frozenset(
    {
        "throw",
        "_check",
        "_check_with",
        "_check_value",
        "_check_index",
        "_check_type",
        "_check_not_implemented",
        "_assert",
        "_assert_async",
    }
)


@dataclass(frozen=True)
class Finding:
    """Something in the code, at a line: `what` reads well after "line N: "."""

    line: int
    what: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.what}"


@dataclass(frozen=True)
class RuleOutcome:
    """One line of the learner's checklist: a rule, kept or broken."""

    label: str
    passed: bool
    message: str = ""
    details: tuple[str, ...] = ()


# -- reading the code once --------------------------------------------------------------------


@dataclass(frozen=True)
class _Use:
    name: str
    line: int
    node: ast.AST


@dataclass(frozen=True)
class _Load:
    """A name read: where, in which top-level statement, and in what scope."""

    name: str
    line: int
    top: int  # index of the top-level statement it is in
    in_function: bool  # inside a def or lambda (runs when called, not in order)
    local: bool  # the enclosing function (or one around it) binds this name itself


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


class _Source:
    """Everything the rules ask about one piece of code, from one walk of its tree."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.attributes: list[_Use] = []  # x.NAME, any context
        self.loads: list[_Load] = []
        self.imports: list[tuple[str, str, int]] = []  # (module, name bound, line) for `import`
        self.from_imports: list[tuple[str, str, str, int]] = []  # (module, name, bound, line)
        self.strings: list[tuple[str, int]] = []
        self.nodes: list[ast.AST] = []
        self.top_defs: dict[str, int] = {}  # name -> index of the top-level def/class
        self.deleted: set[str] = set()
        self.own: set[str] = set()  # names the code binds itself, other than by importing
        for index, statement in enumerate(tree.body):
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                self.top_defs.setdefault(statement.name, index)
            self._walk(statement, index, ())

    def _walk(self, node: ast.AST, top: int, scopes: tuple[frozenset[str], ...]) -> None:
        self.nodes.append(node)
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute):
            self.attributes.append(_Use(node.attr, line, node))
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                local = any(node.id in scope for scope in scopes)
                self.loads.append(_Load(node.id, line, top, bool(scopes), local))
            elif isinstance(node.ctx, ast.Del):
                self.deleted.add(node.id)
            else:
                self.own.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.own.add(node.name)
        elif isinstance(node, ast.arg):
            self.own.add(node.arg)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            self.own.add(node.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                self.imports.append((alias.name, bound, line))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                module = "." * node.level + (node.module or "")
                self.from_imports.append((module, alias.name, alias.asname or alias.name, line))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value if isinstance(node.value, str) else node.value.decode("latin-1")
            self.strings.append((text, line))
        if isinstance(node, _FUNCTIONS):
            # Defaults and decorators run in the enclosing scope; the body in its own.
            outside, inside = _function_parts(node)
            for child in outside:
                self._walk(child, top, scopes)
            inner = (*scopes, _local_names(node))
            for child in inside:
                self._walk(child, top, inner)
            return
        for child in ast.iter_child_nodes(node):
            self._walk(child, top, scopes)

    def reads_builtin(self, name: str) -> Iterator[int]:
        """Lines that read the built-in `name` (`sum`, `getattr`): a top-level `def name` or
        `class name` shadows it for the code that runs after it, nothing else does (a
        binding inside a function leaves the module's `name` the built-in one)."""
        if name not in BUILTIN_NAMES:
            return
        defined_at = self.top_defs.get(name)
        shadowed_after = -1 if defined_at is None or name in self.deleted else defined_at
        for load in self.loads:
            if load.name != name or load.local:
                continue
            if shadowed_after >= 0 and (load.in_function or load.top > shadowed_after):
                continue
            yield load.line

    def reads_given(self, name: str) -> Iterator[int]:
        """Lines that read `name` as something the code did not make: a built-in, something
        the lesson's setup or lib defined, or an import (`from torch import cumsum as c`
        makes `c` a read of cumsum). A name the code binds itself (`def cumsum(a)` in a
        cumsum puzzle, a variable, a parameter) is its own."""
        if name in BUILTIN_NAMES:
            yield from self.reads_builtin(name)
        aliases = {b for _, n, b, _ in self.from_imports if n == name}
        for load in self.loads:
            if load.name in aliases or (
                load.name == name and name not in BUILTIN_NAMES and name not in self.own
            ):
                yield load.line

    def module_aliases(self, module: str) -> set[str]:
        """Names this code binds to `module` (`import sys as s` binds s)."""
        names = {bound for full, bound, _ in self.imports if full == module}
        names |= {b for m, n, b, _ in self.from_imports if n == module}
        return names


def _function_parts(node: ast.AST) -> tuple[list[ast.AST], list[ast.AST]]:
    """A def's or lambda's nodes evaluated outside it (decorators, defaults, annotations) and
    inside it (parameters, body)."""
    assert isinstance(node, _FUNCTIONS)
    args = node.args
    outside: list[ast.AST] = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    inside: list[ast.AST] = [
        *args.posonlyargs,
        *args.args,
        *args.kwonlyargs,
        *(a for a in (args.vararg, args.kwarg) if a is not None),
    ]
    if isinstance(node, ast.Lambda):
        return outside, [*inside, node.body]
    outside += node.decorator_list
    if node.returns is not None:
        outside.append(node.returns)
    return outside, [*inside, *node.body]


def _local_names(node: ast.AST) -> frozenset[str]:
    """The names a function binds itself: its parameters and what its body assigns (nested
    functions and classes keep theirs)."""
    assert isinstance(node, _FUNCTIONS)
    names = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
    todo: list[ast.AST] = [node.body] if isinstance(node, ast.Lambda) else list(node.body)
    while todo:
        child = todo.pop()
        if isinstance(child, ast.Name) and not isinstance(child.ctx, ast.Load):
            names.add(child.id)
        elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(child.name)
            continue
        elif isinstance(child, ast.Import | ast.ImportFrom):
            names |= {a.asname or a.name.split(".")[0] for a in child.names}
        elif isinstance(child, ast.Lambda):
            continue
        todo.extend(ast.iter_child_nodes(child))
    return frozenset(names)


@functools.lru_cache(maxsize=64)
def _parse(code: str) -> _Source | None:
    try:
        return _Source(parse_module(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def parses(code: str) -> bool:
    return _parse(code) is not None


def _last(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


def _first_lines(findings: Iterable[Finding]) -> list[Finding]:
    """Findings by line, one per line and text."""
    return sorted(set(findings), key=lambda f: (f.line, f.what))


# -- require / forbid / no_loops --------------------------------------------------------------


def uses(source: _Source, item: str) -> int | None:
    """The first line where the code uses `item` (its last part, for a dotted item): as an
    attribute (`x.gather`), or as a name it did not bind itself."""
    name = _last(item)
    lines = [a.line for a in source.attributes if a.name == name and _loads(a.node)]
    lines += source.reads_given(name)
    return min(lines) if lines else None


def _loads(node: ast.AST) -> bool:
    return isinstance(getattr(node, "ctx", None), ast.Load)


def forbidden_uses(source: _Source, item: str) -> list[Finding]:
    name = _last(item)
    shown = f"`{item}`"
    found = [Finding(a.line, f"uses {shown}") for a in source.attributes if a.name == name]
    for module, _, line in source.imports:
        if name in module.split(".") or module == item:
            found.append(Finding(line, f"imports {module}, which {shown} rules out"))
    for module, imported, _, line in source.from_imports:
        if name in module.lstrip(".").split(".") or imported == name:
            found.append(Finding(line, f"imports {imported} from {module}: {shown} is forbidden"))
    found += [Finding(line, f"uses {shown}") for line in source.reads_given(name)]
    return found


def loops(source: _Source) -> list[Finding]:
    kinds: dict[type, str] = {
        ast.For: "a for loop",
        ast.AsyncFor: "an async for loop",
        ast.While: "a while loop",
        ast.ListComp: "a list comprehension",
        ast.SetComp: "a set comprehension",
        ast.DictComp: "a dict comprehension",
        ast.GeneratorExp: "a generator expression",
    }
    found = [
        Finding(getattr(node, "lineno", 0), kinds[type(node)])
        for node in source.nodes
        if type(node) in kinds
    ]
    for name in sorted(LOOP_CALLS):
        lines = source.reads_builtin(name)
        found += [Finding(line, f"`{name}` loops over the items") for line in lines]
    for _, imported, _, line in source.from_imports:
        if imported in LOOP_CALLS:
            found.append(Finding(line, f"imports `{imported}`, a loop in disguise"))
    found += [
        Finding(a.line, f"`.{a.name}` loops over the items")
        for a in source.attributes
        if a.name in LOOP_METHODS
    ]
    found += recursion(source)
    return found


def recursion(source: _Source) -> list[Finding]:
    """Functions that call themselves, directly or through each other."""
    bodies: dict[str, tuple[int, ast.AST]] = {}
    for node in source.nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            bodies.setdefault(node.name, (node.lineno, node))
        elif (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Lambda)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
        ):
            bodies.setdefault(node.targets[0].id, (node.lineno, node.value))
    calls: dict[str, set[str]] = {}
    for name, (_, body) in bodies.items():
        calls[name] = {
            n.func.id
            for n in ast.walk(body)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in bodies
        }
    found = []
    for name, (line, _) in bodies.items():
        if _reaches(calls, name, name):
            found.append(Finding(line, f"recursion: `{name}` calls itself"))
    return found


def _reaches(calls: dict[str, set[str]], start: str, goal: str) -> bool:
    seen: set[str] = set()
    todo = list(calls.get(start, ()))
    while todo:
        name = todo.pop()
        if name == goal:
            return True
        if name not in seen:
            seen.add(name)
            todo.extend(calls.get(name, ()))
    return False


def dynamic_routes(source: _Source) -> list[Finding]:
    """getattr, eval and friends: ways around any static rule."""
    found = []
    for name in sorted(DYNAMIC_NAMES):
        lines = source.reads_given(name)
        found += [Finding(line, f"`{name}` looks names up at run time") for line in lines]
    found += [
        Finding(a.line, f"`.{a.name}` looks names up at run time")
        for a in source.attributes
        if a.name in DYNAMIC_ATTRIBUTES
    ]
    for module, _, line in source.imports:
        if module.split(".")[0] in DYNAMIC_MODULES:
            found.append(Finding(line, f"imports {module}, which looks names up at run time"))
    for module, imported, _, line in source.from_imports:
        if module.split(".")[0] in DYNAMIC_MODULES or imported in DYNAMIC_NAMES:
            found.append(Finding(line, f"imports {imported} from {module}"))
    return found


def judge_rules(code: str, rules: Rules | None) -> list[RuleOutcome]:
    """One outcome per require item, one for `forbid`, one for `no_loops`, plus one for the
    dynamic routes when any is used. Empty without rules; code that does not parse gets
    no outcomes (the run reports its SyntaxError)."""
    if rules is None or not rules.active:
        return []
    source = _parse(code)
    if source is None:
        return []
    outcomes = []
    for item in rules.require:
        passed = uses(source, item) is not None
        why = f"your code never uses `{_last(item)}`: this exercise is about it, so use it"
        outcomes.append(RuleOutcome(f"uses {item}", passed, "" if passed else why))
    if rules.forbid:
        findings = [f for item in rules.forbid for f in forbidden_uses(source, item)]
        outcomes.append(
            _outcome(
                "does not use " + ", ".join(rules.forbid),
                findings,
                "this exercise forbids it",
            )
        )
    if rules.no_loops:
        outcomes.append(_outcome("no loops", loops(source), "this exercise wants no loops"))
    dynamic = dynamic_routes(source)
    if dynamic:
        outcomes.append(_outcome("no run-time name lookups", dynamic, "refused where rules apply"))
    return outcomes


def _outcome(label: str, findings: Sequence[Finding], why: str) -> RuleOutcome:
    ordered = _first_lines(findings)
    if not ordered:
        return RuleOutcome(label, True)
    first, rest = ordered[0], ordered[1:]
    details = tuple(str(f) for f in rest[:7])
    if len(rest) > 7:
        details += (f"and {len(rest) - 7} more",)
    return RuleOutcome(label, False, f"{first}; {why}", details)


# -- the harness guard ------------------------------------------------------------------------


def harness_reach(code: str) -> list[Finding]:
    """Where the code reaches into the tutor's own machinery (empty for code that does not
    parse: its SyntaxError is reported by the run)."""
    source = _parse(code)
    if source is None:
        return []
    found: list[Finding] = []
    for module, names in GUARD_MODULE_ATTRIBUTES.items():
        aliases = source.module_aliases(module) | {module}
        for use in source.attributes:
            if use.name in names and _names_module(use.node, aliases):
                found.append(Finding(use.line, f"`{module}.{use.name}`"))
        for imported_from, imported, _, line in source.from_imports:
            if imported_from == module and imported in names:
                found.append(Finding(line, f"`{module}.{imported}`"))
    for module, _, line in source.imports:
        if module.split(".")[0] in GUARD_MODULES:
            found.append(Finding(line, f"`import {module}`"))
    for module, imported, _, line in source.from_imports:
        if module.split(".")[0] in GUARD_MODULES:
            found.append(Finding(line, f"`from {module} import {imported}`"))
    found += [
        Finding(a.line, f"`.{a.name}`") for a in source.attributes if a.name in GUARD_ATTRIBUTES
    ]
    spelled = [(a.name, a.line) for a in source.attributes]
    spelled += [(load.name, load.line) for load in source.loads]
    spelled += [(m, line) for m, _, line in source.imports]
    spelled += [(f"{m}.{n}", line) for m, n, _, line in source.from_imports]
    found += [Finding(line, f"`{name}`") for name, line in spelled if GUARD_MARK in name]
    for text, line in source.strings:
        if GUARD_MARK in text or any(mark in text for mark in GUARD_STRINGS):
            found.append(Finding(line, f"the string {text[:40]!r}"))
    return _first_lines(found)


def _names_module(node: ast.AST, aliases: set[str]) -> bool:
    """`sys.modules`, `s.modules` after `import sys as s`, `torch.serialization.sys.modules`."""
    value = getattr(node, "value", None)
    if isinstance(value, ast.Name):
        return value.id in aliases
    return isinstance(value, ast.Attribute) and value.attr in aliases


# -- where an expected exception comes from ---------------------------------------------------


def self_raised(code: str, exception: str) -> list[Finding]:
    """Ways the code could produce `exception` itself rather than have an operation raise it:
    a `raise`, naming the class, building any *Error with a message, the helpers that raise
    the caller's message, and (as for rules) run-time name lookups."""
    source = _parse(code)
    if source is None:
        return []
    wanted = _last(exception)
    found = [
        Finding(node.lineno, "a `raise` statement")
        for node in source.nodes
        if isinstance(node, ast.Raise)
    ]
    if wanted in ("AssertionError", "Exception", "BaseException"):
        found += [
            Finding(node.lineno, "an `assert` statement")
            for node in source.nodes
            if isinstance(node, ast.Assert)
        ]
    found += [Finding(line, f"names {wanted}") for line in source.reads_given(wanted)]
    found += [Finding(a.line, f"names {wanted}") for a in source.attributes if a.name == wanted]
    for node in source.nodes:
        if isinstance(node, ast.Call) and (node.args or node.keywords):
            name = _called_name(node.func)
            if name and name.endswith(("Error", "Exception")) and name != wanted:
                found.append(Finding(node.lineno, f"builds a {name} with a message"))
    found += [
        Finding(a.line, f"`.{a.name}` raises with a message you choose")
        for a in source.attributes
        if a.name in RAISING_HELPERS
    ]
    found += dynamic_routes(source)
    return _first_lines(found)


def _called_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


# -- for lint ---------------------------------------------------------------------------------


def names_defined_as_functions(code: str) -> set[str]:
    """Names of the functions and lambdas the code defines at any depth."""
    source = _parse(code)
    if source is None:
        return set()
    names = set()
    for node in source.nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names
