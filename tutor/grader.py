"""Grade a learner's code for one exercise: run it and the reference solution, then judge.

Both runs go through the same `Runner`, on the same device, with the same seeds: the task's own
seed for trial 0, and for the hidden trials (and a function under test's inputs) seeds drawn
here, per run, where the learner's code cannot see them coming. Only an exercise with a single
trial and no function reuses its reference run, cached per exercise content and device.
An author's tools may judge several pieces of code against one `SharedReference` (one draw, one
reference run): `pttutor verify` does, for an exercise's solution, starter and variants. Never a
learner's: their next run must meet seeds they have not seen.
Code that reaches into the tutor's machinery is refused before anything runs. A predict-first
item runs only the lesson's snippet: the learner's prediction is read with `ast`, never run.
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from .checker import (
    Status,
    Verdict,
    blocked,
    check_prediction,
    check_run,
    skipped_for_device,
    unreadable_prediction,
)
from .function_inputs import GeneratedInputs, generate, parameter_names
from .predict import Unreadable, read_prediction
from .rules import harness_reach
from .sandbox.runner import Outcome, RunHandle, Runner, RunRequest, RunResult
from .schema import Exercise


def request_for(
    exercise: Exercise,
    code: str,
    device: str,
    trial_seeds: tuple[int, ...] = (),
    inputs: GeneratedInputs | None = None,
) -> RunRequest:
    if exercise.predict is not None:  # the snippet runs, and the question is asked after it
        exprs: tuple[str, ...] = (exercise.predict.ask,)
    else:
        exprs = tuple(c.expr for c in exercise.checks if c.expr is not None)
    return RunRequest(
        code=code,
        setup=exercise.setup,
        exprs=exprs,
        device=device,
        seed=exercise.seed,
        # `timeout` is per trial: the hidden trials run the same code again
        timeout=exercise.timeout * (1 + len(trial_seeds)),
        inspect=tuple(exercise.inspect),
        sample_input=exercise.sample_input,
        graph=exercise.graph,
        trial_seeds=trial_seeds,
        lib=exercise.pack_lib,
        function=inputs.function if inputs is not None else None,
        call_inputs=inputs.encoded() if inputs is not None else (),
    )


def draw_seed() -> int:
    """A seed the learner's code cannot predict (never stored in the lesson)."""
    return secrets.randbits(31)


def inputs_for(exercise: Exercise, seed: int) -> GeneratedInputs | None:
    """The function under test's inputs for one run, named after the solution's parameters."""
    if exercise.function is None:
        return None
    names = parameter_names(exercise.solution, exercise.function.name)
    return generate(exercise.function, seed, names)


class SharedReference:
    """One draw (hidden seeds, a function's inputs) and one reference run, for several gradings
    of one exercise: the reference runs once, when the first grading needs it."""

    def __init__(self, exercise: Exercise) -> None:
        self.exercise = exercise
        self.seeds = tuple(draw_seed() for _ in range(exercise.trial_count - 1))
        self.inputs = inputs_for(exercise, draw_seed())
        self._future: Future[RunResult] | None = None
        self._lock = threading.Lock()

    def start(self, grading: Grading, device: str) -> Future[RunResult]:
        """The reference run's future, started by the first caller through its grading."""
        with self._lock:
            if self._future is None:
                request = request_for(
                    self.exercise, self.exercise.solution, device, self.seeds, self.inputs
                )
                self._future = grading.grader._pool.submit(grading._run, request)
            return self._future


class Grader:
    """Runs and judges; thread-safe, so the UI can grade from a worker thread."""

    def __init__(self, runner: Runner, device: str = "auto") -> None:
        self.runner = runner
        self.device = device
        self._resolved: str | None = None if device == "auto" else device
        self._cache: dict[tuple[str, str], RunResult] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pttutor-grade")

    @property
    def resolved_device(self) -> str | None:
        """The device runs actually use: known after the first run when `device` is auto."""
        return self._resolved

    def set_device(self, device: str) -> None:
        with self._lock:
            self.device = device
            self._resolved = None if device == "auto" else device

    def _device_for_run(self) -> str:
        return self._resolved or self.device

    def grade(
        self, exercise: Exercise, code: str, shared: SharedReference | None = None
    ) -> Verdict:
        return self.start(exercise, code, shared).verdict()

    def start(
        self, exercise: Exercise, code: str, shared: SharedReference | None = None
    ) -> Grading:
        return Grading(self, exercise, code, shared)

    def grade_solution(self, exercise: Exercise, shared: SharedReference) -> Verdict:
        """The reference solution judged against its own run: its rules, its `expect`
        literals, its raises and its output, on the shared draw. One run where grading it as
        a learner's code would make two of the same request."""
        return Grading(self, exercise, exercise.solution, shared, own_run=True).verdict()

    def cached_reference(self, exercise: Exercise, device: str) -> RunResult | None:
        if not exercise.reference_is_reusable:
            return None
        with self._lock:
            return self._cache.get((exercise.fingerprint(), device))

    def _remember(self, exercise: Exercise, device: str, result: RunResult) -> None:
        if result.outcome is Outcome.COMPLETED and result.device:
            with self._lock:
                if exercise.reference_is_reusable:  # no seeds or inputs drawn per run
                    self._cache[(exercise.fingerprint(), result.device)] = result
                if self.device == "auto" and self._resolved is None:
                    self._resolved = result.device

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.runner.close()


