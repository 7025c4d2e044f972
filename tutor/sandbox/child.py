"""The sandbox child: runs one exercise snippet and reports what the checks need to see.

STANDALONE (principle 3): this file runs inside the sandbox interpreter, which may be another
Python (a conda env with CUDA) that does not have pttutor installed. It imports only the standard
library, torch and numpy, and never imports the `tutor` package.

Protocol (principle 4, no pickle): results are length-prefixed frames: a JSON `result` event
listing blob sizes, then the blobs (`.npy` bytes). A cold run (`child.py JOB FD`) reads its job
file, sends a `ready` event once torch is imported, then the result, on pipe FD. The warm pool
(`child.py --zygote SOCKET`) is described further down. The learner's stdout and stderr are the
process's own fds 1 and 2, read by the parent.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import random
import struct
import sys
import time
import traceback
import warnings
from collections.abc import Mapping
from typing import Any

USER_FILENAME = "<your code>"
SETUP_FILENAME = "<setup>"
CHECK_FILENAME = "<check>"
MAX_TEXT = 4000  # characters of a string or repr kept in a result
MAX_ITEMS = 10_000  # elements of a list, tuple or dict kept in a result
MAX_DEPTH = 20


class FrameWriter:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send_bytes(self, data: bytes) -> None:
        view = memoryview(struct.pack(">Q", len(data)) + data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_bytes(json.dumps(message, allow_nan=True).encode("utf-8"))


class ResultTooLarge(Exception):
    pass


class Encoder:
    """Turns Python and torch values into JSON-able trees plus `.npy` blobs."""

    def __init__(self, torch: Any, np: Any, budget: int) -> None:
        self.torch = torch
        self.np = np
        self.budget = budget
        self.blobs: list[bytes] = []

    def _blob(self, array: Any) -> int:
        buf = io.BytesIO()
        # np.ascontiguousarray would turn a 0-d array into 1-d; require() keeps the shape.
        array = self.np.require(array, requirements="C")
        self.np.lib.format.write_array(buf, array, allow_pickle=False)
        data = buf.getvalue()
        self.budget -= len(data)
        if self.budget < 0:
            raise ResultTooLarge("the values to check are larger than the result limit")
        self.blobs.append(data)
        return len(self.blobs) - 1

    def encode(self, value: Any, depth: int = 0) -> dict[str, Any]:
        torch, np = self.torch, self.np
        if depth > MAX_DEPTH:
            return {"kind": "object", "type": type(value).__name__, "repr": "<nested too deep>"}
        if value is None:
            return {"kind": "none"}
        if isinstance(value, bool):
            return {"kind": "bool", "value": value}
        if isinstance(value, int):
            return {"kind": "int", "value": value}
        if isinstance(value, float):
            return {"kind": "float", "value": value}
        if isinstance(value, complex):
            return {"kind": "complex", "real": value.real, "imag": value.imag}
        if isinstance(value, str):
            return {"kind": "str", "value": value[:MAX_TEXT], "truncated": len(value) > MAX_TEXT}
        if isinstance(value, torch.Tensor):
            return self.tensor(value)
        if isinstance(value, torch.Size):
            return {"kind": "size", "value": list(value)}
        if isinstance(value, torch.dtype):
            return {"kind": "dtype", "value": str(value)}
        if isinstance(value, torch.device):
            return {"kind": "device", "type": value.type, "index": value.index}
        if isinstance(value, torch.nn.Module):
            return {"kind": "module", "type": type(value).__name__, "repr": safe_repr(value)}
        if isinstance(value, np.ndarray):
            return self.ndarray(value)
        if isinstance(value, np.generic):
            return self.encode(value.item(), depth)
        if isinstance(value, Mapping):
            items = list(value.items())[:MAX_ITEMS]
            return {
                "kind": "dict",
                "keys": [self.encode(k, depth + 1) for k, _ in items],
                "values": [self.encode(v, depth + 1) for _, v in items],
                "length": len(value),
            }
        if isinstance(value, (list, tuple)):
            return {
                "kind": "tuple" if isinstance(value, tuple) else "list",
                "items": [self.encode(v, depth + 1) for v in value[:MAX_ITEMS]],
                "length": len(value),
            }
        if isinstance(value, (set, frozenset)):
            items = sorted(value, key=repr)[:MAX_ITEMS]
            return {"kind": "set", "items": [self.encode(v, depth + 1) for v in items]}
        return {"kind": "object", "type": type(value).__name__, "repr": safe_repr(value)}

    def ndarray(self, array: Any) -> dict[str, Any]:
        header: dict[str, Any] = {
            "kind": "ndarray",
            "dtype": str(array.dtype),
            "shape": list(array.shape),
        }
        if array.dtype.hasobject:
            header["repr"] = safe_repr(array)
            return header
        self._check_size(array.size * array.dtype.itemsize)
        header["blob"] = self._blob(array)
        return header

    def _check_size(self, nbytes: int) -> None:
        if nbytes > self.budget:
            raise ResultTooLarge(
                f"a value to check holds {nbytes / 2**20:.1f} MiB, over the "
                f"{self.budget / 2**20:.1f} MiB left for results"
            )

    def tensor(self, t: Any, with_grad: bool = True) -> dict[str, Any]:
        torch = self.torch
        header: dict[str, Any] = {
            "kind": "tensor",
            "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape),
            "device": t.device.type,
            "requires_grad": bool(t.requires_grad),
            "is_leaf": bool(t.is_leaf),
            "grad_fn": type(t.grad_fn).__name__ if t.grad_fn is not None else None,
            "is_parameter": isinstance(t, torch.nn.Parameter),
        }
        if with_grad:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # .grad of a non-leaf warns; None is the answer
                grad = t.grad
            header["grad"] = self.tensor(grad, with_grad=False) if grad is not None else None
        if t.device.type == "meta":
            header["note"] = "a meta tensor has no values"
            return header
        self._check_size(t.numel() * t.element_size())
        data = t.detach()
        if data.layout != torch.strided:
            data = data.to_dense()
        if data.is_quantized:
            data = data.dequantize()
        if data.dtype in (torch.bfloat16,) or "float8" in str(data.dtype):
            data = data.float()  # exact widening; the header keeps the original dtype
        elif data.dtype == getattr(torch, "complex32", None):
            data = data.to(torch.complex64)
        elif data.dtype in _unsigned_wide(torch):
            data = data.to(torch.int64)
        data = data.cpu().resolve_conj().resolve_neg()
        header["blob"] = self._blob(data.numpy())
        return header


def _unsigned_wide(torch: Any) -> tuple[Any, ...]:
    return tuple(getattr(torch, n) for n in ("uint16", "uint32", "uint64") if hasattr(torch, n))


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a learner's __repr__ may raise anything
        text = f"<repr failed: {type(exc).__name__}: {exc}>"
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def exception_info(exc: BaseException, code: str) -> dict[str, Any]:
    """The learner's exception as data, with line numbers that match their editor."""
    lines = code.splitlines()
    frames = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == USER_FILENAME and frame.lineno is not None:
            text = lines[frame.lineno - 1].strip() if 0 < frame.lineno <= len(lines) else ""
            frames.append({"line": frame.lineno, "function": frame.name, "text": text})
    if isinstance(exc, SyntaxError) and exc.filename == USER_FILENAME and exc.lineno:
        frames.append(
            {
                "line": exc.lineno,
                "function": "<module>",
                "text": (exc.text or "").strip(),
                "column": exc.offset,
            }
        )
    kind = type(exc)
    try:
        message = str(exc)
    except Exception:
        message = "<message could not be read>"
    if isinstance(exc, SyntaxError):
        message = exc.msg
    return {
        "type": kind.__name__,
        "module": kind.__module__,
        "mro": [c.__name__ for c in kind.__mro__],
        "message": message[:MAX_TEXT],
        "frames": frames,
    }


