"""Verdicts as plain text (for `pttutor check`) and as stable JSON (for scripts and grading)."""

from __future__ import annotations

from typing import Any

from .checker import CheckState, Verdict
from .inspect_model import summary_lines
from .textsafe import inert

JSON_FORMAT_VERSION = 1
_MARKS = {CheckState.PASSED: "✓", CheckState.FAILED: "✗", CheckState.SKIPPED: "-"}


def verdict_text(ref: str, verdict: Verdict) -> str:
    """Plain text for a terminal; everything from the snippet or torch is made inert first."""
    return inert(_verdict_lines(ref, verdict))


def _verdict_lines(ref: str, verdict: Verdict) -> str:
    lines = [f"{ref}: {verdict.status.title}: {verdict.summary}"]
    error = verdict.exception
    if error is not None:
        for frame in error.frames:
            lines.append(f"  line {frame.line}: {frame.text}")
        lines.append(f"  {error.headline()}")
        if error.operands:
            lines.append("  on that line: " + "; ".join(o.describe() for o in error.operands))
        if verdict.explanation is not None:
            lines.append(f"  why: {verdict.explanation.text}")
            pointer = verdict.explanation.pointer()
            if pointer is not None:  # None: no lesson in the curriculum teaches this fix
                lines.append(f"  {pointer}")
    for check in verdict.checks:
        lines.append(
            f"  {_MARKS[check.state]} {check.label}"
            + (f": {check.message}" if check.message else "")
        )
        lines.extend(f"      {d}" for d in check.details)
        if check.state is CheckState.FAILED and check.explain:
            explain = check.explain.strip().replace("\n", "\n            ")
            lines.append(f"      hint: {explain}")
    prediction = verdict.prediction
    if prediction is not None and prediction.explain:  # right or wrong: why it is so
        explain = prediction.explain.strip().replace("\n", "\n       ")
        lines.append(f"  why: {explain}")
    lines.extend(f"  note: {n}" for n in verdict.notes)
    run = verdict.run
    if run is not None and run.stdout.strip():
        lines.append("  output:")
        lines.extend(f"    {line}" for line in run.stdout.rstrip().splitlines()[:40])
    if run is not None and run.structure is not None and run.structure.modules:
        lines.append("  model structure:")
        lines.extend(f"    {line}" for line in summary_lines(run.structure))
    return "\n".join(lines)


def verdict_json(ref: str, verdict: Verdict) -> dict[str, Any]:
    """The documented, stable shape of `pttutor check --json` (see docs/lessons.md)."""
    run = verdict.run
    error = verdict.exception
    return {
        "format": JSON_FORMAT_VERSION,
        "exercise": ref,
        "status": verdict.status.value,
        "passed": verdict.passed,
        "summary": verdict.summary,
        "checks": [
            {
                "name": c.label,
                "status": c.state.value,
                "message": c.message,
                "details": list(c.details),
                "explain": c.explain,
                "tensor_report": c.tensor_report.to_json() if c.tensor_report else None,
                "trial": c.trial,
            }
            for c in verdict.checks
        ],
        "notes": verdict.notes,
        "prediction": verdict.prediction.to_json() if verdict.prediction else None,
        "explanation": verdict.explanation.to_json() if verdict.explanation else None,
        "error": None
        if error is None
        else {
            "type": error.type,
            "message": error.message,
            "line": error.line,
            "frames": [{"line": f.line, "text": f.text} for f in error.frames],
            "operands": [
                {"expr": o.expr, "dtype": o.dtype, "shape": list(o.shape), "device": o.device}
                for o in error.operands
            ],
        },
        "stdout": run.stdout if run else "",
        "stderr": run.stderr if run else "",
        "output_truncated": run.output_truncated if run else False,
        "device": run.device if run else None,
        "torch": run.torch_version if run else None,
        "seconds": round(run.wall_seconds, 3) if run else None,
        "structure": run.structure.to_json() if run and run.structure else None,
        "graph": run.graph.to_json() if run and run.graph else None,
    }