class Grading:
    """One check of one exercise, cancellable from another thread."""

    def __init__(
        self,
        grader: Grader,
        exercise: Exercise,
        code: str,
        shared: SharedReference | None = None,
        own_run: bool = False,
    ) -> None:
        self.grader = grader
        self.exercise = exercise
        self.code = code
        self.shared = shared
        # The code is the exercise's solution, judged on the reference run itself (one run,
        # not two of the same request): `grade_solution`.
        self.own_run = own_run and code == exercise.solution
        self._handles: list[RunHandle] = []
        self._cancelled = False
        self._lock = threading.Lock()

    @property
    def phase(self) -> str:
        """'starting' while any run waits for PyTorch, else 'running' (for the status line)."""
        with self._lock:
            handles = list(self._handles)
        if not handles or any(h.phase == "starting" for h in handles):
            return "starting"
        return "running"

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            handles = list(self._handles)
        for handle in handles:
            handle.cancel()

    def _start(self, request: RunRequest) -> RunHandle | None:
        with self._lock:
            if self._cancelled:
                return None
            handle = self.grader.runner.start(request)
            self._handles.append(handle)
            return handle

    def _run(self, request: RunRequest) -> RunResult:
        handle = self._start(request)
        if handle is None:
            return RunResult(Outcome.CANCELLED, detail="the run was cancelled")
        return handle.result()

    def verdict(self) -> Verdict:
        grader = self.grader
        device = grader._device_for_run()
        if self.exercise.requires == "cuda" and device not in ("cuda", "auto"):
            return skipped_for_device(self.exercise)  # nothing to run: its setup may need CUDA
        if self.exercise.predict is not None:
            return self._prediction_verdict(device)
        reach = harness_reach(self.code)
        if reach:
            return blocked(reach)
        exercise = self.exercise
        shared = self.shared if self.shared is not None else SharedReference(exercise)
        seeds, inputs = shared.seeds, shared.inputs
        reference = grader.cached_reference(exercise, device)
        pending: Future[RunResult] | None = None
        if reference is None:
            # Run the solution alongside the learner's code: two cores, one wait.
            pending = shared.start(self, device)
        if not self.own_run:
            learner = self._run(request_for(exercise, self.code, device, seeds, inputs))
        if pending is not None:
            reference = pending.result()
            grader._remember(self.exercise, device, reference)
        assert reference is not None
        if self.own_run:  # the solution itself: its reference run is its run
            learner = reference
        if (
            learner.outcome is Outcome.COMPLETED
            and self.exercise.requires == "cuda"
            and (learner.device != "cuda")
        ):
            verdict = skipped_for_device(self.exercise)
            verdict.run = learner
            return verdict
        if learner.outcome is Outcome.COMPLETED and reference.outcome is not Outcome.COMPLETED:
            return _reference_failed(learner, reference)
        return check_run(
            exercise,
            learner,
            reference,
            learner.device,
            code=self.code,
            inputs=inputs,
            trials=exercise.trial_count,
        )

    def _prediction_verdict(self, device: str) -> Verdict:
        """A predict-first item: the editor's text is read, never run; only the lesson's
        snippet runs (once per exercise and device: it is fixed), to find the truth."""
        exercise = self.exercise
        assert exercise.predict is not None
        prediction = read_prediction(self.code)
        if isinstance(prediction, Unreadable):
            return unreadable_prediction(exercise, prediction)
        grader = self.grader
        snippet = grader.cached_reference(exercise, device)
        if snippet is None:
            snippet = self._run(request_for(exercise, exercise.predict.snippet, device))
            grader._remember(exercise, device, snippet)
        completed = snippet.outcome is Outcome.COMPLETED
        if completed and exercise.requires == "cuda" and snippet.device != "cuda":
            return skipped_for_device(exercise)
        return check_prediction(exercise, prediction, snippet)


def _reference_failed(learner: RunResult, reference: RunResult) -> Verdict:
    if reference.outcome is Outcome.DEVICE_UNAVAILABLE:
        return Verdict(Status.DEVICE_UNAVAILABLE, reference.detail, run=learner)
    return Verdict(
        Status.INTERNAL_ERROR,
        "the reference solution did not run, so your result cannot be compared",
        run=learner,
        notes=[f"reference run: {reference.outcome.value}: {reference.detail}"],
    )