def seed_everything(torch: Any, np: Any, seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA too


def apply_limits(limits: dict[str, Any]) -> None:
    try:
        import resource
    except ImportError:  # not on POSIX: the parent's wall clock is the only limit
        return
    wanted = {
        "RLIMIT_CORE": limits.get("core", 0),
        "RLIMIT_FSIZE": limits.get("fsize"),
        "RLIMIT_CPU": limits.get("cpu"),
        "RLIMIT_DATA": limits.get("data"),
        "RLIMIT_NOFILE": limits.get("nofile"),
    }
    for name, soft in wanted.items():
        if soft is None or not hasattr(resource, name):
            continue
        which = getattr(resource, name)
        hard = soft + 1 if name == "RLIMIT_CPU" else soft
        try:
            _, old_hard = resource.getrlimit(which)
            if old_hard != resource.RLIM_INFINITY:
                soft, hard = min(soft, old_hard), min(hard, old_hard)
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            pass


# ---------------------------------------------------------------------------------------------
# Landlock: the child confines itself before the learner's code runs. Plain ctypes syscalls, so
# the child stays standalone (principle 3) whatever interpreter runs it. Best effort: whatever
# the kernel lacks is reported, never fatal.
# ---------------------------------------------------------------------------------------------

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # same on all arches
_PR_SET_NO_NEW_PRIVS = 38
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1, 1 << 1, 1 << 2, 1 << 3
_FS_ABI1_ALL = (1 << 13) - 1
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP, _NET_CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1, 2
_READ = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR


def _libc() -> Any:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def landlock_abi() -> int:
    if not sys.platform.startswith("linux"):
        return 0
    try:
        abi = int(_libc().syscall(_SYS_CREATE_RULESET, None, 0, 1))  # ..._VERSION flag
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


def _fs_rights(abi: int) -> int:
    rights = _FS_ABI1_ALL
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def read_only_paths() -> list[str]:
    """What the interpreter, torch and numpy may still read: their install and system libs."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(sys.executable)}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    for name in ("torch", "numpy"):
        location = getattr(sys.modules.get(name), "__file__", None)
        if location:
            paths.add(os.path.dirname(os.path.dirname(location)))
    paths.update(("/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc", "/opt", "/sys", "/nix"))
    paths.update(os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep))
    return sorted(p for p in paths if p and os.path.exists(p))


def confine(writable: str, cuda: bool) -> dict[str, Any]:
    """Allow reads of the install, writes only in `writable`; no TCP; no signals out.

    Returns what was enforced, for the sandbox-level badge and `pttutor doctor`.
    """
    import ctypes

    abi = landlock_abi()
    report: dict[str, Any] = {
        "landlock_abi": abi,
        "filesystem": False,
        "network": False,
        "signals": False,
        "missing": [],
    }
    if abi <= 0:
        report["missing"].append("Landlock (needs Linux 5.13+ with Landlock enabled)")
        return report
    libc = _libc()
    fs_rights = _fs_rights(abi)
    net_rights = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs_rights, net_rights, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    buf = ctypes.create_string_buffer(attr[:size], size)
    ruleset = int(libc.syscall(_SYS_CREATE_RULESET, buf, ctypes.c_size_t(size), 0))
    if ruleset < 0:
        report["missing"].append(f"Landlock ruleset (errno {ctypes.get_errno()})")
        return report

    def allow(path: str, rights: int) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            if not os.path.isdir(path):
                rights &= _FS_FILE_ONLY
            rule = ctypes.create_string_buffer(struct.pack("=Qi", rights & fs_rights, fd), 12)
            libc.syscall(_SYS_ADD_RULE, ruleset, 1, rule, 0)  # LANDLOCK_RULE_PATH_BENEATH
        finally:
            os.close(fd)

    try:
        for path in read_only_paths():
            allow(path, _READ)
        allow(writable, fs_rights)
        allow("/proc", _READ | _FS_WRITE_FILE)  # CUDA needs /proc writes (platform facts)
        for dev in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random", "/dev/full"):
            allow(dev, _FS_READ_FILE | _FS_WRITE_FILE)
        allow("/dev/shm", fs_rights)
        if cuda:
            for entry in sorted(os.listdir("/dev")):
                if entry.startswith("nvidia"):
                    allow(f"/dev/{entry}", _FS_READ_FILE | _FS_WRITE_FILE | _FS_IOCTL_DEV)
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        if int(libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0)) != 0:
            report["missing"].append(f"Landlock enforcement (errno {ctypes.get_errno()})")
            return report
    finally:
        os.close(ruleset)
    report["filesystem"] = True
    report["network"] = bool(net_rights)
    report["signals"] = bool(scoped)
    if not net_rights:
        report["missing"].append("TCP blocking (needs Landlock ABI 4, Linux 6.7)")
    if not scoped:
        report["missing"].append("signal scoping (needs Landlock ABI 6, Linux 6.12)")
    return report


def sandbox_level(report: dict[str, Any]) -> str:
    if not report.get("filesystem"):
        return "none"
    return "full" if report.get("network") and report.get("signals") else "partial"


def resolve_device(torch: Any, wanted: str) -> tuple[Any, str | None]:
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        reason = (
            "this PyTorch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible to this interpreter"
        )
        return (
            None,
            f"CUDA was asked for, but {reason} ({sys.executable}, torch {torch.__version__})",
        )
    return torch.device(wanted), None


# ---------------------------------------------------------------------------------------------
# Inspection: after the checks, what the learner built, for the structure and autograd views.
# Plain JSON, capped in size; it never fails a run (any exception becomes that section's
# `error`), and it runs after the check values are taken, so a forward pass over a sample input
# (which runs the learner's hooks) cannot change what is checked.
# ---------------------------------------------------------------------------------------------

MAX_MODULE_NODES = 250  # modules reported, all roots together
MAX_MODULE_DEPTH = 12
MAX_ROOT_MODULES = 16
MAX_PARAMS_SHOWN = 16  # parameters listed per module (the counts cover them all)
MAX_NAMED_PARAMS = 4000  # parameters named for the graph's leaves (model.fc.weight)
MAX_GRAPH_NODES = 200
MAX_GRAPH_DEPTH = 64
MAX_CUT_TENSORS = 20
INSPECT_SECONDS = 1.0  # at most this long, and at most half the time the run has left
INSPECT_FILENAME = "<inspect>"
_HOOK_ATTRIBUTES = (
    ("forward_pre", "_forward_pre_hooks"),
    ("forward", "_forward_hooks"),
    ("backward_pre", "_backward_pre_hooks"),
    ("backward", "_backward_hooks"),
)


class _InspectTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Any:
    """Raise _InspectTimeout in the main thread after `seconds` (where SIGALRM exists)."""
    import signal

    if not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise _InspectTimeout(f"inspection stopped after {seconds:.2f} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _short_error(exc: BaseException) -> str:
    try:
        text = f"{type(exc).__name__}: {exc}"
    except Exception:
        text = type(exc).__name__
    return text[:300]


def _eval_in(expr: str, namespace: dict[str, Any]) -> Any:
    return eval(compile(expr, INSPECT_FILENAME, "eval"), dict(namespace))


def _learner_items(namespace: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (k, v)
        for k, v in list(namespace.items())
        if isinstance(k, str) and not k.startswith("_") and k != "device"
    ]


def inspect_run(
    spec: dict[str, Any], namespace: dict[str, Any], torch: Any, seconds: float
) -> dict[str, Any]:
    """The `inspect` section of a result: {"structure": ..., "graph": ...}."""
    report: dict[str, Any] = {}
    if seconds < 0.01:
        note = "skipped: the run used nearly all of its time"
        return {"structure": {"error": note}, "graph": {"error": note}}
    with _time_limit(seconds):
        for key, build in (("structure", _structure), ("graph", _graph)):
            try:
                report[key] = build(spec, namespace, torch)
            except BaseException as exc:  # the learner's modules may raise anything
                report[key] = {"error": _short_error(exc)}
    return report


def _structure(spec: dict[str, Any], namespace: dict[str, Any], torch: Any) -> dict[str, Any]:
    import itertools

    Module = torch.nn.Module
    problems: list[str] = []
    candidates: list[tuple[str, Any]] = []
    names = [n for n in spec.get("names") or [] if isinstance(n, str)]
    if names:
        for expr in names:
            try:
                value = _eval_in(expr, namespace)
            except Exception as exc:
                problems.append(f"{expr}: {_short_error(exc)}")
                continue
            if isinstance(value, Module):
                candidates.append((expr, value))
            else:
                problems.append(f"{expr} is a {type(value).__name__}, not an nn.Module")
    else:
        candidates = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, Module)]
    unique: list[tuple[str, Any]] = []
    seen: set[int] = set()
    inside: set[int] = set()
    for name, module in candidates:
        if id(module) in seen:
            continue  # another name for a module already listed
        seen.add(id(module))
        unique.append((name, module))
        if not names:
            descendants = itertools.islice(module.modules(), 1, 20_000)
            inside.update(id(m) for m in descendants)
    roots = [(n, m) for n, m in unique if id(m) not in inside]
    state: dict[str, Any] = {"nodes": 0, "truncated": False, "where": {}, "torch": torch}
    nodes = [_module_node(n, n, m, 0, state) for n, m in roots[:MAX_ROOT_MODULES]]
    total = trainable = 0
    counted: set[int] = set()
    for _, module in roots:
        for p in module.parameters():
            if id(p) not in counted:
                counted.add(id(p))
                count = _numel(p)
                total += count
                trainable += count if p.requires_grad else 0
    report: dict[str, Any] = {
        "modules": nodes,
        "total_params": total,
        "trainable_params": trainable,
        "truncated": state["truncated"] or len(roots) > MAX_ROOT_MODULES,
        "roots_more": max(0, len(roots) - MAX_ROOT_MODULES),
        "problems": problems,
    }
    sample = spec.get("sample_input")
    if isinstance(sample, str) and sample and roots:
        report["sample_input"] = sample
        report["sample_errors"] = _output_shapes(sample, namespace, roots, state, torch)
    return report


def _numel(t: Any) -> int:
    try:
        return int(t.numel())
    except Exception:  # a lazy module's UninitializedParameter has no size yet
        return 0


def _shape(t: Any) -> list[int] | None:
    try:
        return [int(d) for d in t.shape]
    except Exception:
        return None


def _module_node(name: str, path: str, module: Any, depth: int, state: dict[str, Any]) -> Any:
    state["nodes"] += 1
    where = state["where"]
    node: dict[str, Any] = {"name": name, "path": path, "type": type(module).__name__}
    if id(module) in where:
        node["same_as"] = where[id(module)]["path"]  # shared: listed once, counted once
        return node
    where[id(module)] = node
    params = []
    own = 0
    devices: set[str] = set()
    tensor_hooks = 0
    for pname, p in module.named_parameters(recurse=False):
        count = _numel(p)
        own += count
        devices.add(str(p.device))
        tensor_hooks += len(getattr(p, "_backward_hooks", None) or ())
        tensor_hooks += len(getattr(p, "_post_accumulate_grad_hooks", None) or ())
        params.append(
            {
                "name": pname,
                "shape": _shape(p),
                "count": count,
                "trainable": bool(p.requires_grad),
                "dtype": str(p.dtype).removeprefix("torch."),
            }
        )
    buffers = []
    for bname, b in module.named_buffers(recurse=False):
        devices.add(str(b.device))
        buffers.append(
            {"name": bname, "shape": _shape(b), "dtype": str(b.dtype).removeprefix("torch.")}
        )
    total = trainable = 0
    for p in module.parameters():
        count = _numel(p)
        total += count
        trainable += count if p.requires_grad else 0
    hooks = {}
    for key, attribute in _HOOK_ATTRIBUTES:
        count = len(module.__dict__.get(attribute) or ())
        if count:
            hooks[key] = count
    if tensor_hooks:
        hooks["tensor"] = tensor_hooks
    node.update(
        params=params[:MAX_PARAMS_SHOWN],
        params_more=max(0, len(params) - MAX_PARAMS_SHOWN),
        buffers=buffers[:MAX_PARAMS_SHOWN],
        own_params=own,
        total_params=total,
        trainable_params=trainable,
        device=", ".join(sorted(devices)) if devices else None,
        hooks=hooks,
        training=bool(module.training),
        children=[],
        children_more=0,
    )
    for child_name, child in module.named_children():
        if depth + 1 > MAX_MODULE_DEPTH or state["nodes"] >= MAX_MODULE_NODES:
            node["children_more"] += 1
            state["truncated"] = True
            continue
        child_path = f"{path}.{child_name}"
        node["children"].append(_module_node(child_name, child_path, child, depth + 1, state))
    return node


def _output_shapes(
    expr: str,
    namespace: dict[str, Any],
    roots: list[tuple[str, Any]],
    state: dict[str, Any],
    torch: Any,
) -> list[str]:
    """Run each root model on the sample input with forward hooks; note every output shape."""
    try:
        value = _eval_in(expr, namespace)
    except Exception as exc:
        return [f"{expr}: {_short_error(exc)}"]
    args = value if isinstance(value, tuple) else (value,)
    nodes = state["where"]
    seen: dict[int, Any] = {}
    handles = []
    errors = []

    def hook_for(key: int) -> Any:
        def hook(module: Any, inputs: Any, output: Any) -> None:
            if key not in seen:
                seen[key] = _output_shape(output, torch, 0)

        return hook

    try:
        for _name, root in roots[:MAX_ROOT_MODULES]:
            for module in root.modules():
                if id(module) in nodes and id(module) not in seen:
                    handles.append(module.register_forward_hook(hook_for(id(module))))
        with torch.no_grad():
            for name, root in roots[:MAX_ROOT_MODULES]:
                try:
                    root(*args)
                except _InspectTimeout:
                    raise
                except Exception as exc:
                    errors.append(f"{name}({expr}): {_short_error(exc)}")
    finally:
        for handle in handles:
            handle.remove()
    for key, shape in seen.items():
        nodes[key]["output_shape"] = shape
    return errors


def _output_shape(value: Any, torch: Any, depth: int) -> Any:
    if isinstance(value, torch.Tensor):
        return _shape(value)
    if depth < 2 and isinstance(value, (tuple, list)):
        return [_output_shape(v, torch, depth + 1) for v in value[:8]]
    if depth < 2 and isinstance(value, Mapping):
        return {str(k): _output_shape(v, torch, depth + 1) for k, v in list(value.items())[:8]}
    return type(value).__name__


def _graph(spec: dict[str, Any], namespace: dict[str, Any], torch: Any) -> dict[str, Any] | None:
    """The grad_fn graph of one tensor, as a tree; where nodes repeat, a reference."""
    import itertools

    tensors = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, torch.Tensor)]
    expr = spec.get("graph")
    label: str | None
    if isinstance(expr, str) and expr:
        label, target = expr, _eval_in(expr, namespace)
        if not isinstance(target, torch.Tensor):
            return {"target": expr, "error": f"{expr} is a {type(target).__name__}, not a tensor"}
    else:
        label, target = _default_graph_target(tensors)
        if target is None:
            return None
    names: dict[int, str] = {}
    for k, v in tensors:
        names.setdefault(id(v), k)
    modules = [(k, v) for k, v in _learner_items(namespace) if isinstance(v, torch.nn.Module)]
    named = itertools.chain.from_iterable(
        ((f"{k}.{n}", p) for n, p in m.named_parameters()) for k, m in modules
    )
    for pname, p in itertools.islice(named, MAX_NAMED_PARAMS):
        names.setdefault(id(p), pname)
    keep: list[Any] = []  # grad_fn wrappers stay alive, so their ids stay unique
    variables: dict[int, str] = {}
    for k, v in tensors:
        fn = v.grad_fn
        if fn is not None:
            keep.append(fn)
            variables.setdefault(id(fn), k)
    state: dict[str, Any] = {"ids": {}, "truncated": False, "leaves": {}, "torch": torch}
    report: dict[str, Any] = {
        "target": label,
        "shape": _shape(target),
        "requires_grad": bool(target.requires_grad),
        "grad_fn": type(target.grad_fn).__name__ if target.grad_fn is not None else None,
        "root": None,
    }
    if target.grad_fn is not None:
        report["root"] = _graph_node(target.grad_fn, 0, state, names, variables, keep)
    elif target.requires_grad:
        report["note"] = f"{label} is a leaf: it has no grad_fn, gradients stop in it"
    else:
        report["note"] = (
            f"{label} has no grad_fn: autograd recorded nothing (no tensor it came from "
            "required grad, or it was computed under torch.no_grad() or detached)"
        )
    report["nodes"] = len(state["ids"])
    report["truncated"] = state["truncated"]
    in_graph: dict[int, str] = {}
    for k, v in tensors:
        if v.requires_grad:
            in_graph.setdefault(_storage(v), k)
    for ptr, name in state["leaves"].items():
        in_graph.setdefault(ptr, name)
    in_graph.pop(0, None)
    cut = []
    for k, v in tensors:
        if v is target or v.requires_grad or not (v.is_floating_point() or v.is_complex()):
            continue  # the target's own note says whether it is tracked
        entry: dict[str, Any] = {"name": k, "shape": _shape(v)}
        source = in_graph.get(_storage(v))
        if source is not None and source != k:
            entry["detached_from"] = source
        cut.append(entry)
    report["cut"] = cut[:MAX_CUT_TENSORS]
    report["cut_more"] = max(0, len(cut) - MAX_CUT_TENSORS)
    return report


def _default_graph_target(tensors: list[tuple[str, Any]]) -> tuple[str | None, Any]:
    """`loss` or `out` when the code made one, else the last scalar with a grad_fn, else the
    last tensor with a grad_fn."""
    by_name = dict(tensors)
    for name in ("loss", "out"):
        if name in by_name:
            return name, by_name[name]
    with_history = [(k, v) for k, v in tensors if v.grad_fn is not None]
    scalars = [(k, v) for k, v in with_history if _numel(v) == 1]
    for choice in (scalars, with_history):
        if choice:
            return choice[-1]
    return None, None


def _storage(t: Any) -> int:
    try:
        return int(t.untyped_storage().data_ptr())
    except Exception:  # sparse and other storage-less tensors
        return 0


def _graph_node(
    fn: Any,
    depth: int,
    state: dict[str, Any],
    names: dict[int, str],
    variables: dict[int, str],
    keep: list[Any],
) -> dict[str, Any] | None:
    ids = state["ids"]
    node: dict[str, Any] = {"name": type(fn).__name__}
    if id(fn) in variables:
        node["var"] = variables[id(fn)]
    if id(fn) in ids:
        node.update(id=ids[id(fn)], repeat=True)
        return node
    if len(ids) >= MAX_GRAPH_NODES:
        state["truncated"] = True
        return None
    keep.append(fn)
    node["id"] = ids[id(fn)] = len(ids)
    variable = getattr(fn, "variable", None) if node["name"] == "AccumulateGrad" else None
    if variable is not None:
        leaf_name = names.get(id(variable))
        node["leaf"] = {
            "name": leaf_name,
            "shape": _shape(variable),
            "dtype": str(variable.dtype).removeprefix("torch."),
            "device": str(variable.device),
            "requires_grad": bool(variable.requires_grad),
            "is_parameter": isinstance(variable, state["torch"].nn.Parameter),
            "has_grad": variable.grad is not None,
        }
        state["leaves"].setdefault(_storage(variable), leaf_name or "a leaf")
    children: list[dict[str, Any]] = []
    more = 0
    for child, _ in getattr(fn, "next_functions", ()) or ():
        if child is None:
            continue  # an input that needs no gradient (a constant, or data)
        built = (
            _graph_node(child, depth + 1, state, names, variables, keep)
            if depth + 1 < MAX_GRAPH_DEPTH
            else None
        )
        if built is None:
            more += 1
            state["truncated"] = True
        else:
            children.append(built)
    node["children"] = children
    node["more"] = more
    return node


def run_job(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    """Run setup and the learner's code, evaluate the check expressions, send the result."""
    result: dict[str, Any] = {"event": "result", "torch": torch.__version__}
    if "sandbox" in job:
        result["sandbox"] = {**job["sandbox"], "level": sandbox_level(job["sandbox"])}
    device, problem = resolve_device(torch, job.get("device", "cpu"))
    if problem is not None:
        result["device_error"] = problem
        out.send_json(result)
        return
    result["device"] = device.type
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
        # An oversize request becomes OutOfMemoryError (a "memory limit" verdict) instead of
        # taking the whole GPU from the learner's other work.
        fraction = float(job.get("limits", {}).get("gpu_memory_fraction", 0.5))
        torch.cuda.set_per_process_memory_fraction(fraction, device)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, "device": device}
    seed = int(job.get("seed", 0))
    clock = time.perf_counter
    timings = result["timings"] = {"received": job.get("received", clock())}
    timings["start"] = clock()

    seed_everything(torch, np, seed)
    try:
        exec(compile(job.get("setup", ""), SETUP_FILENAME, "exec"), namespace)
    except BaseException as exc:
        result["setup_error"] = exception_info(exc, "")
        result["setup_error"]["traceback"] = "".join(traceback.format_exception(exc))[-MAX_TEXT:]
        out.send_json(result)
        return

    timings["setup_done"] = clock()
    code = job["code"]
    seed_everything(torch, np, seed)  # so a learner's extra torch.rand() cannot shift setup data
    started = time.perf_counter()
    try:
        exec(compile(code, USER_FILENAME, "exec"), namespace)
        if device.type == "cuda":
            torch.cuda.synchronize()  # surface asynchronous CUDA errors as the learner's
    except BaseException as exc:
        result["exception"] = exception_info(exc, code)
    result["code_seconds"] = time.perf_counter() - started
    timings["code_done"] = clock()
    _flush_std_streams()

    encoder = Encoder(torch, np, int(job.get("result_budget", 64 * 2**20)))
    values: dict[str, Any] = {}
    with open(os.devnull, "w") as devnull:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = devnull  # checks must not add to the learner's output
        try:
            for expr in job.get("exprs", []):
                try:
                    value = eval(compile(expr, CHECK_FILENAME, "eval"), dict(namespace))
                    values[expr] = {"value": encoder.encode(value)}
                except ResultTooLarge as exc:
                    values[expr] = {"too_large": str(exc)}
                except BaseException as exc:
                    values[expr] = {"error": exception_info(exc, "")}
            timings["checks_done"] = clock()
            spec = job.get("inspect")
            if spec is not None:
                left = float(spec.get("timeout", 10.0)) - (clock() - timings["start"])
                try:
                    result["inspect"] = inspect_run(
                        spec, namespace, torch, min(INSPECT_SECONDS, left / 2)
                    )
                except BaseException as exc:  # e.g. the time limit, between two sections
                    result["inspect"] = {"error": _short_error(exc)}
                timings["inspect_done"] = clock()
        finally:
            sys.stdout, sys.stderr = saved
    result["values"] = values
    result["blobs"] = [len(b) for b in encoder.blobs]
    base = timings["received"]
    result["timings"] = {k: round((v - base) * 1000, 3) for k, v in timings.items()}  # ms
    _detach_std_streams()  # the parent sees end-of-output now, not when we exit
    out.send_json(result)
    for blob in encoder.blobs:
        out.send_bytes(blob)


