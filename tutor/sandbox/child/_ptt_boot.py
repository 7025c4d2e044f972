"""Starting PyTorch in the sandbox interpreter: the imports a zygote pays once, and warm-up.

Some of torch imports itself lazily on first use: the first optimizer in a process imports
torch._dynamo, sympy and mpmath (~800 modules, over a second). Whatever the curriculum and
typical learner code reach is imported here, in the zygote, so that no spare pays it again. The
zygote does it after its first spares are forked: a run that comes before it is done, and needs
one of these, imports it itself (as slow as waiting, and no slower); the parent replaces the
spares made before.
Each of these imports starts no thread and creates no CUDA context (fork rules); a test checks it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

WARM_IMPORTS = (
    "numpy.random",  # numpy 2 imports it on the first np.random call
    "torch.optim",
    "torch._dynamo",  # the first optimizer's step/constructor pulls it in
    "torch.distributions",
    "torch.nn.functional",
    "torch.utils.data",
    "torch.autograd.graph",
    "torch.testing",
    # Found by `benchmarks/warm_imports.py profile`: still imported by a run's first use.
    "torch.profiler._cupti_monitor",  # record_function, in every optimizer step
    "torch._subclasses.schema_check_mode",  # the first print() of a tensor
    "torch.utils.serialization",  # torch.save / torch.load
)


def import_torch(warm: bool = True) -> tuple[Any, Any]:
    """Import numpy and torch (and, with `warm`, what learner code would import lazily)."""
    # NVML-based availability checks never initialise CUDA, so a forking zygote stays safe.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import numpy as np
    import torch

    if warm:
        for _ in warm_imports():
            pass
    return torch, np


def warm_imports() -> Iterator[str]:
    """Import WARM_IMPORTS one at a time, yielding each name: the zygote does them between
    requests, after its first spares are on their way, so that start-up does not wait for them."""
    for name in WARM_IMPORTS:
        # An older torch may lack one: then a spare pays for it if it is used.
        with contextlib.suppress(Exception):
            importlib.import_module(name)
        yield name


def warm_up(torch: Any, np: Any, device: Any) -> None:
    """A tiny forward, backward and optimizer step, so the job pays no first-use costs."""
    import random

    random.seed(0)
    np.random.seed(0)  # numpy.random and torch's generators initialise lazily
    torch.manual_seed(0)
    w = torch.ones(4, 4, device=device, requires_grad=True)
    (w @ w).sum().backward()
    layer = torch.nn.Linear(4, 2).to(device)
    torch.nn.functional.relu(layer(w)).sum().backward()
    # An optimizer's first step imports torch._dynamo (over a second) unless the zygote has: a
    # spare forked before the zygote's warm imports leaves that to a run that needs it.
    if "torch._dynamo" in sys.modules:
        for make in (torch.optim.SGD, torch.optim.Adam):
            optimizer = make(layer.parameters(), lr=0.1)
            optimizer.step()
            optimizer.zero_grad()
    if device.type == "cuda":
        torch.cuda.synchronize()
