"""The oracle inside anyone's pytest: ``conformance_checks`` parametrizes a test over the checks.

In your own test file::

    from kmeans_rbf.oracle.pytest_route import conformance_checks

    @conformance_checks("mypackage.adapters:MyKMeans")   # or None: $KMEANS_RBF_TARGET
    def test_conformance(check):
        check()

Each check becomes one test: it fails with the shrunk counterexample; it is skipped when
the implementation does not provide that capability, and when the implementation refused
some inputs (and was right on every other) it is skipped with the refusal as the reason,
or fails with ``strict=True``. Without writing a file::

    KMEANS_RBF_TARGET=mypackage.adapters:MyKMeans pytest --pyargs kmeans_rbf.oracle.conformance

(``KMEANS_RBF_STRICT=1`` makes refusals fail there.)
"""

import atexit
import json
import os

import pytest

from .checks import CHECKS
from .runner import PROFILES, jsonable, run_check
from .sandbox import Sandbox
from .scale import SCALE_CHECKS

__all__ = ["conformance_checks", "TARGET_VARIABLE", "STRICT_VARIABLE"]

TARGET_VARIABLE = "KMEANS_RBF_TARGET"
STRICT_VARIABLE = "KMEANS_RBF_STRICT"
_SANDBOXES = {}


def _sandbox(spec, timeout):
    if spec not in _SANDBOXES:
        _SANDBOXES[spec] = Sandbox(spec, timeout=timeout)
    return _SANDBOXES[spec]


@atexit.register
def _close_sandboxes():
    for sandbox in _SANDBOXES.values():
        sandbox.close()


class ConformanceCheck:
    """One check of one implementation, run when called."""

    def __init__(self, spec, check, max_examples, timeout, strict):
        self.spec, self.check, self.max_examples, self.timeout, self.strict = spec, check, max_examples, timeout, strict

    def __call__(self):
        from .runner import _target

        sandbox = _sandbox(self.spec, self.timeout)
        if not self.check.applies(sandbox.info["capabilities"], _target(sandbox)):
            pytest.skip(f"{self.spec} does not provide what {self.check.id} checks ({self.check.capability})")
        result = run_check(self.check, sandbox, self.max_examples)
        example = f"\ncounterexample: {json.dumps(jsonable(result.counterexample))}"
        if result.status == "failed" or (result.status == "refused" and self.strict):
            pytest.fail(f"{self.check.id} ({self.check.description}): {result.message}{example}", pytrace=False)
        if result.status == "refused":
            pytest.skip(f"{self.check.id}: {result.message}{example}")

    def __repr__(self):
        return f"{self.spec}::{self.check.id}"


def conformance_checks(target=None, *, profile="ci", max_examples=None, timeout=10.0, strict=None):
    """``pytest.mark.parametrize`` over every oracle check of ``target`` (argument ``check``).

    ``target`` is ``module:attribute``, ``path/to/file.py:attribute`` or a built-in adapter
    name; None reads the environment variable ``KMEANS_RBF_TARGET`` (no target: one skipped
    test saying so). ``strict`` (default: ``$KMEANS_RBF_STRICT`` == "1") fails refusals.
    """
    spec = target or os.environ.get(TARGET_VARIABLE)
    if not spec:
        return pytest.mark.parametrize(
            "check",
            [pytest.param(None, marks=pytest.mark.skip(reason=f"set {TARGET_VARIABLE}=module:attribute"))],
            ids=["no-target"],
        )
    strict = os.environ.get(STRICT_VARIABLE) == "1" if strict is None else strict
    examples = max_examples or PROFILES[profile]
    cases = [ConformanceCheck(spec, check, examples, timeout, strict) for check in CHECKS + SCALE_CHECKS]
    return pytest.mark.parametrize("check", cases, ids=[c.check.id for c in cases])