def _detach_std_streams() -> None:
    _flush_std_streams()
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.close(devnull)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


def _run_and_report(job: dict[str, Any], out: FrameWriter, torch: Any, np: Any) -> None:
    try:
        run_job(job, out, torch, np)
    except BaseException as exc:  # a bug of ours, not the learner's: report it as such
        out.send_json(
            {
                "event": "result",
                "internal_error": "".join(traceback.format_exception(exc))[-MAX_TEXT:],
            }
        )
    _flush_std_streams()
    # Skip atexit handlers and non-daemon threads the learner may have left hanging.
    os._exit(0)


def _import_torch() -> tuple[Any, Any]:
    # NVML-based availability checks never initialise CUDA, so a forking zygote stays safe.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import numpy as np
    import numpy.random  # lazily imported by numpy 2: 10 ms on a run's first np.random call
    import torch

    return torch, np


def cold_main(job_path: str, fd: int) -> None:
    """One run in a fresh interpreter: read the job file, import torch, run, exit."""
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    out = FrameWriter(fd)
    apply_limits(job.get("limits", {}))
    started = time.perf_counter()
    torch, np = _import_torch()
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    out.send_json({"event": "ready", "import_seconds": time.perf_counter() - started})
    wanted = job.get("device", "cpu")
    cuda = wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available())
    job["sandbox"] = confine(os.getcwd(), cuda=cuda)
    _run_and_report(job, out, torch, np)


