#!/usr/bin/env bash
# The GPU check, as one prepared run on a machine with CUDA (issues 2, 3 and 4): the CUDA
# runner and hostile tests, `pttutor verify --device cuda`, and the latency benchmark on cuda.
# Prints a summary block to paste into docs/gpu.md with the date, GPU and torch version.
#
# The machine needs torch with CUDA; pttutor's other requirements can come as wheels:
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl pydantic pydantic-core annotated-types typing-extensions typing-inspection \
#     pyyaml platformdirs pytest pluggy iniconfig packaging pytest-asyncio
# and there: python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD" PTTUTOR_HOME="$(mktemp -d)"
out="${OUT:-$(mktemp -d)}"
python3 - <<'PY'
import datetime, torch
print("date:", datetime.date.today(), "| torch:", torch.__version__,
      "| GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")
PY
python3 -m pytest -q -p no:cacheprovider -m cuda tests/test_hostile.py tests/test_explain.py \
  tests/test_inspect.py \
  2>&1 | tee "$out/pytest-cuda.log" | tail -5
python3 -m pytest -q -p no:cacheprovider tests/test_runner.py tests/test_pool.py \
  tests/test_trust_boundary.py tests/test_child_semantics.py \
  2>&1 | tee "$out/pytest-runner.log" | tail -3
python3 -m tutor verify --device cuda 2>&1 | tee "$out/verify-cuda.log" | tail -3
python3 benchmarks/latency.py --device cuda --runs 30 --cold-runs 3 2>&1 | tee "$out/bench.log"
