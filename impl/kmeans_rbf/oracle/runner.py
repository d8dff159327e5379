"""Run the checks against one implementation and collect the verdicts.

Four outcomes per check:

* **passed**: every input was accepted and judged right;
* **failed**: a wrong value, NaN/inf where the exact result is finite, a wrong shape or
  dtype, a modified input, an exception that is not a clear refusal, or a hang; reported
  with the shrunk counterexample (small tier) or the smallest failing problem (scale tier);
* **refused**: some inputs were refused with a clear exception (``sandbox.is_refusal``), and
  every input the implementation accepted was judged right. The smallest refused input is
  reported. A refusal never ends the search: the check keeps drawing, so a refusal cannot
  hide a defect. ``strict`` turns refusals into failures;
* **not provided**: the implementation lacks the capability (or every kind the check
  exercises, or the keyword it needs).
"""

import contextlib
import time
from dataclasses import dataclass, field

import numpy as np
from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
from hypothesis.errors import Unsatisfiable

from .checks import CHECKS, Defect, Target, Unjudgeable
from .sandbox import CallFailed, CallRefused, CallTimedOut, Sandbox
from .scale import SCALE_CHECKS

__all__ = ["PROFILES", "STATUSES", "Result", "Report", "run_check", "verify", "jsonable"]

# Examples per check of the small tier: "ci" is the default depth, "thorough" searches ten
# times longer. The scale tier is the same at every depth.
PROFILES = {"ci": 30, "thorough": 300}
STATUSES = ("passed", "failed", "refused", "not provided")


@dataclass
class Result:
    id: str
    capability: str
    status: str
    message: str = ""
    counterexample: object = None
    seconds: float = 0.0
    checked: int = 0  # inputs judged
    refused: int = 0  # inputs refused


@dataclass
class Report:
    implementation: str
    dtype: str
    checks: list = field(default_factory=list)
    strict: bool = False
    error: str = ""  # the target could not be loaded

    @property
    def ran(self):
        return any(result.status in ("passed", "failed", "refused") for result in self.checks)

    @property
    def ok(self):
        """No check failed (nor, if strict, refused), and at least one check ran."""
        bad = ("failed", "refused") if self.strict else ("failed",)
        return not self.error and self.ran and not any(result.status in bad for result in self.checks)

    def as_json(self):
        return {
            "implementation": self.implementation,
            "dtype": self.dtype,
            "strict": self.strict,
            "error": self.error,
            "ok": self.ok,
            "checks": [
                {
                    "id": r.id,
                    "capability": r.capability,
                    "status": r.status,
                    "message": r.message,
                    "counterexample": jsonable(r.counterexample),
                    "checked": r.checked,
                    "refused": r.refused,
                    "seconds": round(r.seconds, 3),
                }
                for r in self.checks
            ],
        }