# ---------------------------------------------------------------------------------------------
# The warm pool. A zygote imports torch and nothing else, then forks "spares" on request. Each
# spare warms itself up on its device, connects to the parent's Unix socket, and waits for one
# job: the parent sends the job with the write ends of fresh stdout/stderr pipes (SCM_RIGHTS).
# See shared/platform-facts.md for the fork rules this follows.
# ---------------------------------------------------------------------------------------------


def _prctl(option: int, value: int) -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _connect(sock_path: str) -> Any:
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sock_path)
    return sock


def _read_exactly(sock: Any, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the parent closed the connection")
        data += chunk
    return bytes(data)


def _read_frame(sock: Any) -> bytes:
    (size,) = struct.unpack(">Q", _read_exactly(sock, 8))
    return _read_exactly(sock, size)


def warm_up(torch: Any, np: Any, device: Any) -> None:
    """A tiny forward and backward, so the job itself pays no first-use costs."""
    seed_everything(torch, np, 0)  # numpy.random and torch's generators initialise lazily
    w = torch.ones(4, 4, device=device, requires_grad=True)
    (w @ w).sum().backward()
    torch.nn.functional.relu(torch.nn.Linear(4, 2).to(device)(w)).sum().backward()
    if device.type == "cuda":
        torch.cuda.synchronize()


def spare_main(sock_path: str, wanted: str, torch: Any, np: Any, forked: bool) -> None:
    """Become a ready-to-run child: warm up, say so, wait for one job, run it, exit."""
    if forked:
        os.setsid()  # its own session, so the parent can kill everything it starts
        _prctl(PR_SET_PDEATHSIG, 9)  # die with the zygote
    sock = _connect(sock_path)
    out = FrameWriter(sock.fileno())
    import tempfile

    workdir = tempfile.mkdtemp(prefix="pttutor-run-")
    # Everything that asks for a temporary directory from now on (torch's caches among them)
    # must get the one place this process may write.
    tempfile.tempdir = workdir
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    hello: dict[str, Any] = {
        "event": "spare",
        "pid": os.getpid(),
        "wanted": wanted,
        "workdir": workdir,
    }
    started = time.perf_counter()
    try:
        device, problem = resolve_device(torch, wanted)
        if problem is not None:
            hello["error"] = problem
        else:
            hello["device"] = device.type
            # Confined before warming up, so no thread the warm-up starts escapes the rules.
            hello["sandbox"] = confine(workdir, cuda=device.type == "cuda")
            warm_up(torch, np, device)
    except BaseException as exc:
        hello["error"] = f"warming up on {wanted} failed: {type(exc).__name__}: {exc}"
    hello["warm_seconds"] = time.perf_counter() - started
    out.send_json(hello)
    if "error" in hello:
        os._exit(0)
    import socket

    _, fds, _, _ = socket.recv_fds(sock, 1, 2)
    received = time.perf_counter()
    job = json.loads(_read_frame(sock))
    job["received"] = received
    if len(fds) == 2:
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in fds:
            os.close(fd)
    os.chdir(workdir)
    apply_limits(job.get("limits", {}))
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    job["sandbox"] = hello["sandbox"]
    _run_and_report(job, out, torch, np)


def _reap_and_sweep(ctl: Any, spares: set[int]) -> None:
    """Reap exited children, report spares' exit statuses, kill escaped orphans."""
    reaped_spare = False
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        if pid in spares:
            spares.discard(pid)
            reaped_spare = True
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            FrameWriter(ctl.fileno()).send_json({"event": "exit", "pid": pid, "code": code})
    if reaped_spare:
        _kill_orphans(spares)


def _kill_orphans(spares: set[int]) -> None:
    """As a subreaper we inherit whatever a run left behind (setsid + fork): kill it."""
    me = os.getpid()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    for entry in entries:
        if not entry.isdigit() or int(entry) in spares:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me:
            with contextlib.suppress(OSError):
                os.kill(int(entry), 9)


def _nvml_device_name() -> str | None:
    """The first GPU's name without creating a CUDA context (which would break fork)."""
    import ctypes

    for name in ("libnvidia-ml.so.1", "libnvidia-ml.so"):
        try:
            nvml = ctypes.CDLL(name)
        except OSError:
            continue
        handle = ctypes.c_void_p()
        buf = ctypes.create_string_buffer(96)
        if nvml.nvmlInit_v2() != 0:
            return None
        try:
            if nvml.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(handle)) != 0:
                return None
            if nvml.nvmlDeviceGetName(handle, buf, 96) != 0:
                return None
            return buf.value.decode("utf-8", "replace")
        finally:
            nvml.nvmlShutdown()
    return None


