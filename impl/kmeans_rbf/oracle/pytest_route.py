"""The oracle inside anyone's pytest: ``conformance_checks`` parametrizes a test over the checks.

In your own test file::

    from kmeans_rbf.oracle.pytest_route import conformance_checks

    @conformance_checks("mypackage.adapters:MyKMeans")   # or None: $KMEANS_RBF_TARGET
    def test_conformance(check):
        check()

Each check becomes one test: it fails with the shrunk counterexample, and is skipped when
the implementation does not provide that capability. Without writing a file::

    KMEANS_RBF_TARGET=mypackage.adapters:MyKMeans pytest --pyargs kmeans_rbf.oracle.conformance
"""

import atexit
import json
import os

import pytest

from .checks import CHECKS
from .runner import PROFILES, run_check
from .sandbox import Sandbox

__all__ = ["conformance_checks", "TARGET_VARIABLE"]

TARGET_VARIABLE = "KMEANS_RBF_TARGET"
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

    def __init__(self, spec, check, max_examples, timeout):
        self.spec, self.check, self.max_examples, self.timeout = spec, check, max_examples, timeout

    def __call__(self):
        sandbox = _sandbox(self.spec, self.timeout)
        if self.check.capability not in sandbox.info["capabilities"]:
            pytest.skip(f"{self.spec} does not provide {self.check.capability}")
        result = run_check(self.check, sandbox, self.max_examples)
        if result.status == "skipped":
            pytest.skip(result.message)
        if result.status == "failed":
            from .runner import _jsonable

            pytest.fail(
                f"{self.check.id} ({self.check.description}): {result.message}\n"
                f"counterexample (shrunk): {json.dumps(_jsonable(result.counterexample))}",
                pytrace=False,
            )

    def __repr__(self):
        return f"{self.spec}::{self.check.id}"


def conformance_checks(target=None, *, profile="ci", max_examples=None, timeout=10.0):
    """``pytest.mark.parametrize`` over every oracle check of ``target`` (argument ``check``).

    ``target`` is ``module:attribute`` or a built-in adapter name; None reads the
    environment variable ``KMEANS_RBF_TARGET`` (no target: one skipped test saying so).
    """
    spec = target or os.environ.get(TARGET_VARIABLE)
    if not spec:
        return pytest.mark.parametrize(
            "check",
            [pytest.param(None, marks=pytest.mark.skip(reason=f"set {TARGET_VARIABLE}=module:attribute"))],
            ids=["no-target"],
        )
    examples = max_examples or PROFILES[profile]
    cases = [ConformanceCheck(spec, check, examples, timeout) for check in CHECKS]
    return pytest.mark.parametrize("check", cases, ids=[c.check.id for c in cases])