def jsonable(value):
    """``value`` with arrays as lists and non-finite floats as strings (for JSON)."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _size(value):
    """How big an input is, to report the smallest refused one."""
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value) + len(value)
    if isinstance(value, np.ndarray):
        return value.size
    return 1


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


class _Refusals:
    """The refusals seen by one check: how many, and the smallest input refused."""

    def __init__(self):
        self.count, self.smallest, self.summary = 0, None, ""

    def add(self, inputs, summary):
        self.count += 1
        if self.smallest is None or _size(inputs) < _size(self.smallest):
            self.smallest, self.summary = inputs, summary


def _caller(sandbox, refusals, current):
    def call(name, *args, **kwargs):
        try:
            return sandbox.call(name, *args, **kwargs)
        except CallRefused as refusal:
            refusals.add(current["inputs"], f"{name} refused: {refusal.summary}")
            raise _Refused() from None
        except CallFailed as error:
            raise Defect(f"{name} raised {error.summary} on valid input") from None
        except CallTimedOut as error:
            raise _Hang(str(error), current.get("inputs")) from None

    return call


class _Refused(Exception):
    """Inside a search: this input was refused; it is not judged (and not a defect)."""


def _target(sandbox):
    info = sandbox.info
    return Target(info["dtype"], info["kinds"], info.get("axis_keywords", {}))


def _verdict(check, refusals, checked, seconds, failure=None):
    if failure is not None:
        message, example = failure
        if refusals.count:
            message += f" (also refused {refusals.count} inputs: {refusals.summary})"
        return Result(check.id, check.capability, "failed", message, example, seconds, checked, refusals.count)
    if refusals.count:
        message = (f"refused {refusals.count} of {refusals.count + checked} inputs ({refusals.summary}); "
                   f"every accepted input was right")
        return Result(check.id, check.capability, "refused", message, refusals.smallest, seconds, checked, refusals.count)
    return Result(check.id, check.capability, "passed", "", None, seconds, checked, 0)


def run_check(check, sandbox, max_examples, shrink=True):
    """Run one check against the (sandboxed) implementation; a ``Result``.

    With ``shrink=False`` a failure is reported with the first failing input found, not
    the smallest: faster, for when only the verdict matters.
    """
    if hasattr(check, "cases"):
        return _run_scale_check(check, sandbox)
    target = _target(sandbox)
    refusals, current, counts = _Refusals(), {}, {"checked": 0}
    call = _caller(sandbox, refusals, current)

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
    @given(check.inputs(target))
    def search(inputs):
        current["inputs"] = inputs
        try:
            check.verify(call, inputs, target)
        except (_Refused, Unjudgeable):
            reject()
        counts["checked"] += 1

    start = time.perf_counter()
    failure = None
    try:
        with _draws_independent_of_loaded_modules():
            search()
    except Defect as defect:  # Hypothesis replays the shrunk example last
        failure = (str(defect), current.get("inputs"))
    except _Hang as hang:
        failure = (f"hang: {hang}", hang.inputs)
    except Unsatisfiable:
        if not refusals.count:
            failure = ("the oracle drew no input this check could judge (an oracle defect: please report it)", None)
    return _verdict(check, refusals, counts["checked"], time.perf_counter() - start, failure)


def _run_scale_check(check, sandbox):
    target = _target(sandbox)
    refusals, current = _Refusals(), {}
    call = _caller(sandbox, refusals, current)
    checked, failure = 0, None
    start = time.perf_counter()
    for name, inputs in check.cases(target):
        current["inputs"] = {"scale problem": name, "kind": inputs.get("kind"),
                             "reproduce": f"kmeans_rbf.oracle.scale.build({name!r})"}
        try:
            check.verify(call, inputs, target)
        except (_Refused, Unjudgeable):
            continue  # refused (recorded), or a problem this check cannot judge
        except Defect as defect:
            failure = (f"on scale problem {name!r}: {defect}", current["inputs"])
            break
        except _Hang as hang:
            failure = (f"hang on scale problem {name!r}: {hang}", current["inputs"])
            break
        checked += 1
    return _verdict(check, refusals, checked, time.perf_counter() - start, failure)


def verify(spec, *, max_examples=None, profile="ci", timeout=10.0, progress=None, checks=None, strict=False):
    """Run every check on the implementation named by ``spec``; a ``Report``.

    ``progress(index, total, check, result_or_None)`` is called before and after each check.
    Raises ``sandbox.LoadError`` if the target cannot be loaded.
    """
    examples = max_examples or PROFILES[profile]
    checks = CHECKS + SCALE_CHECKS if checks is None else checks
    with Sandbox(spec, timeout=timeout) as sandbox:
        report = Report(sandbox.info["name"], sandbox.info["dtype"], strict=strict)
        target = _target(sandbox)
        for index, check in enumerate(checks):
            if progress:
                progress(index, len(checks), check, None)
            if not check.applies(sandbox.info["capabilities"], target):
                result = Result(check.id, check.capability, "not provided")
            else:
                result = run_check(check, sandbox, examples)
            report.checks.append(result)
            if progress:
                progress(index, len(checks), check, result)
    return report