def zygote_main(sock_path: str) -> None:
    """Import torch, then fork a spare per request until the parent goes away."""
    import selectors

    # No PDEATHSIG here: it fires when the parent *thread* that started us ends, and the app
    # starts the pool from short-lived threads. The control socket's EOF tells us instead.
    started = time.perf_counter()
    torch, np = _import_torch()
    torch.set_num_threads(1)  # an OpenMP pool would not survive fork; spares set their own
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    ctl = _connect(sock_path)
    info: dict[str, Any] = {
        "event": "zygote",
        "pid": os.getpid(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "cuda_build": torch.version.cuda,
        "cuda": bool(torch.cuda.is_available()),  # NVML-based: no CUDA context here
        "device_name": _nvml_device_name(),
        "import_seconds": time.perf_counter() - started,
    }
    FrameWriter(ctl.fileno()).send_json(info)
    spares: set[int] = set()
    selector = selectors.DefaultSelector()
    selector.register(ctl, selectors.EVENT_READ)
    while True:
        if selector.select(timeout=0.2):
            try:
                command = json.loads(_read_frame(ctl))
            except (EOFError, OSError, ValueError):
                break  # the parent is gone
            if command.get("cmd") == "spare":
                pid = os.fork()
                if pid == 0:
                    selector.close()
                    ctl.close()
                    try:
                        spare_main(sock_path, command.get("device", "cpu"), torch, np, True)
                    finally:
                        os._exit(0)
                spares.add(pid)
        _reap_and_sweep(ctl, spares)
    for pid in spares:
        with contextlib.suppress(OSError):
            os.killpg(pid, 9)
    os._exit(0)


def main(argv: list[str]) -> None:
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "--zygote":
        zygote_main(argv[2])
    elif mode == "--spare":
        # A single-use spare started as a fresh interpreter: where fork is unsafe (macOS).
        torch, np = _import_torch()
        spare_main(argv[2], argv[3], torch, np, False)
    else:
        cold_main(argv[1], int(argv[2]))


if __name__ == "__main__":
    main(sys.argv)
