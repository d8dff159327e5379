"""Run the checks against one implementation and collect the results."""

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import Unsatisfiable

from .checks import CHECKS, Defect, Target
from .sandbox import CallFailed, CallTimedOut, Sandbox

__all__ = ["PROFILES", "Result", "Report", "run_check", "verify"]

# Examples per check: "ci" is the default depth (one implementation in well under 60 s
# on two cores), "thorough" searches ten times longer.
PROFILES = {"ci": 30, "thorough": 300}
STATUSES = ("passed", "failed", "not provided", "skipped")


@dataclass
class Result:
    id: str
    capability: str
    status: str
    message: str = ""
    counterexample: object = None
    seconds: float = 0.0


@dataclass
class Report:
    implementation: str
    dtype: str
    checks: list = field(default_factory=list)

    @property
    def ok(self):
        return not any(result.status == "failed" for result in self.checks)

    def as_json(self):
        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "checks": [
                {
                    "id": r.id,
                    "capability": r.capability,
                    "status": r.status,
                    "message": r.message,
                    "counterexample": _jsonable(r.counterexample),
                }
                for r in self.checks
            ],
        }


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@contextlib.contextmanager
def _draws_independent_of_loaded_modules():
    """Hypothesis mixes literals from the source of every loaded local module into what it
    draws, so one check would draw other inputs under pytest than under the command line,
    and give another verdict. The oracle draws without them. This reaches into a private
    part of Hypothesis; where that part is missing, draws merely depend on the loaded
    modules again.
    """
    try:
        from hypothesis.internal.conjecture import providers

        original, cache = providers._get_local_constants, providers.CONSTANTS_CACHE
        empty = type(original())()
    except (ImportError, AttributeError, TypeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.cache.clear()


class _Hang(BaseException):
    """Escapes Hypothesis at once: re-running a hang to shrink it would take forever."""

    def __init__(self, message, inputs):
        super().__init__(message)
        self.inputs = inputs


def run_check(check, sandbox, max_examples, shrink=True):
    """Run one check against the sandboxed implementation; a ``Result``.

    With ``shrink=False`` a failure is reported with the first failing input found, not
    the smallest: faster, for when only the verdict matters.
    """
    target = Target(np.dtype(sandbox.info["dtype"]), sandbox.info["kinds"])
    last = {}

    def call(name, *args):
        try:
            return sandbox.call(name, *args)
        except CallFailed as error:
            raise Defect(f"{name} raised {error.summary} on valid input") from None
        except CallTimedOut as error:
            raise _Hang(str(error), last.get("inputs")) from None

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=[phase for phase in Phase if shrink or phase != Phase.shrink],
    )
    @given(check.inputs)
    def search(inputs):
        last["inputs"] = inputs
        check.verify(call, inputs, target)

    start = time.perf_counter()
    try:
        with _draws_independent_of_loaded_modules():
            search()
        status, message, example = "passed", "", None
    except Defect as defect:  # Hypothesis replays the shrunk example last
        status, message, example = "failed", str(defect), last.get("inputs")
    except _Hang as hang:
        status, message, example = "failed", f"hang: {hang}", hang.inputs
    except Unsatisfiable:
        status, message, example = "skipped", "too few valid examples were generated", None
    return Result(check.id, check.capability, status, message, example, time.perf_counter() - start)


def verify(spec, *, max_examples=None, profile="ci", timeout=10.0, progress=None, checks=None):
    """Run every check on the implementation named by ``spec``; a ``Report``.

    ``progress(index, total, check, result_or_None)`` is called before and after each check.
    """
    examples = max_examples or PROFILES[profile]
    checks = CHECKS if checks is None else checks
    with Sandbox(spec, timeout=timeout) as sandbox:
        report = Report(sandbox.info["name"], sandbox.info["dtype"])
        for index, check in enumerate(checks):
            if progress:
                progress(index, len(checks), check, None)
            if check.capability not in sandbox.info["capabilities"]:
                result = Result(check.id, check.capability, "not provided")
            else:
                result = run_check(check, sandbox, examples)
            report.checks.append(result)
            if progress:
                progress(index, len(checks), check, result)
    return report
